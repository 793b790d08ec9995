"""Grades and feedback back to an LMS: the CSV Canvas or Moodle imports, and the zip of
feedback pages Moodle takes.

:func:`export` writes the import file; :func:`moodle_feedback_zip` writes the zip of feedback
pages Moodle's "Upload multiple feedback files in a zip" takes.

Exports:

- **Canvas gradebook import** (``lib/gradebook_exporter.rb``, ``lib/gradebook_importer.rb``):
  header ``Student, ID, SIS User ID, SIS Login ID, Section, <Assignment Name> (<assignment
  id>)``, then the row Canvas itself writes second, ``"    Points Possible"`` (four leading
  spaces, as exported; the importer looks for "Points Possible" in the first cell), then one
  row per student with the score at two decimals, as Canvas exports it. The importer finds
  the student by the ``ID`` column (the Canvas user id of the download's file names) before
  SIS ids or the name, so the SIS and Section cells are left empty; it finds the assignment by
  the id in brackets (without one, by a title equal to the whole header, else it creates a
  new assignment). Canvas's import has no late column, so the late flag is not written.
- **Moodle offline grading worksheet** (``mod/assign/gradingtable.php`` when downloading,
  strings from ``mod/assign/lang/en/assign.php``; read back by
  ``mod/assign/feedback/offline/importgradeslib.php``): ``Identifier`` (``Participant
  123456``), ``Full name``, ``Email address``, ``Status``, ``Grade``, ``Maximum Grade``,
  ``Grade can be changed``, ``Last modified (submission)``, ``Last modified (grade)``,
  ``Feedback comments``. The importer reads only Identifier, Grade, Last modified (grade) and
  the feedback columns; it *skips* a row whose grade changed in Moodle after the "Last
  modified (grade)" it reads (plus a minute), unless "Allow updating records that have been
  modified more recently in Moodle than in the spreadsheet" is ticked, so that column holds
  the time of the export (``graded_at``), in Moodle's own date format. Its Feedback comments
  cell replaces the student's comment in Moodle even when empty, so that column is written
  only when some row has a comment. "Last modified (submission)" is left empty (Moodle writes
  "-"; its importer does not read it) and Status says "Submitted for grading", "(late)" added.
- **csv**: one plain row per student, for anything else.

Every text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or NUL
(after leading spaces too) gets a leading ``'``, so a spreadsheet shows it as text instead of
evaluating it (CSV/formula injection, OWASP ASVS 1.2.10); the numbers we format ourselves are
left alone. Canvas's own exporter quotes names that start with ``=`` as ``="..."``; the
importers match students by id, so the ``'`` changes nothing there.

Feedback: Moodle imports a zip of files under ``{Full Name}_{participant id}_{plugin}_/``
folders and attaches each file to that participant's grade (``importziplib.php``,
``is_valid_filename_for_import``: the folder name is split on ``_``, so the name must hold
none). Canvas has no equivalent for feedback files: see :data:`CANVAS_FEEDBACK_NOTE`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from grader.report.spreadsheet import neutralise
from grader.tools.lms import LmsError

Platform = Literal["canvas", "moodle", "csv"]

CANVAS_FEEDBACK_NOTE = (
    "Canvas has no bulk upload of feedback files. Its 'Re-upload submissions' takes back only "
    "annotated copies of the files students submitted, matched by their download names, and "
    "shows each returned file under the student's original file name "
    "(instructure/canvas-lms#2406), so a feedback.html would reach students as 'lab.ipynb'. "
    "Import the grades with the gradebook CSV and give the feedback pages to students another "
    "way: one by one in SpeedGrader, or through the Submissions API (a comment with a file).")

_MOODLE_NAME_DROP = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


class ExportError(LmsError):
    """The grades cannot be written in the format a platform imports."""

    def __init__(self, platform: str, problem: str) -> None:
        super().__init__(f"export to {platform}: {problem}")
        self.platform = platform
        self.problem = problem


class FeedbackUploadUnsupported(LmsError):
    """The platform has no bulk upload of feedback files."""

    def __init__(self, platform: str, explanation: str) -> None:
        super().__init__(explanation)
        self.platform = platform


@dataclass(frozen=True)
class GradeRow:
    """One student's grade, as the exports need it."""

    student_id: str
    name: str
    score: float
    max_score: float
    late: bool = False
    feedback: Path | None = None  #: the student's feedback page (feedback.html)
    email: str = ""  #: Moodle's worksheet has the column; its importer does not read it
    comment: str = ""  #: Moodle's Feedback comments (the column is written when a row has one)


@dataclass(frozen=True)
class FeedbackZip:
    """The zip :func:`moodle_feedback_zip` wrote, its members, and who had no feedback page."""

    path: Path
    members: list[str]
    without_feedback: list[str]



def export(rows: Iterable[GradeRow], to: Platform, path: Path, *, assignment: str = "",
           assignment_id: str = "", graded_at: datetime | None = None) -> Path:
    """Write the grade-import file of ``to`` (see the module's docstring for each format).

    ``assignment`` and ``assignment_id`` name Canvas's column (the id is the number in the
    assignment's URL); ``graded_at`` is Moodle's "Last modified (grade)", now by default.
    Ids the platform cannot match, duplicates and scores out of range are refused with the
    students named, rather than silently dropped by the platform's importer.
    """
    rows = list(rows)
    if to not in ("canvas", "moodle", "csv"):
        raise ExportError(str(to), "unknown platform (choose canvas, moodle or csv)")
    _check_rows(rows, to)
    if to == "canvas":
        table = _canvas_table(rows, assignment, assignment_id)
    elif to == "moodle":
        table = _moodle_table(rows, graded_at or datetime.now().astimezone())
    else:
        table = _plain_table(rows)
    _write_csv(path, table)
    return path


def _check_rows(rows: Sequence[GradeRow], to: str) -> None:
    if not rows:
        raise ExportError(to, "no grades to export (grade the submissions first)")
    seen: dict[str, str] = {}
    for row in rows:
        if row.student_id in seen:
            raise ExportError(to, f"student id {row.student_id!r} appears twice ({seen[row.student_id]!r} "
                                  f"and {row.name!r}); keep one row per student")
        seen[row.student_id] = row.name
        if not (math.isfinite(row.score) and math.isfinite(row.max_score)):
            raise ExportError(to, f"student {row.student_id}: score {row.score} / {row.max_score} "
                                  "is not a number")
    if to == "csv":
        return
    what = "Canvas user ids" if to == "canvas" else "Moodle participant numbers"
    unmatched = [r.student_id for r in rows if not r.student_id.isdigit()]
    if unmatched:
        raise ExportError(to, f"{to.capitalize()} matches rows by {what}, and these students have none: "
                              f"{', '.join(unmatched)} (were their notebooks collected from a "
                              f"{to.capitalize()} download?)")
    out = [r.student_id for r in rows if not 0 <= r.score <= r.max_score]
    if out:
        raise ExportError(to, f"scores outside 0..max for {', '.join(out)}: {to.capitalize()} would "
                              "refuse or skip them")
    maxima = {r.max_score for r in rows}
    if len(maxima) > 1:
        listing = ", ".join(map(_fixed, sorted(maxima)))
        raise ExportError(to, f"the rows have different maximum scores ({listing}); one assignment "
                              "has one maximum")


def _canvas_table(rows: Sequence[GradeRow], assignment: str, assignment_id: str) -> list[list[str]]:
    if not assignment.strip():
        raise ExportError("canvas", "the assignment's name is needed for its column, as in Canvas "
                                    "(and its id, the number in the assignment's URL)")
    if assignment_id and not assignment_id.isdigit():
        raise ExportError("canvas", f"assignment id {assignment_id!r} is not the number in the "
                                    "assignment's URL (…/assignments/12345)")
    column = f"{assignment} ({assignment_id})" if assignment_id else assignment
    table = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", _text(column)],
             ["    Points Possible", "", "", "", "", _fixed(rows[0].max_score)]]
    for row in rows:
        table.append([_text(row.name), row.student_id, "", "", "", _fixed(row.score)])
    return table


MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)"]
MOODLE_COMMENTS = "Feedback comments"


def _moodle_table(rows: Sequence[GradeRow], graded_at: datetime) -> list[list[str]]:
    # Moodle's importer replaces a student's comment with the cell, empty or not, so the
    # column is written only when there are comments to give (Moodle itself writes it only
    # when the comments plugin is on).
    comments = any(row.comment for row in rows)
    table = [MOODLE_COLUMNS + [MOODLE_COMMENTS] * comments]
    stamp = moodle_date(graded_at)
    for row in rows:
        status = "Submitted for grading" + (" (late)" if row.late else "")
        cells = [f"Participant {row.student_id}", _text(row.name), _text(row.email), status,
                 _fixed(row.score), _fixed(row.max_score), "Yes", "", stamp]
        table.append(cells + [_text(row.comment)] * comments)
    return table


def _plain_table(rows: Sequence[GradeRow]) -> list[list[str]]:
    table = [["student_id", "name", "score", "max_score", "late", "feedback"]]
    for row in rows:
        table.append([_text(row.student_id), _text(row.name), _plain_number(row.score),
                      _plain_number(row.max_score), "yes" if row.late else "no",
                      _text(row.feedback.as_posix() if row.feedback else "")])
    return table


def moodle_date(moment: datetime) -> str:
    """A time as Moodle's ``userdate`` writes it in worksheets (English, day and hour without a
    leading zero), e.g. ``Sunday, 29 November 2026, 2:28 AM``: the form its importer parses."""
    hour = moment.hour % 12 or 12
    return (f"{_WEEKDAYS[moment.weekday()]}, {moment.day} {_MONTHS[moment.month - 1]} {moment.year}, "
            f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}")


_text = neutralise


def _fixed(number: float) -> str:
    # Canvas exports and compares scores at two decimals; Moodle's default grade decimals are 2
    return f"{number:.2f}"


def _plain_number(number: float) -> str:
    text = f"{round(number, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _write_csv(path: Path, table: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)  # RFC 4180 quoting, CRLF line ends, as both platforms write
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(buffer.getvalue().encode("utf-8"))
    temporary.replace(path)


# --------------------------------------------------------------------------- feedback

def moodle_feedback_zip(rows: Iterable[GradeRow], path: Path) -> FeedbackZip:
    """Zip each student's feedback page as Moodle's "Upload multiple feedback files in a zip"
    takes it: ``{Full Name}_{participant id}_assignsubmission_file_/feedback.html``.

    Moodle attaches every file under such a folder to that participant's feedback (the folder
    names of its own download, with the trailing ``_`` that Moodle before 4.1 requires and
    later versions accept). The name is only for people: underscores become spaces and the
    characters Moodle strips from file names are dropped, as Moodle does when it downloads.
    """
    rows = list(rows)
    ids = [r.student_id for r in rows if not r.student_id.isdigit()]
    if ids:
        raise ExportError("moodle", f"Moodle matches feedback by participant number, and these students "
                                    f"have none: {', '.join(ids)} (were their notebooks collected from a "
                                    "Moodle download?)")
    missing = [f"{r.student_id} ({r.feedback})" for r in rows if r.feedback and not r.feedback.is_file()]
    if missing:
        raise ExportError("moodle", f"feedback pages not found: {', '.join(missing)} (grade again, or "
                                    "point at the run's output folder)")
    members, without = [], []
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            if row.feedback is None:
                without.append(row.student_id)
                continue
            folder = f"{moodle_folder_name(row.name)}_{row.student_id}_assignsubmission_file_"
            member = f"{folder}/{row.feedback.name}"
            archive.write(row.feedback, member)
            members.append(member)
    temporary.replace(path)
    return FeedbackZip(path, members, without)


def moodle_folder_name(name: str) -> str:
    """A student's name as Moodle writes it in download folder names (``_`` → space, no
    characters that are invalid in file names), ``Participant`` when there is none."""
    cleaned = _MOODLE_NAME_DROP.sub("", unicodedata.normalize("NFC", name).replace("_", " "))
    return " ".join(cleaned.split()) or "Participant"


def feedback_zip(rows: Iterable[GradeRow], to: Platform, path: Path) -> FeedbackZip:
    """The feedback upload for ``to``: Moodle's zip; for Canvas, which has none, the error
    :class:`FeedbackUploadUnsupported` with :data:`CANVAS_FEEDBACK_NOTE` as its message."""
    if to == "moodle":
        return moodle_feedback_zip(rows, path)
    if to == "canvas":
        raise FeedbackUploadUnsupported("canvas", CANVAS_FEEDBACK_NOTE)
    raise FeedbackUploadUnsupported(str(to), f"{to!r} has no feedback upload: each student's feedback.html "
                                             "is in the run's submissions/<name>/ folder")
