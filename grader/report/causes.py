"""Why each question lost points, in a few lines a student reads first.

The checks of a question often fail for one reason: a flipped kernel fails every hidden case,
a forbidden API or a missing function gives every check the same message. Here the failing
checks of a question are folded by cause (the same message, or the same message but for
its numbers and the call it names), so each cause is one line, its checks one click away;
a known mistake (``grader.report.mistakes``) comes first; a name left undefined or still the
template's stub points at the cell that should define it, named by its first line
(``grader.tools.standing``). Everything here reads plain data; nothing may fail a report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from grader.observations import Observations, ProbeRecord
from grader.plan.harness import ProbePlan
from grader.report.mistakes import FoundMistake, declared, detect
from grader.results import CheckResult, SubmissionResult
from grader.spec import Assignment

#: A check message's leading call ("conv2d(6x6 float64 array, 3x3 float64 array): ").
_CALL = re.compile(r"^[\w.]+\([^\n]*?\): ")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")
_UNDEFINED = re.compile(r"^(\w+) is not defined \(")
_STUB = re.compile(r"^(\w+) is not implemented yet")
#: The scorer's message for a question that used a forbidden API.
_FORBIDDEN = re.compile(r"^no credit: .+? uses a forbidden API \((.*)\): (.*)$")
#: How much of a message a cause's line shows.
LINE_CHARS = 220


@dataclass
class Cause:
    """One reason a question lost points: a line for the student, the checks it covers."""

    text: str
    checks: list[CheckResult] = field(default_factory=list)
    kind: str = "failure"  # "mistake" | "name" | "failure"


@dataclass
class QuestionCauses:
    """A question's points and the causes of the points it lost (none: it lost none)."""

    id: str
    title: str
    earned: float
    possible: float
    checks: list[CheckResult]
    causes: list[Cause] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.checks)

    def headline(self) -> str:
        """The question's one line: its first cause, or that every check passed."""
        if self.causes:
            return self.causes[0].text
        if not self.checks:
            return "no checks ran"
        return f"all {len(self.checks)} checks pass" if len(self.checks) > 1 else "its check passes"


def question_causes(result: SubmissionResult, assignment: Assignment | None = None,
                    observations: Observations | None = None, probes: ProbePlan | None = None,
                    reference: Mapping[str, ProbeRecord] | None = None) -> list[QuestionCauses]:
    """Every question of ``result`` with the causes of its lost points, cause first."""
    found = _mistakes(assignment, observations, probes, reference or {})
    issues = _name_issues(result, assignment, observations, probes)
    questions = []
    for question in result.questions:
        checks = [c for c in result.checks if c.check.question == question.id]
        entry = QuestionCauses(question.id, question.title, question.earned, question.possible, checks)
        failing = [c for c in checks if not c.passed]
        if failing:
            entry.causes = [Cause(_mistake_line(m), [], "mistake") for m in found
                            if m.mistake.question == question.id]
            entry.causes += fold(failing, issues)
        questions.append(entry)
    return questions


def fold(failing: Sequence[CheckResult], issues: Mapping[str, str] | None = None) -> list[Cause]:
    """The failing checks folded by cause, the cause that covers most checks first."""
    groups: dict[str, list[CheckResult]] = {}
    for check in failing:
        groups.setdefault(cause_key(check.message), []).append(check)
    causes = [_cause(checks, issues or {}) for checks in groups.values()]
    return sorted(causes, key=lambda c: (c.kind != "name", -len(c.checks)))


def cause_key(message: str) -> str:
    """What checks failing for the same cause share: the message without the call it names
    and without its numbers."""
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    return _NUMBER.sub("#", _CALL.sub("", first))


def _cause(checks: list[CheckResult], issues: Mapping[str, str]) -> Cause:
    first = checks[0].message.strip().splitlines()[0] if checks[0].message.strip() else "failed"
    named = _UNDEFINED.match(first) or _STUB.match(first)
    if named and named.group(1) in issues:
        text = issues[named.group(1)] + _count(checks, " (%s)")
        return Cause(text, checks, "name")
    if all(c.message.strip().splitlines()[0] == first for c in checks if c.message.strip()):
        return Cause(_short(_forbidden(first) or first) + _count(checks, " (%s)"), checks)
    return Cause(f"{_count(checks, '%s')} fail the same way; the first: {_short(first)}", checks)


def _forbidden(message: str) -> str | None:
    """A forbidden API's message in a line: the use the student can find (a line of a cell)
    first, how many more, and why it is forbidden."""
    found = _FORBIDDEN.match(message)
    if not found:
        return None
    uses = sorted(found.group(1).split("; "), key=lambda use: "code cell" not in use)
    more = f" and {len(uses) - 1} more use{'s' if len(uses) > 2 else ''}" if len(uses) > 1 else ""
    return f"no credit: it uses a forbidden API, {uses[0]}{more}: {found.group(2)}"


def _count(checks: Sequence[CheckResult], template: str) -> str:
    """"13 hidden checks", "2 checks"; nothing for a single check."""
    if len(checks) == 1:
        return ""
    public = sum(c.check.public for c in checks)
    scope = "public " if public == len(checks) else "hidden " if public == 0 else ""
    return template % f"{len(checks)} {scope}checks"


def _short(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS - 1] + "…"


def _mistake_line(found: FoundMistake) -> str:
    cases = "case" if found.cases == 1 else "cases"
    return f"Known mistake: {found.mistake.says} (your answers match it on {found.cases} {cases})"


def _mistakes(assignment: Assignment | None, observations: Observations | None,
              probes: ProbePlan | None, reference: Mapping[str, ProbeRecord]) -> list[FoundMistake]:
    if assignment is None or observations is None or probes is None:
        return []
    try:
        return detect(declared(assignment.folder), probes, observations.probes, reference)
    except Exception:  # noqa: BLE001 - instructor code; a failing mistakes.py costs its sentences
        return []


def _name_issues(result: SubmissionResult, assignment: Assignment | None,
                 observations: Observations | None, probes: ProbePlan | None) -> dict[str, str]:
    """For each name a question asks for that is undefined or a stub: why, naming the cell."""
    from grader.tools.standing import Standing

    cells = notebook_cells(result, assignment)
    if assignment is None or observations is None or not cells:
        return {}
    names = {p.key: p.name for p in (probes.probes if probes else []) if p.kind != "custom"}
    try:
        standing = Standing(cells, observations, names)
        wanted = [name for question in assignment.questions for name in question.names]
        return {issue.name: issue.text for issue in standing.issues(wanted)}
    except Exception:  # noqa: BLE001 - a notebook that fooled the reading costs the pointer
        return {}


def notebook_cells(result: SubmissionResult, assignment: Assignment | None) -> list:
    """The submission's code cells (read as text, never run), or none if it cannot be read."""
    from pathlib import Path

    from grader.spec.notebook import read_code_cells

    limit = int((assignment.limits.max_notebook_mb if assignment else 20) * 1024 * 1024)
    try:
        return read_code_cells(Path(result.path), limit)
    except Exception:  # noqa: BLE001 - the grade says why already
        return []
