"""Scoring: run an assignment's checks (pytest) against namespace proxies.

The same pytest run serves two purposes. With live proxies on the reference it is the
*plan* (which probes to send, what the reference answers). With replay proxies on a
submission's observations it is the *score*: a pure function of observations and spec,
computed in the grader's process, so nothing the student's code does can touch it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.analysis.findings import AST_LOCK
from grader.analysis.taint import and_referrers
from grader.authoring import ProbeMissing, StudentError, Undefined, take_attachments, take_notes
from grader.errors import SpecError
from grader.observations import Observations
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult
from grader.scoring.proxy import ReplayNamespace
from grader.spec import Assignment

EMPTY_INI = Path(__file__).with_name("checks.ini")


def derive_seed(seed: int, check_id: str) -> int:
    """Each check's rng seed: fresh per run seed, independent of the order checks run in."""
    digest = hashlib.sha256(f"{seed}:{check_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass
class Selection:
    """Which checks to run: all, some questions, and/or only the public ones."""

    questions: tuple[str, ...] = ()
    public_only: bool = False

    def keeps(self, info: CheckInfo) -> bool:
        if self.public_only and not info.public:
            return False
        return not self.questions or info.question in self.questions


@dataclass
class CheckRun:
    """What one pytest run of the checks produced."""

    checks: list[CheckInfo] = field(default_factory=list)
    outcomes: dict[str, tuple[bool, str]] = field(default_factory=dict)
    undefined: set[str] = field(default_factory=set)  # checks that failed on an undefined name
    problems: list[str] = field(default_factory=list)
    attachments: dict[str, bytes] = field(default_factory=dict)
    attached: dict[str, list[str]] = field(default_factory=dict)  # check id -> its attachments


class ChecksPlugin:
    """pytest plugin providing the fixtures and collecting outcomes as data."""

    def __init__(self, student: Any, reference: Any, seed: int, selection: Selection) -> None:
        self._student, self._reference = student, reference
        self._seed, self._selection = seed, selection
        self.run = CheckRun()
        self.items: list[Any] = []  # the collected checks, kept for scoring many submissions

    def start(self, student: Any, reference: Any) -> None:
        """Score another submission in the same session: new proxies, new outcomes."""
        self._student, self._reference = student, reference
        self.run = CheckRun(checks=self.run.checks, problems=self.run.problems)
        take_notes()
        take_attachments()

    @pytest.fixture
    def student(self) -> Any:
        return self._student

    @pytest.fixture
    def reference(self) -> Any:
        return self._reference

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> np.random.Generator:
        return np.random.default_rng(derive_seed(self._seed, request.node.nodeid))

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list) -> None:
        cases = Counter(_function_id(item) for item in items)
        kept = []
        for item in items:
            info = self._info(item, cases[_function_id(item)])
            if info is not None and self._selection.keeps(info):
                self.run.checks.append(info)
                kept.append(item)
        items[:] = kept
        self.items = kept

    def _info(self, item: Any, cases: int) -> CheckInfo | None:
        marker = item.get_closest_marker("grader")
        if marker is None:
            self.run.problems.append(f"{item.nodeid} has no @check(question=..., points=...)")
            return None
        doc = (item.function.__doc__ or item.originalname).strip().splitlines()[0]
        case = f" [{item.callspec.id}]" if hasattr(item, "callspec") else ""
        return CheckInfo(
            id=item.nodeid, name=doc + case, question=marker.kwargs["question"],
            points=marker.kwargs["points"] / cases, public=marker.kwargs["public"],
        )

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.run.problems.append(f"could not load the checks: {report.longreprtext[-2000:]}")

    def pytest_runtest_setup(self, item: Any) -> None:
        take_notes()  # notes belong to the check that makes them

    def pytest_runtest_teardown(self, item: Any) -> None:
        made = take_attachments()
        self.run.attachments.update(made)
        if made:
            self.run.attached[item.nodeid] = list(made)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: Any, call: Any):  # noqa: ANN201 - hook wrapper
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and report.failed):
            passed = report.passed
            lines = take_notes() + ([] if passed else [_failure_message(call.excinfo)])
            self.run.outcomes[item.nodeid] = (passed, "\n".join(lines))
            if not passed and call.excinfo is not None and isinstance(call.excinfo.value, Undefined):
                self.run.undefined.add(item.nodeid)


def _function_id(item: Any) -> str:
    return f"{item.path}::{item.originalname}"


def _failure_message(excinfo: Any) -> str:
    if excinfo is None:
        return "failed"
    error = excinfo.value
    if isinstance(error, (StudentError, AssertionError)):
        # Plain asserts (no rewriting) carry only the check's own message, so a bare
        # ``assert got == expected`` cannot print a hidden expected value.
        return str(error).strip() or "the result is not what this check expects"
    if isinstance(error, ProbeMissing):
        return f"grader problem (please tell your instructor): {error}"
    return f"{type(error).__name__} while checking your result: {error}"


def _pytest_arguments(assignment: Assignment) -> list[str]:
    return [
        str(assignment.checks), "-c", str(EMPTY_INI), "--rootdir", str(assignment.folder),
        "--import-mode=importlib", "-o", f"python_files={assignment.checks.name}",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:warnings",
        "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:faulthandler",
        "-p", "no:legacypath", "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin",
        "-q", "--no-header", "--capture=no", "--tb=no", "--assert=plain",
        "-o", "console_output_style=classic",
    ]


def run_checks(assignment: Assignment, student: Any, reference: Any, seed: int,
               selection: Selection | None = None) -> CheckRun:
    """Run the checks module once with the given proxies; outcomes come back as data."""
    plugin = ChecksPlugin(student, reference, seed, selection or Selection())
    args = _pytest_arguments(assignment)
    # importlib mode caches the module by its name: another assignment's checks.py (graded
    # earlier in this process) must not stand in for this one
    sys.modules.pop(assignment.checks.stem, None)
    take_attachments()  # nothing left over from another run
    sink = io.StringIO()
    # pytest reads the working folder; the assignment's is one that certainly exists
    with contextlib.chdir(assignment.folder), contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        code = pytest.main(args, plugins=[plugin])
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        plugin.run.problems.append(f"pytest could not run the checks:\n{sink.getvalue()[-3000:]}")
    return plugin.run


def collect_checks(assignment: Assignment) -> list[CheckInfo]:
    """Every check of ``assignment`` (hidden ones too) with its question and points, none run:
    what a question is worth at grading, known without running the reference."""
    plugin = ChecksPlugin(None, None, 0, Selection())
    sys.modules.pop(assignment.checks.stem, None)  # see run_checks
    sink = io.StringIO()
    with contextlib.chdir(assignment.folder), contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        code = pytest.main([*_pytest_arguments(assignment), "--collect-only"], plugins=[plugin])
    if plugin.run.problems or code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise SpecError(assignment.name, "; ".join(plugin.run.problems)
                        or f"pytest could not collect the checks:\n{sink.getvalue()[-3000:]}")
    return plugin.run.checks


def score(assignment: Assignment, checks: list[CheckInfo], observations: Observations,
          reference_records: dict, seed: int, path: str = "",
          selection: Selection | None = None) -> SubmissionResult:
    """Grade one submission from its observations (no student code runs here)."""
    selection = selection or Selection()
    run = None
    if not observations.problem:
        run = run_checks(assignment, ReplayNamespace("student", observations.probes),
                         ReplayNamespace("reference", reference_records), seed, selection)
        if run.problems:
            raise SpecError(assignment.name, "; ".join(run.problems))
    return _result_of(assignment, checks, observations, run, path, selection)


class _StreamPlugin(ChecksPlugin):
    """Scores a stream of submissions in one pytest session: the checks module is loaded and
    collected once, then, per submission, every check runs with that submission's proxies
    and everything (fixtures of every scope included) is torn down before the next.

    pytest's own output goes to a sink; the stream and ``on_scored`` (which may show
    progress) run with the process's real stdout and stderr, ``outside``.
    """

    def __init__(self, stream: Iterable[tuple[Any, Observations]], reference: Any,
                 on_scored: Callable[[Any, Observations, CheckRun | None], None], seed: int,
                 selection: Selection, outside: tuple[Any, Any]) -> None:
        super().__init__(None, reference, seed, selection)
        self.stream, self.on_scored, self.outside = iter(stream), on_scored, outside
        self.failure: BaseException | None = None

    @contextlib.contextmanager
    def _outside(self):  # noqa: ANN202 - a context manager
        with contextlib.redirect_stdout(self.outside[0]), contextlib.redirect_stderr(self.outside[1]):
            yield

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> bool:
        if self.run.problems:  # the checks cannot be loaded: score_each says why
            return True
        try:
            while True:
                with self._outside():
                    pair = next(self.stream, None)
                if pair is None:
                    return True
                key, observations = pair
                # the runner's threads analyse notebooks meanwhile: see AST_LOCK
                with AST_LOCK:
                    run = None if observations.problem else self._score(observations)
                    with self._outside():
                        self.on_scored(key, observations, run)
        except BaseException as exc:  # noqa: BLE001 - re-raised by score_each, not by pytest
            self.failure = exc
        return True

    def _score(self, observations: Observations) -> CheckRun:
        started = time.perf_counter()
        self.start(ReplayNamespace("student", observations.probes), self._reference)
        for number, item in enumerate(self.items):
            following = self.items[number + 1] if number + 1 < len(self.items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
        observations.timings["score"] = round(time.perf_counter() - started, 4)
        return self.run


def score_each(assignment: Assignment, checks: list[CheckInfo], reference_records: dict,
               seed: int, stream: Iterable[tuple[Any, Observations]],
               on_result: Callable[[Any, Observations, SubmissionResult], None],
               paths: Callable[[Any], str] = str, selection: Selection | None = None) -> None:
    """Score each ``(key, observations)`` of ``stream`` as it comes, handing every result to
    ``on_result``: ``score`` for many submissions, with the checks loaded once, so the cost
    per submission is running the checks, not starting pytest."""
    selection = selection or Selection()

    def scored(key: Any, observations: Observations, run: CheckRun | None) -> None:
        on_result(key, observations, _result_of(assignment, checks, observations, run,
                                               paths(key), selection))

    sink = io.StringIO()
    plugin = _StreamPlugin(stream, ReplayNamespace("reference", reference_records), scored, seed,
                           selection, (sys.stdout, sys.stderr))
    sys.modules.pop(assignment.checks.stem, None)  # see run_checks
    take_attachments()
    with contextlib.chdir(assignment.folder), contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        code = pytest.main(_pytest_arguments(assignment), plugins=[plugin])
    if plugin.failure is not None:
        raise plugin.failure
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise SpecError(assignment.name, f"pytest could not run the checks:\n{sink.getvalue()[-3000:]}")
    if plugin.run.problems:
        raise SpecError(assignment.name, "; ".join(plugin.run.problems))


def _result_of(assignment: Assignment, checks: list[CheckInfo], observations: Observations,
               run: CheckRun | None, path: str, selection: Selection) -> SubmissionResult:
    result = SubmissionResult(submission=observations.submission, path=path,
                              assignment=assignment.name, timings=dict(observations.timings))
    _note_other_assignment(assignment, observations, result)
    wanted = [c for c in checks if selection.keeps(c)]
    if observations.problem or run is None:
        result.problem = observations.problem
        result.checks = [CheckResult(c, False, f"not graded: {observations.problem}") for c in wanted]
    else:
        result.checks = [_result(c, run.outcomes) for c in wanted]
        result.attachments = dict(run.attachments)
        _void_forbidden(assignment, observations, result)
        result.notes += (feedback_notes(observations) + _grade_one_alternative(assignment, run, result)
                         + _drop_absent_optional(assignment, run, result))
        result.interrupted = interruption(observations)
    result.questions = question_scores(assignment, result.checks)
    return result


def _drop_absent_optional(assignment: Assignment, run: CheckRun,
                          result: SubmissionResult) -> list[str]:
    """Optional questions (extras beyond the lab) count only where the notebook attempts
    them: when every check of one failed because its name is undefined, it leaves the result
    and the maximum score, with a note saying so."""
    notes = []
    for question in assignment.questions:
        if question.optional and _checked(result, question.id) and \
                not _attempted(run, result, (question.id,)):
            _drop(run, result, (question.id,))
            names = ", ".join(question.names) or question.id
            notes.append(f"Optional question not graded: {question.title} (the notebook does not "
                         f"define {names}).")
    return notes


def _grade_one_alternative(assignment: Assignment, run: CheckRun,
                           result: SubmissionResult) -> list[str]:
    """Of each set of alternative question groups (editions of a lab), only one counts: the
    attempted group (some check found its names defined, as for an optional question) that
    earns the most, the first listed on a tie, or the default (first) group when none is
    attempted. The others leave the result and the maximum score, with a note."""
    notes = []
    for alternatives in assignment.alternatives:
        attempted = [g for g in alternatives.groups if _attempted(run, result, g.questions)]
        graded = max(attempted, key=lambda g: _earned(result, g.questions)) if attempted \
            else alternatives.default
        for group in alternatives.groups:
            if group is graded or not any(_checked(result, q) for q in group.questions):
                continue
            _drop(run, result, group.questions)
            titles = "; ".join(assignment.question(q).title for q in group.questions)
            why = ("the default: it attempts none" if not attempted else "the one it attempts"
                   if len(attempted) == 1 else "the one it earns most on")
            notes.append(f"Not graded: {titles} ({alternatives.title}: this notebook is graded "
                         f"on {graded.name}, {why}, not on {group.name}).")
    return notes


def _checked(result: SubmissionResult, question: str) -> bool:
    return any(c.check.question == question for c in result.checks)


def _attempted(run: CheckRun, result: SubmissionResult, questions: Iterable[str]) -> bool:
    """Whether some check of ``questions`` found the names it probes defined."""
    wanted = set(questions)
    return any(c.check.id not in run.undefined for c in result.checks if c.check.question in wanted)


def _earned(result: SubmissionResult, questions: Iterable[str]) -> float:
    wanted = set(questions)
    return sum(c.earned for c in result.checks if c.check.question in wanted)


def _drop(run: CheckRun, result: SubmissionResult, questions: Iterable[str]) -> None:
    """Leave ``questions`` out of the result: their checks and the files their checks attached."""
    wanted = set(questions)
    for check in result.checks:
        if check.check.question in wanted:
            for name in run.attached.get(check.check.id, []):
                result.attachments.pop(name, None)
    result.checks = [c for c in result.checks if c.check.question not in wanted]


def _result(info: CheckInfo, outcomes: dict[str, tuple[bool, str]]) -> CheckResult:
    passed, message = outcomes.get(info.id, (False, "check did not run"))
    return CheckResult(info, passed, message)


def _void_forbidden(assignment: Assignment, observations: Observations,
                    result: SubmissionResult) -> None:
    """A question whose graded names reach a forbidden API earns nothing, with the reason."""
    reached = _reached(observations)
    for check in result.checks:
        question = assignment.question(check.check.question)
        uses = sorted({u for name in question.names for u in reached.get(name, [])})
        if uses:
            check.passed = False
            what = "uses a forbidden API" if not any("could not be checked" in u for u in uses) \
                else "reaches a forbidden API or code that could not be checked for one"
            check.message = (f"no credit: {question.title} {what} "
                             f"({'; '.join(uses)}): {assignment.forbidden.reason}")


def _reached(observations: Observations) -> dict[str, list[str]]:
    """Names that reach a forbidden API: found statically, or loaded at run time. A load at a
    cell's top level that the static analysis saw in that cell was charged by it already
    (an ``import tensorflow`` nothing graded uses voids nothing)."""
    reached = {name: list(uses) for name, uses in observations.tainted.items()}
    for load in observations.loaded:
        seen = load.cell is not None and not load.functions and not load.probe and any(
            use.cell == load.cell and (load.module + ".").startswith(use.api + ".")
            or use.cell == load.cell and use.api.startswith(load.module + ".")
            for use in observations.forbidden)
        if not seen:
            for name in and_referrers(load.charged(), observations.referrers):
                reached.setdefault(name, []).append(load.describe())
    return reached


def _note_other_assignment(assignment: Assignment, observations: Observations,
                           result: SubmissionResult) -> None:
    """Say first when the notebook is stamped for another assignment: it is graded as this
    one all the same (the instructor chose), but its score then means little."""
    if observations.stamp and observations.stamp != assignment.name:
        result.notes.insert(0, f"This notebook is for the assignment {observations.stamp!r} (its "
                               f"metadata says so), but it was graded as {assignment.name!r}: "
                               f"submit the notebook of {assignment.name!r}.")


def feedback_notes(observations: Observations) -> list[str]:
    """What a student needs to know beyond the checks: failing cells, skipped shell lines."""
    notes = []
    if observations.ending_kind != "completed":
        notes.append(f"The notebook did not finish: {observations.ending}.")
    for cell in observations.cells:
        notes.extend(_cell_notes(cell))
    for use in observations.forbidden:
        notes.append(f"Forbidden API used: {use.describe()}.")
    labels = {"load": "Forbidden module loaded", "call": "Forbidden module used",
              "unchecked": "Forbidden APIs not checked"}
    for load in observations.loaded:
        notes.append(f"{labels.get(load.kind, labels['load'])}: {load.describe()}.")
    return notes


def interruption(observations: Observations) -> str:
    """The note that says the run was cut short: the notebook did not finish, or a cell
    crashed its process or was stopped at its time limit ("" if none did)."""
    if observations.ending_kind != "completed":
        return f"The notebook did not finish: {observations.ending}."
    for cell in observations.cells:
        if cell.error and cell.status in ("crashed", "timeout"):
            return list(_cell_notes(cell))[-1]  # its error's note comes last
    return ""


def _cell_notes(cell: Any) -> Iterable[str]:
    label = f"Code cell {cell.index + 1}"
    for command in cell.shell:
        yield f"{label}: `{command}` was not executed (the grader runs no shell commands)."
    for magic in cell.ignored:
        yield f"{label}: `{magic}` was ignored (it has no effect when grading)."
    if cell.error and cell.status == "syntax-error":
        yield f"{label} has a syntax error, so nothing in it was defined: " \
              f"{cell.error['message']}\n{cell.error['traceback']}"
    elif cell.error and cell.status == "crashed":
        yield f"{label} crashed the notebook's process ({cell.error['message']})."
    elif cell.error and cell.status == "timeout":
        yield f"{label} was stopped: {cell.error['message']}."
    elif cell.error and cell.error.get("type") != "NotImplementedError":
        yield f"{label} raised {cell.error['type']}: {cell.error['message']}"


def question_scores(assignment: Assignment, checks: list[CheckResult]) -> list[QuestionScore]:
    scores = []
    for question in assignment.questions:
        mine = [c for c in checks if c.check.question == question.id]
        if mine:
            scores.append(QuestionScore(
                question.id, question.title,
                round(sum(c.earned for c in mine), 4), round(sum(c.check.points for c in mine), 4),
            ))
    return scores
