"""Scoring: a submission's grade from its observations, by the grading policy.

The checks run in the grader's process (``grader.checks``) with ``student`` answering from a
submission's observations and ``reference`` from the plan: a pure function of observations
and spec, so nothing the student's code does can touch it. What the outcomes are worth is
decided here: points per question, forbidden APIs voiding a question, optional questions and
alternative editions, and the notes a student reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from grader.analysis.findings import AST_LOCK
from grader.analysis.taint import and_referrers
from grader.checks import CheckRun, ChecksSession, ReplayNamespace, Selection
from grader.errors import SpecError
from grader.observations import Observations
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult
from grader.spec import Assignment


def score(assignment: Assignment, checks: list[CheckInfo], observations: Observations,
          reference_records: dict, seed: int, path: str = "",
          selection: Selection | None = None) -> SubmissionResult:
    """Grade one submission from its observations (no student code runs here)."""
    selection = selection or Selection()
    run = None
    if not observations.problem:
        with ChecksSession(assignment, seed, selection) as session:
            run = session.run(ReplayNamespace("student", observations.probes),
                              ReplayNamespace("reference", reference_records))
            if session.problems:
                raise SpecError(assignment.name, "; ".join(session.problems))
    return _result_of(assignment, checks, observations, run, path, selection)


class ScoringSession:
    """Scores submissions one after the other with the checks loaded and collected once, so
    the cost per submission is running the checks, not starting pytest. Its owner (grading)
    calls ``score`` for each submission as it comes, and ``close`` at the end."""

    def __init__(self, assignment: Assignment, checks: list[CheckInfo], reference_records: dict,
                 seed: int, selection: Selection | None = None) -> None:
        self.assignment, self.checks = assignment, checks
        self.selection = selection or Selection()
        self._reference = ReplayNamespace("reference", reference_records)
        self._checks = ChecksSession(assignment, seed, self.selection)
        if self._checks.problems:
            self._checks.close()
            self._raise_problems()

    def _raise_problems(self) -> None:
        if self._checks.problems:
            raise SpecError(self.assignment.name, "; ".join(self._checks.problems))

    def score(self, observations: Observations, path: str = "") -> SubmissionResult:
        """One submission's result; the time the checks took goes into its timings."""
        run = None
        if not observations.problem:
            started = time.perf_counter()
            run = self._checks.run(ReplayNamespace("student", observations.probes), self._reference)
            self._raise_problems()
            observations.timings["score"] = round(time.perf_counter() - started, 4)
        return _result_of(self.assignment, self.checks, observations, run, path, self.selection)

    def close(self) -> None:
        self._checks.close()

    def __enter__(self) -> ScoringSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def score_each(assignment: Assignment, checks: list[CheckInfo], reference_records: dict,
               seed: int, stream: Iterable[tuple[Any, Observations]],
               on_result: Callable[[Any, Observations, SubmissionResult], None],
               paths: Callable[[Any], str] = str, selection: Selection | None = None) -> None:
    """Score each ``(key, observations)`` of ``stream`` as it comes, handing every result to
    ``on_result``, in one ``ScoringSession``. The stream (a runner's threads analysing
    notebooks) may run meanwhile: scoring and ``on_result`` hold ``AST_LOCK``."""
    with ScoringSession(assignment, checks, reference_records, seed, selection) as session:
        for key, observations in stream:
            with AST_LOCK:
                on_result(key, observations, session.score(observations, paths(key)))


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
