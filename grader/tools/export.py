"""``grader export OUTDIR --to canvas|moodle|csv``: a finished run's grades as the import file
an LMS accepts, and, for Moodle, its feedback pages as the zip Moodle's "upload multiple
feedback files in a zip" takes.

Reads only what the run wrote: each ``submissions/<name>/results.json`` (the score), its
``feedback.html``, and ``roster.json`` (who each submission is, when the run collected an LMS
download: ``grader.execution.intake``). Without a roster, a submission's name stands for the
student's id (Canvas and Moodle then refuse names that are not their numeric ids, with a
message saying so). The formats themselves are ``grader.tools.lms.grades``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.execution.intake import read_roster
from grader.report.results_json import read_results_json
from grader.report.run_json import read_run_json
from grader.tools.lms.grades import (
    CANVAS_FEEDBACK_NOTE,
    ExportError,
    GradeRow,
    Platform,
    export,
    moodle_feedback_zip,
)


@dataclass(frozen=True)
class Exported:
    """The files written and what the instructor should know."""

    files: list[Path]
    notes: list[str]


def grade_rows(out: Path) -> list[GradeRow]:
    """One row per graded submission of the run in ``out``."""
    manifest = read_run_json(out)
    roster = read_roster(out)
    rows = []
    for name, path in sorted(manifest.get("submissions", {}).items()):
        folder = out / "submissions" / name
        if not (folder / "results.json").is_file():
            continue  # not graded yet (an interrupted run)
        result = read_results_json(folder, path)
        entry = roster.get(name)
        feedback = folder / "feedback.html"
        rows.append(GradeRow(
            student_id=entry.student_id if entry else name, name=entry.name if entry else name,
            score=result.score, max_score=result.max_score, late=bool(entry and entry.late),
            feedback=feedback if feedback.is_file() else None))
    if not rows:
        raise GraderError(f"{out} holds no graded submission to export")
    return rows


#: The platforms whose ids a roster's layout holds, and what those ids are called.
_IDS = {"canvas": "Canvas user ids", "moodle": "Moodle participant numbers"}


def _check_origin(out: Path, to: Platform) -> None:
    """Refuse to write one platform's ids into another's import file: a Canvas user id read
    as a Moodle participant number (or the reverse) is some other student's, or nobody's."""
    if to not in _IDS:
        return  # a plain CSV carries the ids as they are, whatever they are
    origins = {entry.layout for entry in read_roster(out).values()} & set(_IDS)
    foreign = sorted(origins - {to})
    if foreign:
        came = " and ".join(f"a {layout.capitalize()} download ({_IDS[layout]})" for layout in foreign)
        raise ExportError(to, f"the students of {out} were collected from {came}; written as "
                              f"{_IDS[to]} they would grade other students or nobody. Export "
                              f"with --to {foreign[0]} (or --to csv), or grade the {to.capitalize()} "
                              "download itself")


def export_run(out: Path, to: Platform, path: Path | None = None, assignment: str = "",
               assignment_id: str = "") -> Exported:
    """Write the grade import file for ``to`` (default ``OUT/<to>-grades.csv``) and, for
    Moodle, ``OUT/moodle-feedback.zip``."""
    _check_origin(out, to)
    rows = grade_rows(out)
    target = path or out / f"{to}-grades.csv"
    if to == "canvas" and not assignment:
        assignment = str(read_run_json(out).get("assignment") or "")
    files = [export(rows, to, target, assignment=assignment, assignment_id=assignment_id)]
    notes: list[str] = []
    if to == "moodle":
        bundle = moodle_feedback_zip(rows, out / "moodle-feedback.zip")
        files.append(bundle.path)
        if bundle.without_feedback:
            notes.append("no feedback page for: " + ", ".join(bundle.without_feedback))
    elif to == "canvas":
        notes.append(CANVAS_FEEDBACK_NOTE)
    return Exported(files, notes)
