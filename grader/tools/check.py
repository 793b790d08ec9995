"""What a student runs before submitting: the public checks of their own notebook.

Same isolated executor as grading, but with a public-only plan: hidden inputs never reach
the student's notebook process, and hidden checks are neither run nor named. All public
checks passing says exactly that, and no more ("hidden checks run at grading").
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.results import SubmissionResult

ALL_PASSED = "public checks passed; hidden checks run at grading"


@dataclass
class CheckReport:
    """The outcome of ``check``: the public checks' results and a text for the student."""

    result: SubmissionResult
    text: str

    @property
    def passed(self) -> bool:
        return self.result.problem is None and all(c.passed for c in self.result.checks)


def assignment_of(notebook: Path) -> str:
    """The assignment a notebook belongs to, from the metadata the released notebook carries."""
    try:
        metadata = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
        return str(metadata["grader"]["assignment"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GraderError(f"cannot tell which assignment {notebook.name} is for; "
                          "give it with --assignment NAME") from exc


def check(notebook: str | Path, assignment: str | None = None, sandbox: str = "auto",
          show: bool = True) -> CheckReport:
    """Run the public checks of ``notebook`` (save it first) and print what passed."""
    from grader.grading import GradeOptions, grade
    from grader.scoring.scorer import Selection
    from grader.spec import load_assignment

    path = Path(notebook)
    spec = load_assignment(assignment or assignment_of(path))
    with tempfile.TemporaryDirectory(prefix="grader-check-") as out:
        options = GradeOptions(out=Path(out), jobs=1, selection=Selection(public_only=True),
                               sandbox=sandbox)
        (result,) = grade(spec, [path], options).results
    report = CheckReport(result, render(result))
    if show:
        print(report.text)
    return report


def render(result: SubmissionResult) -> str:
    """Per question, each public check with ✓ or ✗ and the failure message."""
    if result.problem:
        return f"Could not check {Path(result.path).name}: {result.problem}"
    lines = []
    for question in result.questions:
        lines.append(f"{question.title}: {question.earned:.3g}/{question.possible:g} "
                     "(public checks)")
        for check_result in (c for c in result.checks if c.check.question == question.id):
            mark = "✓" if check_result.passed else "✗"
            lines.append(f"  {mark} {check_result.check.name}")
            if not check_result.passed and check_result.message:
                lines += [f"      {line}" for line in check_result.message.splitlines()[:6]]
    lines += [f"Note: {note}" for note in result.notes[:5]]
    failed = sum(not c.passed for c in result.checks)
    lines.append(ALL_PASSED if not failed else
                 f"{failed} of {len(result.checks)} public checks failed")
    return "\n".join(lines)
