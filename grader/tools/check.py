"""What a student runs before submitting: the public checks of their own notebook.

Same isolated executor as grading, but with a public-only plan: hidden inputs never reach
the student's notebook process, and hidden checks are neither run nor named. All public
checks passing says exactly that, and no more ("hidden checks run at grading").

Where the assignment comes from (``resolve``): the student kit given (``--kit``), else
``ASSIGNMENT.grader-kit.zip`` for the assignment the notebook is stamped with, looked for
in the notebook's folder, the current folder, then ``$GRADER_KIT_PATH``'s folders; else, on
an instructor's machine, the assignment itself (its public plan made from the reference).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError, KitError
from grader.results import QuestionOutline, SubmissionResult
from grader.spec import Assignment

ALL_PASSED = "public checks passed; hidden checks run at grading"


@dataclass
class CheckReport:
    """The outcome of ``check``: the public checks' results and a text for the student."""

    result: SubmissionResult
    text: str
    #: every question of the assignment: its points at grading and those its public checks test
    questions: list[QuestionOutline] = field(default_factory=list)
    kit: Path | None = None  # the student kit checked with (None: the assignment's reference)

    @property
    def passed(self) -> bool:
        return self.result.problem is None and all(c.passed for c in self.result.checks)


def assignment_of(notebook: Path) -> str:
    """The assignment a notebook belongs to, from the metadata the released notebook carries."""
    try:
        metadata = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
        return str(metadata["grader"]["assignment"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GraderError(f"cannot tell which assignment {notebook.name} is for: give its "
                          "student kit with --kit FILE, or the assignment with --assignment "
                          "NAME") from exc


def check(notebook: str | Path, assignment: str | None = None, sandbox: str = "auto",
          show: bool = True, kit: Path | None = None) -> CheckReport:
    """Run the public checks of ``notebook`` (save it first) and print what passed."""
    from grader.grading import GradeOptions, grade
    from grader.scoring.scorer import Selection

    path = Path(notebook)
    with tempfile.TemporaryDirectory(prefix="grader-check-") as work, \
            resolve(path, assignment, kit, Path(work)) as source:
        options = GradeOptions(out=Path(work) / "out", jobs=1, seed=source.seed,
                               selection=Selection(public_only=True), sandbox=sandbox)
        (result,) = grade(source.assignment, [path], options).results
    result.notes += source.notes
    report = CheckReport(result, render(result), source.questions, source.kit)
    if show:
        print(report.text)
    return report


@dataclass
class CheckSource:
    """Where a check's assignment, public plan and question outline come from."""

    assignment: Assignment
    questions: list[QuestionOutline]
    seed: int | None = None
    kit: Path | None = None
    notes: list[str] = field(default_factory=list)  # for the student (a kit of another release)


@contextmanager
def resolve(notebook: Path, assignment: str | None, kit: Path | None,
            work: Path) -> Iterator[CheckSource]:
    """The kit given, else the kit found for the notebook's assignment (its public plan
    placed where grading finds it, under ``work/out/.plan``), else the assignment itself."""
    from grader.spec.release import stamp_of
    from grader.tools.studentkit import StudentKit, find_kit, shipped_plans_only

    stamp = stamp_of(notebook)
    wanted = assignment or stamp.get("assignment")
    found = kit if kit is not None else find_kit(notebook, wanted)
    if found is None:
        yield _from_assignment(notebook, assignment)
        return
    opened = StudentKit.open(found)
    if wanted and wanted != opened.assignment:
        raise KitError(f"{notebook.name} is for {wanted!r}, but the kit {found.name} is for "
                       f"{opened.assignment!r}: check it with {wanted}'s kit")
    spec, plan = opened.unpack(work / "kit")
    (work / "out" / ".plan").mkdir(parents=True)
    plan.rename(work / "out" / ".plan" / opened.manifest["plan"])
    notes = []
    if stamp.get("release") and opened.release and stamp["release"] != opened.release:
        notes.append(f"This notebook was released from another version of {opened.assignment} "
                     f"than the kit {found.name}: the checks may ask for what your notebook does "
                     "not have; get the current notebook or kit from your course.")
    with shipped_plans_only():
        yield CheckSource(spec, opened.questions, opened.seed, found, notes)


def _from_assignment(notebook: Path, assignment: str | None) -> CheckSource:
    """An instructor's machine: the assignment with its reference (its public plan is made
    from it); every check collected, none run, for the questions' points."""
    from grader.errors import SpecError, UnknownAssignmentError
    from grader.results import outline
    from grader.scoring.scorer import collect_checks
    from grader.spec import load_assignment
    from grader.tools.studentkit import kit_name, kit_search_path

    name = assignment or assignment_of(notebook)
    try:
        spec = load_assignment(name)
    except (UnknownAssignmentError, SpecError) as exc:
        folders = ", ".join(str(f) for f in kit_search_path(notebook))
        raise KitError(f"no student kit {kit_name(name)} in {folders} (nor $GRADER_KIT_PATH), and "
                       f"the assignment cannot be used here ({exc}): put the kit your course "
                       "gives beside the notebook, or give it with --kit FILE") from exc
    return CheckSource(spec, outline(spec.questions, collect_checks(spec)))


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
