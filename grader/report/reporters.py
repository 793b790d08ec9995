"""The seam for what a run writes about all its submissions at once: each output format is a
``Reporter``, and ``grade``, ``rescore`` and ``merge`` hand their results to the same ones.

Built in: ``gradebook`` (``gradebook.csv``, always), ``junit`` (JUnit XML, ``--junit FILE``)
and ``github`` (on GitHub Actions: the job summary and annotations). Another format is a
class with a ``write`` method, registered under a name with ``register``; ``get`` finds it
by that name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grader.errors import GraderError
from grader.files import atomic_write
from grader.report.formats import github_annotations, gradebook_csv, junit_xml, markdown_summary
from grader.results import SubmissionResult

GRADEBOOK_FILE = "gradebook.csv"


@dataclass(frozen=True)
class RunInfo:
    """The run a reporter reports on: its output folder and the assignment's title."""

    out: Path
    title: str


class Reporter(Protocol):
    def write(self, results: Sequence[SubmissionResult], run: RunInfo) -> None:
        """Write (or print) this format for the run's results."""
        ...


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


def register(name: str, make: Callable[..., Reporter]) -> None:
    """Make a reporter known by ``name`` (``make(*args)`` builds one)."""
    _REGISTRY[name] = make


def get(name: str, *args: object) -> Reporter:
    """The reporter registered as ``name``, built with ``args``."""
    try:
        make = _REGISTRY[name]
    except KeyError:
        raise GraderError(f"no reporter {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None
    return make(*args)


def report_run(results: Sequence[SubmissionResult], run: RunInfo,
               extra: Sequence[Reporter] = ()) -> None:
    """The gradebook, then every ``extra`` reporter (JUnit, GitHub...) the caller asked for."""
    for reporter in (get("gradebook"), *extra):
        reporter.write(results, run)
