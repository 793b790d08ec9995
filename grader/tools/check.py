"""What a student runs before submitting: where their notebook stands, question by question.

Same isolated executor as grading, but with a public-only plan: hidden inputs never reach
the student's notebook process, and hidden checks are neither run nor named. Every question
is listed with its points: its public checks passed or failed (a pass claims no more than
that: hidden checks decide at grading), or "checked only at grading"; and, from the same run,
the names it asks for that are still undefined, still the template's stub, or lost to an error
in the cell that defines them (``grader.tools.standing``).

The exit status of ``grader check`` is ``exit_status``: 0 when every public check that ran
passed, 1 when one failed, 2 when the notebook could not be checked at all.

Where the assignment comes from (``resolve``): the student kit given (``--kit``), else
``ASSIGNMENT.grader-kit.zip`` for the assignment the notebook is stamped with, looked for
in the notebook's folder, the current folder, then ``$GRADER_KIT_PATH``'s folders; else, on
an instructor's machine, the assignment itself (its public plan made from the reference).
"""

from __future__ import annotations

import contextlib
import html
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import GraderError, KitError, UnknownQuestionError
from grader.results import CheckInfo, CheckResult, SubmissionResult

if TYPE_CHECKING:
    from grader.spec import Assignment
    from grader.spec.notebook import CodeCell
    from grader.tools.standing import NameIssue, Standing

#: Exit statuses of ``grader check``.
EXIT_PASSED, EXIT_FAILED, EXIT_NOT_CHECKED = 0, 1, 2
HIDDEN = "hidden checks decide at grading"
#: What is read of a file before it is known to be a notebook (grading applies its own limit).
MAX_READ_BYTES = 512 * 2**20
MESSAGE_LINES, MESSAGE_CHARS, NOTES = 4, 300, 8


@dataclass(frozen=True)
class QuestionInfo:
    """A question as a student's check knows it: its points and whether it has public checks."""

    id: str
    title: str
    points: float
    public: bool  # some of its checks are public (run by ``grader check``)
    names: tuple[str, ...] = ()
    optional: bool = False


@dataclass
class QuestionStanding:
    """One question of a checked notebook: its public checks' results, what is wrong with
    its names."""

    question: QuestionInfo
    checks: list[CheckResult] = field(default_factory=list)
    issues: list[NameIssue] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(not c.passed for c in self.checks)

    def summary(self) -> str:
        """``Title: ...`` as the check's first line for this question says it."""
        points = _points(self.question.points)
        title = self.question.title + (" (optional)" if self.question.optional else "")
        if not self.checks:
            return f"{title}: checked only at grading ({points})"
        if self.failed:
            return f"{title}: {self.failed} of {len(self.checks)} public checks failed ({points})"
        return f"{title}: public checks passed, {HIDDEN} ({points})"


@dataclass
class CheckReport:
    """The outcome of a student's check: every question's standing, and the run's notes."""

    assignment: str
    notebook: str  # the notebook's file name
    questions: list[QuestionStanding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # why the notebook could not be checked at all
    result: SubmissionResult | None = None
    skipped: str = ""  # why nothing was checked (a call inside a notebook being graded)
    kit: Path | None = None  # the student kit checked with (None: the assignment's reference)

    @property
    def checks(self) -> list[CheckResult]:
        return [c for q in self.questions for c in q.checks]

    @property
    def passed(self) -> bool:
        """Every public check that ran passed (and the notebook could be checked)."""
        return self.problem is None and all(c.passed for c in self.checks)

    @property
    def exit_status(self) -> int:
        if self.problem is not None:
            return EXIT_NOT_CHECKED
        return EXIT_PASSED if self.passed else EXIT_FAILED

    @property
    def public_points(self) -> float:
        """The points the public checks earned (what ``--fail-under`` compares)."""
        return round(sum(c.earned for c in self.checks), 4)

    def exit_status_under(self, fail_under: float | None) -> int:
        """``exit_status``, or with ``fail_under``: 1 when the public checks earn less."""
        if fail_under is None or self.problem is not None:
            return self.exit_status
        return EXIT_FAILED if self.public_points < fail_under - 1e-9 else EXIT_PASSED

    @property
    def text(self) -> str:
        return render(self)

    def __repr__(self) -> str:
        if self.skipped:
            return f"<CheckReport: not run ({self.skipped})>"
        if self.problem is not None:
            return f"<CheckReport {self.assignment}: could not check {self.notebook}>"
        passed = sum(c.passed for c in self.checks)
        return f"<CheckReport {self.assignment}: {passed}/{len(self.checks)} public checks passed>"


def skipped(reason: str) -> CheckReport:
    """The report of a check that did not run (``grader.check()`` in a notebook being graded)."""
    return CheckReport(assignment="", notebook="", skipped=reason)


def questions_of(assignment: Assignment, checks: Sequence[CheckInfo]) -> list[QuestionInfo]:
    """Every question of ``assignment``, its points the sum of its ``checks``' (all of them,
    hidden ones included), and whether any of them is public: what a student's check lists."""
    infos = []
    for question in assignment.questions:
        mine = [c for c in checks if c.question == question.id]
        infos.append(QuestionInfo(question.id, question.title, round(sum(c.points for c in mine), 4),
                                  any(c.public for c in mine), tuple(question.names),
                                  question.optional))
    return infos


def assignment_questions(assignment: Assignment) -> list[QuestionInfo]:
    """The questions of an assignment whose checks are on this machine (a grader's clone)."""
    from grader.checks import collect_checks

    return questions_of(assignment, collect_checks(assignment))


def assignment_of(notebook: Path) -> str:
    """The assignment a notebook belongs to, from the metadata the released notebook carries."""
    try:
        metadata = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
        return str(metadata["grader"]["assignment"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GraderError(f"cannot tell which assignment {notebook.name} is for: give its "
                          "student kit with --kit FILE, or the assignment with --assignment "
                          "NAME") from exc


def read_notebook(path: Path) -> list[CodeCell]:
    """The notebook's code cells, or a NotebookError saying why ``path`` is not a notebook."""
    from grader.errors import NotebookError
    from grader.spec.notebook import parse_code_cells, read_capped

    try:
        return parse_code_cells(read_capped(path, MAX_READ_BYTES), path.name)
    except NotebookError as exc:
        if path.suffix == ".ipynb":
            raise
        raise NotebookError(f"{path.name} is not a Jupyter notebook (a .ipynb file): {exc}") from exc


def selected(questions: Sequence[QuestionInfo], ids: Sequence[str], assignment: str) -> list[QuestionInfo]:
    """The questions ``ids`` names (all when none), or an error listing the valid ids."""
    known = [q.id for q in questions]
    for question in ids:
        if question not in known:
            raise UnknownQuestionError(assignment, question, known)
    return [q for q in questions if not ids or q.id in ids]


def check(notebook: str | Path, assignment: str | None = None, sandbox: str = "auto",
          show: bool = True, questions: Sequence[str] = (), out: Path | None = None,
          kit: Path | None = None) -> CheckReport:
    """Run the public checks of ``notebook`` (as last saved) and say where each question
    stands; only ``questions`` when given. The checks come from ``kit`` or the kit found for
    the notebook (see ``resolve``). The run is kept in ``out`` when given (the next check into
    it reuses its plan, and its observations of a notebook whose code did not change), else in
    a temporary folder."""
    from grader.checks import Selection
    from grader.grading import GradeOptions, grade
    from grader.observations import Observations
    from grader.plan import make_plan
    from grader.tools.standing import Standing

    path = Path(notebook)
    cells = read_notebook(path)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="grader-check-")))
        folder = out or work / "out"
        source = stack.enter_context(resolve(path, assignment, kit, work, folder))
        spec = source.assignment
        wanted = selected(source.questions, questions, spec.name)
        options = GradeOptions(out=folder, jobs=1, sandbox=sandbox, seed=source.seed,
                               selection=Selection(questions=tuple(questions), public_only=True))
        run = grade(spec, [path], options)
        (result,) = run.results
        observations = Observations.load(run.out / "submissions" / result.submission)
        plan = make_plan(spec, run.seed, cache=run.out / ".plan", public_only=True)
    probe_names = {p.key: p.name for p in plan.probes.probes if p.kind != "custom"}
    result.notes += source.notes
    report = report_of(spec.name, wanted, result, Standing(cells, observations, probe_names))
    report.kit = source.kit
    if show:
        print(report.text)
    return report


@dataclass
class CheckSource:
    """Where a check's assignment, public plan and question list come from."""

    assignment: Assignment
    questions: list[QuestionInfo]
    seed: int | None = None
    kit: Path | None = None
    notes: list[str] = field(default_factory=list)  # for the student (a kit of another release)


@contextmanager
def resolve(notebook: Path, assignment: str | None, kit: Path | None, work: Path,
            out: Path) -> Iterator[CheckSource]:
    """The kit given, else the kit found for the notebook's assignment (unpacked into
    ``work``, its public plan placed where grading into ``out`` finds it), else the
    assignment itself."""
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
    target = out / ".plan" / opened.manifest["plan"]
    if not (target / "plan.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(plan), str(target))
    names = {q.id: tuple(q.names) for q in spec.questions}
    infos = [QuestionInfo(q.id, q.title, q.points, q.has_public_checks, names.get(q.id, ()), q.optional)
             for q in opened.questions]
    notes = []
    if stamp.get("release") and opened.release and stamp["release"] != opened.release:
        notes.append(f"This notebook was released from another version of {opened.assignment} "
                     f"than the kit {found.name}: the checks may ask for what your notebook does "
                     "not have; get the current notebook or kit from your course.")
    with shipped_plans_only():
        yield CheckSource(spec, infos, opened.seed, found, notes)


def _from_assignment(notebook: Path, assignment: str | None) -> CheckSource:
    """An instructor's machine: the assignment with its reference (its public plan is made
    from it); every check collected, none run, for the questions' points."""
    from grader.errors import SpecError, UnknownAssignmentError
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
    return CheckSource(spec, assignment_questions(spec))


def report_of(assignment: str, questions: Sequence[QuestionInfo], result: SubmissionResult,
              standing: Standing) -> CheckReport:
    """The report of one checked notebook: each question's public checks and name issues."""
    from grader.tools.standing import with_cell_labels

    report = CheckReport(assignment, Path(result.path).name, result=result, problem=result.problem)
    if result.problem:
        return report
    for question in questions:
        checks = [c for c in result.checks if c.check.question == question.id]
        report.questions.append(QuestionStanding(question, checks, standing.issues(question.names)))
    report.notes = [with_cell_labels(note, standing.cells) for note in result.notes]
    return report


def render(report: CheckReport) -> str:
    """The check as text: a line per question, its checks (✓/✗ with the failure's message)
    and name issues (!), the run's notes, and a closing line that says what it all means."""
    if report.skipped:
        return f"Not checked: {report.skipped}."
    if report.problem is not None:
        return f"Could not check {report.notebook}: {report.problem}"
    lines = [f"{report.assignment}: {report.notebook} (as last saved)"]
    for standing in report.questions:
        lines.append(standing.summary())
        lines += [f"  ! {issue.text}" for issue in standing.issues]
        for result in standing.checks:
            lines.append(f"  {'✓' if result.passed else '✗'} {result.check.name}")
            if not result.passed:
                lines += [f"      {line}" for line in _short(result.message)]
    if report.notes:
        lines.append("Notes:")
        lines += [f"  {_short(note)[0]}" for note in report.notes[:NOTES]]
    lines.append(conclusion(report))
    return "\n".join(lines)


def conclusion(report: CheckReport) -> str:
    """The closing sentence: public checks failed or passed, what is left to grading, which
    questions have names to fix."""
    checks = report.checks
    failed = sum(not c.passed for c in checks)
    if not checks:
        first = "No public check ran"
    elif failed:
        first = f"{failed} of {len(checks)} public checks failed"
    else:
        first = f"All {len(checks)} public checks passed ({HIDDEN})"
    later = [s.question for s in report.questions if not s.checks]
    parts = [first]
    if later:
        parts.append(f"{_count(len(later), 'question')} ({_points(sum(q.points for q in later))}) "
                     "checked only at grading")
    fix = [s.question.title for s in report.questions if s.issues]
    if fix:
        parts.append(f"names to fix in {', '.join(fix)}")
    return "; ".join(parts) + "."


def render_html(report: CheckReport) -> str:
    """The check as an HTML table (a notebook cell's output)."""
    if report.skipped or report.problem is not None:
        return f"<p>{html.escape(render(report))}</p>"
    rows = []
    for standing in report.questions:
        status = standing.summary().partition(": ")[2]
        mark = "✗" if standing.failed or standing.issues else "✓" if standing.checks else "·"
        details = [issue.text for issue in standing.issues] + [
            f"{c.check.name}: {_short(c.message)[0]}" for c in standing.checks if not c.passed]
        rows.append("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            mark, html.escape(standing.question.title), html.escape(status),
            "<br>".join(html.escape(d) for d in details)))
    notes = "".join(f"<li>{html.escape(_short(n)[0])}</li>" for n in report.notes[:NOTES])
    return (f"<p><b>{html.escape(report.assignment)}</b>: {html.escape(report.notebook)} "
            "(as last saved)</p><table><thead><tr><th></th><th>Question</th><th>Status</th>"
            f"<th>To fix</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + f"<p>{html.escape(conclusion(report))}</p>")


def render_markdown(report: CheckReport) -> str:
    """The check as a Markdown table (a CI job's summary). Everything a student wrote (names,
    messages) is shown literally: HTML escaped, pipes and line breaks neutralised."""
    def cell(text: str) -> str:
        return html.escape(" ".join(text.split())).replace("|", "&#124;").replace("`", "&#96;")

    if report.skipped or report.problem is not None:
        return f"## Public checks\n\n{cell(render(report))}\n"
    rows = ["| | Question | Status | To fix |", "|---|---|---|---|"]
    for standing in report.questions:
        status = standing.summary().partition(": ")[2]
        mark = "✗" if standing.failed or standing.issues else "✓" if standing.checks else "·"
        details = [issue.text for issue in standing.issues] + [
            f"{c.check.name}: {_short(c.message)[0]}" for c in standing.checks if not c.passed]
        rows.append(f"| {mark} | {cell(standing.question.title)} | {cell(status)} | "
                    f"{'<br>'.join(cell(d) for d in details)} |")
    total = sum(c.check.points for c in report.checks)
    return "\n".join([f"## Public checks: {cell(report.assignment)}", "",
                      f"{cell(report.notebook)}: the public checks earn {report.public_points:g} of "
                      f"{total:g} points. The grade of record comes from the instructor's run, "
                      "with hidden checks.", "", *rows, "", cell(conclusion(report))]) + "\n"


def _short(message: str) -> list[str]:
    lines = [line[:MESSAGE_CHARS] for line in message.strip().splitlines()[:MESSAGE_LINES]]
    return lines or [""]


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
