"""The seam for what a run writes: each output format is a reporter, and ``grade``,
``rescore`` and ``merge`` hand their results to the same ones.

Two sides. Per submission, as soon as it is scored, every ``SubmissionReporter`` writes into
the submission's folder: ``attachments`` (files the checks attached), ``results``
(``results.json``) and ``feedback`` (``feedback.html`` and ``feedback.md``; not for a student's
public-only ``grader check``). ``merge`` scores nothing: it copies the folders they wrote.
Per run, at the end, every ``Reporter`` writes about all submissions at once: ``gradebook``
(``gradebook.csv``, always), ``junit`` (JUnit XML, ``--junit FILE``) and ``github`` (on
GitHub Actions: the job summary and annotations).

Another format is a class with a ``write`` (per run) or ``write_submission`` (per
submission) method, registered under a name with ``register`` or ``register_submission``;
``get`` and ``get_submission`` find it by that name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from grader.errors import GraderError
from grader.files import atomic_write
from grader.observations import Observations, ProbeRecord
from grader.plan.harness import ProbePlan
from grader.report.causes import question_causes
from grader.report.feedback import write_feedback
from grader.report.formats import github_annotations, gradebook_csv, junit_xml, markdown_summary
from grader.report.results_json import write_results_json
from grader.results import SubmissionResult
from grader.spec import Assignment

GRADEBOOK_FILE = "gradebook.csv"


@dataclass(frozen=True)
class RunInfo:
    """The run a reporter reports on: its output folder and the assignment's title."""

    out: Path
    title: str


@dataclass(frozen=True)
class ScoredSubmission:
    """One scored submission, as its per-submission reporters get it."""

    result: SubmissionResult
    folder: Path  # the submission's own folder in the output folder, made already
    assignment: Assignment
    observations: Observations
    reference: Mapping[str, ProbeRecord]  # the plan's reference records
    public_only: bool = False  # a student's `grader check`: public checks only
    probes: ProbePlan | None = None  # the plan's probes (inputs), for known mistakes


class Reporter(Protocol):
    def write(self, results: Sequence[SubmissionResult], run: RunInfo) -> None:
        """Write (or print) this format for the run's results."""
        ...


class SubmissionReporter(Protocol):
    def write_submission(self, scored: ScoredSubmission) -> None:
        """Write this format for one submission, into its folder."""
        ...


class AttachmentsReporter:
    """The files the checks attached to the result (pictures...), under their own names."""

    def write_submission(self, scored: ScoredSubmission) -> None:
        for name, data in scored.result.attachments.items():
            atomic_write(scored.folder / name, data)


class ResultsJsonReporter:
    """``results.json`` (Gradescope's format), with the assignment's visibility of each check."""

    def write_submission(self, scored: ScoredSubmission) -> None:
        causes = question_causes(scored.result, scored.assignment, scored.observations,
                                 scored.probes, scored.reference)
        write_results_json(scored.result, scored.folder, scored.assignment.visibility(), causes)


class FeedbackReporter:
    """``feedback.html`` and ``feedback.md``; none for a student's `grader check`, which
    writes to a temporary folder."""

    def write_submission(self, scored: ScoredSubmission) -> None:
        if not scored.public_only:
            write_feedback(scored.result, scored.folder, scored.assignment, scored.observations,
                           scored.reference, scored.probes)


class GradebookReporter:
    """``gradebook.csv`` in the output folder: one row per submission."""

    def write(self, results: Sequence[SubmissionResult], run: RunInfo) -> None:
        from grader.execution.intake import read_roster

        atomic_write(run.out / GRADEBOOK_FILE, gradebook_csv(results, read_roster(run.out)).encode())


@dataclass
class JUnitReporter:
    """JUnit XML at ``path``: a suite per submission, a testcase per check."""

    path: Path

    def write(self, results: Sequence[SubmissionResult], run: RunInfo) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(junit_xml(results), encoding="utf-8")


class GitHubReporter:
    """On GitHub Actions: a job summary (``$GITHUB_STEP_SUMMARY``) and an annotation per
    failed check (printed as workflow commands); nothing elsewhere."""

    def write(self, results: Sequence[SubmissionResult], run: RunInfo) -> None:
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown_summary(results, run.title) + "\n")
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for line in github_annotations(results):
                print(line, file=sys.stdout, flush=True)


_REGISTRY: dict[str, Callable[..., Reporter]] = {
    "gradebook": GradebookReporter,
    "junit": JUnitReporter,
    "github": GitHubReporter,
}
#: Every one of these writes for every submission, in this order.
_SUBMISSION_REGISTRY: dict[str, Callable[[], SubmissionReporter]] = {
    "attachments": AttachmentsReporter,
    "results": ResultsJsonReporter,
    "feedback": FeedbackReporter,
}

_Made = TypeVar("_Made")


def register(name: str, make: Callable[..., Reporter]) -> None:
    """Make a reporter known by ``name`` (``make(*args)`` builds one)."""
    _REGISTRY[name] = make


def get(name: str, *args: object) -> Reporter:
    """The reporter registered as ``name``, built with ``args``."""
    return _lookup(_REGISTRY, name, "reporter")(*args)


def register_submission(name: str, make: Callable[[], SubmissionReporter]) -> None:
    """Make a per-submission reporter known by ``name``: from then on every submission scored
    by ``grade`` or ``rescore`` gets its output too."""
    _SUBMISSION_REGISTRY[name] = make


def get_submission(name: str) -> SubmissionReporter:
    """The per-submission reporter registered as ``name``."""
    return _lookup(_SUBMISSION_REGISTRY, name, "per-submission reporter")()


def _lookup(registry: Mapping[str, _Made], name: str, what: str) -> _Made:
    try:
        return registry[name]
    except KeyError:
        raise GraderError(f"no {what} {name!r} (known: {', '.join(sorted(registry))})") from None


def report_submission(scored: ScoredSubmission) -> None:
    """Every registered per-submission reporter writes ``scored`` into its folder."""
    for name in _SUBMISSION_REGISTRY:
        get_submission(name).write_submission(scored)


def report_run(results: Sequence[SubmissionResult], run: RunInfo,
               extra: Sequence[Reporter] = ()) -> None:
    """The gradebook, then every ``extra`` reporter (JUnit, GitHub...) the caller asked for."""
    for reporter in (get("gradebook"), *extra):
        reporter.write(results, run)
