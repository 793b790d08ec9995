"""Submissions from an LMS download, and grades and feedback back to it (Canvas, Moodle).

An instructor downloads a class's notebooks as one zip whose names follow the platform's own
conventions, and uploads grades as the CSV the platform imports. :func:`collect` turns such a
zip (or its unzipped folder) into one notebook per student under a folder of ours, named by
the student's id; :func:`export` writes the import file; :func:`moodle_feedback_zip` writes
the zip of feedback pages Moodle's "Upload multiple feedback files in a zip" takes.

The conventions, as each platform's source writes and reads them:

- **Canvas download** (``instructure/canvas-lms``, ``lib/content_zipper.rb``: ``get_filename``,
  ``add_upload_submission``, ``sanitize_user_name``): one flat file per submitted attachment,
  ``{sortable name}[_LATE]_{user id}_{attachment id}_{display name}``. The name is the
  student's sortable name ("Last, First"), lower-cased, with every non-word character removed
  (letters with accents stay) and any ``_<digits>_`` collapsed, so ``núñezjosé``; with
  anonymous grading it is left out and the id is ``anon_<id>``. The third number is the
  *attachment* (file) id, not a submission id, so it is recorded as ``file_id``. The display
  name is the student's file name; Canvas renames a re-uploaded file of the same name
  ``lab-1.ipynb``, ``lab-2.ipynb``, so the highest suffix is the newest (then the highest
  attachment id, as ids grow with uploads).
- **Moodle download** (``moodle/moodle``, ``mod/assign/locallib.php`` ``download_submissions``;
  ``mod/assign/feedback/file/importziplib.php`` documents both forms): since Moodle 3.1 a folder
  per student and plugin, ``{Full Name}_{participant id}_assignsubmission_file_/lab.ipynb``
  (Moodle 4.1 and later drop the trailing ``_``); before 3.1, or with "Download submissions in
  folders" off, flat files ``{Full Name}_{participant id}_assignsubmission_file_lab.ipynb``.
  Underscores in the name become spaces; with blind marking the name is ``Participant``. The
  participant id is the one the grading worksheet shows as ``Participant 123456``, not the
  user id. A Moodle download says nothing about lateness (the worksheet's Status column does).
- **Plain**: one notebook per student, the student id taken from the file name (from the
  folder name when several students' notebooks share a file name, ``alice/lab.ipynb``).

nbgrader's ``zip_collect`` (``jupyter/nbgrader``, ``nbgrader/plugins/zipcollect.py`` and
``docs/source/user_guide/managing_assignment_files_manually.ipynb``) does this with one
named-group regular expression per course (``student_id``, ``file_id``) and ships no preset
for either platform; the two patterns here are written from the platforms' code above.

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
import stat
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from grader.errors import GraderError
from grader.report.spreadsheet import neutralise

Layout = Literal["canvas", "moodle", "plain"]
Platform = Literal["canvas", "moodle", "csv"]

#: A notebook larger than this is refused: course notebooks with their outputs are a few MB.
MAX_NOTEBOOK_BYTES = 50 * 2**20
#: The whole archive's uncompressed size is capped too, so a zip bomb is refused up front.
MAX_ARCHIVE_BYTES = 4 * 2**30
#: And so is its number of members (a zip of a million empty files is a bomb as well).
MAX_MEMBERS = 100_000

CANVAS_FEEDBACK_NOTE = (
    "Canvas has no bulk upload of feedback files. Its 'Re-upload submissions' takes back only "
    "annotated copies of the files students submitted, matched by their download names, and "
    "shows each returned file under the student's original file name "
    "(instructure/canvas-lms#2406), so a feedback.html would reach students as 'lab.ipynb'. "
    "Import the grades with the gradebook CSV and give the feedback pages to students another "
    "way: one by one in SpeedGrader, or through the Submissions API (a comment with a file).")

_CHUNK = 2**20
_NOISE_DIRS = {"__MACOSX", ".ipynb_checkpoints", ".git", ".Trash-1000"}
_NOISE_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}

# {name}[_LATE]_{user id or anon_x}_{attachment id}_{display name}; the name is lower-case
# word characters (underscores included, "_<digits>_" collapsed), absent when anonymous.
_CANVAS = re.compile(r"^(?:(?P<name>.+?)_)??(?:(?P<late>LATE)_)?"
                     r"(?P<user>\d+|anon_[A-Za-z0-9]+)_(?P<file_id>\d+)_(?P<original>.+)$", re.S)
# {Full Name}_{participant id}_assignsubmission_{plugin}[_][{file name} when flat]
_MOODLE = re.compile(r"^(?P<name>.*?)_(?P<user>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_?(?P<rest>.*)$",
                     re.S)
_RESUBMISSION = re.compile(r"^(?P<stem>.*)-(?P<n>\d+)$", re.S)
_UNSAFE_ID = re.compile(r"[^\w.-]+")
_MOODLE_NAME_DROP = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


# --------------------------------------------------------------------------- errors

class LmsError(GraderError):
    """An LMS download or export the grader cannot use as asked."""


class ArchiveError(LmsError):
    """The download cannot be read safely (missing, not a zip, a zip bomb)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


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


# --------------------------------------------------------------------------- domain

@dataclass(frozen=True)
class CollectedSubmission:
    """One student's notebook, found in a download and copied to ``notebook``."""

    student_id: str  #: Canvas user id (or ``anon_…``), Moodle participant id, or the file's name
    name: str  #: the student's name as the download writes it ("" for a plain layout)
    late: bool  #: Canvas marked the submission LATE (Moodle and plain downloads never say)
    source: str  #: the member's path inside the zip or folder, as written there
    notebook: Path  #: the copy under ``into``, ``<student_id>.ipynb``
    file_id: str = ""  #: Canvas attachment id, which its "Re-upload submissions" matches


@dataclass(frozen=True)
class Skipped:
    """A member that is not graded, and why (shown to the instructor)."""

    source: str
    reason: str


@dataclass
class Collection:
    """What :func:`collect` found: the layout, one submission per student, and the rest."""

    layout: Layout
    submissions: list[CollectedSubmission] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


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


# --------------------------------------------------------------------------- collect

@dataclass(frozen=True)
class _Member:
    source: str  # as written in the archive or folder
    path: str  # NFC, "/"-separated, for parsing
    size: int
    mtime: tuple[int, ...]
    open: Callable[[], IO[bytes]]


@dataclass(frozen=True)
class _Candidate:
    member: _Member
    student_id: str
    name: str = ""
    late: bool = False
    file_id: str = ""
    order: tuple[int, ...] = ()  # the highest is kept


def collect(path: Path, into: Path) -> Collection:
    """Find each student's notebook in an LMS download (a ``.zip`` or its unzipped folder)
    and copy it to ``into/<student id>.ipynb``.

    The layout (Canvas, Moodle or plain) is recognised from the names. Only ``.ipynb`` files
    are taken, one per student (the newest resubmission); everything else is listed in
    ``skipped`` with the reason, so an instructor can see that nothing was lost silently.
    Nothing outside the archive or folder is ever read or written: links, absolute and ``..``
    paths are skipped, and sizes are capped (:data:`MAX_NOTEBOOK_BYTES` per notebook,
    :data:`MAX_ARCHIVE_BYTES` in all).
    """
    skipped: list[Skipped] = []
    if path.is_dir() and path.resolve() == into.resolve():
        raise ArchiveError(path, "the notebooks are copied to a folder of their own; give another "
                                 "folder to collect into")
    if path.is_dir():
        members = list(_folder_members(path, into, skipped))
        return _collect_members(members, into, skipped)
    if not path.exists():
        raise ArchiveError(path, "not found (give the .zip downloaded from the LMS, or its unzipped folder)")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveError(path, f"not a readable zip archive ({error}); download it again from "
                                 "the LMS, or unzip it and give the folder") from error
    with archive:
        members = list(_zip_members(path, archive, skipped))
        return _collect_members(members, into, skipped)


def _collect_members(members: list[_Member], into: Path, skipped: list[Skipped]) -> Collection:
    notebooks = [m for m in members if _keep(m, skipped)]
    layout = _detect_layout(notebooks)
    candidates = _parse(layout, notebooks, skipped)
    chosen = _newest_per_student(layout, candidates, skipped)
    into.mkdir(parents=True, exist_ok=True)
    collection = Collection(layout, skipped=skipped)
    for candidate in sorted(chosen, key=lambda c: c.student_id):
        target = into / f"{candidate.student_id}.ipynb"
        problem = _copy_capped(candidate.member, target)
        if problem:
            skipped.append(Skipped(candidate.member.source, problem))
            continue
        collection.submissions.append(CollectedSubmission(
            candidate.student_id, candidate.name, candidate.late, candidate.member.source, target,
            candidate.file_id))
    return collection


def _zip_members(path: Path, archive: zipfile.ZipFile, skipped: list[Skipped]) -> Iterator[_Member]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(path, f"holds {len(infos)} members, more than the {MAX_MEMBERS} a class "
                                 "download has: refused as a possible zip bomb")
    total = sum(info.file_size for info in infos)
    if total > MAX_ARCHIVE_BYTES:
        raise ArchiveError(path, f"would unpack to {_size(total)}, more than the "
                                 f"{_size(MAX_ARCHIVE_BYTES)} allowed: refused as a possible zip bomb")
    for info in infos:
        name = _decoded_name(info)
        if info.is_dir():
            continue
        posix = unicodedata.normalize("NFC", name.replace("\\", "/"))
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            skipped.append(Skipped(name, "a symbolic link: links are never followed"))
        elif _unsafe(posix):
            skipped.append(Skipped(name, "an absolute or '..' path that would land outside the "
                                         "extraction folder (zip slip): refused"))
        elif info.flag_bits & 0x1:
            skipped.append(Skipped(name, "encrypted: cannot be read"))
        else:
            yield _Member(name, posix, info.file_size, tuple(info.date_time), partial(archive.open, info))


def _folder_members(root: Path, into: Path, skipped: list[Skipped]) -> Iterator[_Member]:
    root = root.resolve()
    into = into.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for d in sorted(dirs):
            if (here / d).is_symlink():
                skipped.append(Skipped(_relative(here / d, root),
                                       "a symbolic link: links are never followed"))
        dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink() and (here / d).resolve() != into)
        for f in sorted(files):
            item = here / f
            source = _relative(item, root)
            info = item.lstat()
            if stat.S_ISLNK(info.st_mode):
                skipped.append(Skipped(source, "a symbolic link: links are never followed"))
            elif not stat.S_ISREG(info.st_mode):
                skipped.append(Skipped(source, "not a regular file"))
            else:
                mtime = datetime.fromtimestamp(info.st_mtime).timetuple()[:6]
                yield _Member(source, unicodedata.normalize("NFC", source), info.st_size, tuple(mtime),
                              partial(_open_no_follow, item))


def _open_no_follow(path: Path) -> IO[bytes]:
    # O_NOFOLLOW: a file swapped for a link between the walk and the copy is still not followed
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    return os.fdopen(descriptor, "rb")


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _decoded_name(info: zipfile.ZipInfo) -> str:
    # Without the UTF-8 flag, zipfile decodes names as cp437; many zippers write UTF-8 anyway.
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _unsafe(posix: str) -> bool:
    parts = posix.split("/")
    return (posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) is not None
            or ".." in parts or "\0" in posix)


def _keep(member: _Member, skipped: list[Skipped]) -> bool:
    parts = PurePosixPath(member.path).parts
    base = parts[-1]
    if any(p in _NOISE_DIRS for p in parts[:-1]) or base in _NOISE_FILES or base.startswith("._"):
        reason = ("a checkpoint copy, not the submission" if ".ipynb_checkpoints" in parts
                  else "operating-system metadata, not a submission")
        skipped.append(Skipped(member.source, reason))
        return False
    if not base.lower().endswith(".ipynb"):
        suffix = PurePosixPath(base).suffix or "no extension"
        skipped.append(Skipped(member.source, f"not a notebook ({suffix})"))
        return False
    if member.size > MAX_NOTEBOOK_BYTES:
        skipped.append(Skipped(member.source, f"{_size(member.size)}, larger than the "
                                              f"{_size(MAX_NOTEBOOK_BYTES)} a notebook may be: refused"))
        return False
    return True


def _moodle_match(path: str) -> re.Match[str] | None:
    parts = PurePosixPath(path).parts
    for i, part in enumerate(parts):
        match = _MOODLE.match(part)
        if match and (i < len(parts) - 1) == (match["rest"] == ""):
            return match
    return None


def _detect_layout(notebooks: Sequence[_Member]) -> Layout:
    moodle = sum(_moodle_match(m.path) is not None for m in notebooks)
    canvas = sum(_CANVAS.match(PurePosixPath(m.path).name) is not None for m in notebooks)
    if moodle == canvas == 0:
        return "plain"
    return "moodle" if moodle >= canvas else "canvas"


def _parse(layout: Layout, notebooks: Sequence[_Member], skipped: list[Skipped]) -> list[_Candidate]:
    if layout == "plain":
        return _parse_plain(notebooks)
    candidates = []
    for member in notebooks:
        candidate = _parse_canvas(member) if layout == "canvas" else _parse_moodle(member)
        if candidate is None:
            expected = ("name_[LATE_]userid_fileid_file.ipynb" if layout == "canvas"
                        else "Full Name_participantid_assignsubmission_file_/file.ipynb")
            skipped.append(Skipped(member.source, f"not named as {layout.capitalize()} names "
                                                  f"submissions ({expected})"))
        else:
            candidates.append(candidate)
    return candidates


def _parse_canvas(member: _Member) -> _Candidate | None:
    match = _CANVAS.match(PurePosixPath(member.path).name)
    if match is None:
        return None
    stem = PurePosixPath(match["original"]).stem
    resubmission = _RESUBMISSION.match(stem)
    order = (int(resubmission["n"]) if resubmission else 0, int(match["file_id"]))
    return _Candidate(member, match["user"], match["name"] or "", match["late"] is not None,
                      match["file_id"], order)


def _parse_moodle(member: _Member) -> _Candidate | None:
    match = _moodle_match(member.path)
    if match is None:
        return None
    return _Candidate(member, match["user"], match["name"], False, "", member.mtime)


def _parse_plain(notebooks: Sequence[_Member]) -> list[_Candidate]:
    stems = defaultdict(list)
    for member in notebooks:
        stems[_safe_id(PurePosixPath(member.path).stem).casefold()].append(member)
    candidates = []
    for members in stems.values():
        for member in members:
            pure = PurePosixPath(member.path)
            shared = len(members) > 1 and len(pure.parts) > 1
            student = _safe_id(pure.parent.name if shared else pure.stem)
            candidates.append(_Candidate(member, student, order=member.mtime))
    return candidates


def _safe_id(text: str) -> str:
    """A student id usable as a file name on any system: word characters, dots and dashes."""
    cleaned = _UNSAFE_ID.sub("-", unicodedata.normalize("NFC", text)).strip("-.")
    return cleaned[:100] or "student"


def _newest_per_student(layout: Layout, candidates: Sequence[_Candidate],
                        skipped: list[Skipped]) -> list[_Candidate]:
    by_student: dict[str, list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_student[candidate.student_id.casefold()].append(candidate)
    why = {"canvas": "an older resubmission", "moodle": "another notebook from the same student",
           "plain": "another notebook for the same student id"}[layout]
    how = {"canvas": "the highest -N resubmission", "moodle": "the most recently modified",
           "plain": "the most recently modified"}[layout]
    chosen = []
    for group in by_student.values():
        group = sorted(group, key=lambda c: (c.order, c.member.path), reverse=True)
        kept = group[0]
        chosen.append(kept)
        for other in group[1:]:
            skipped.append(Skipped(other.member.source, f"{why}: kept {how}, {kept.member.source}"))
    return chosen


def _copy_capped(member: _Member, target: Path) -> str:
    """Copy at most the cap, whatever size the archive declared; a problem, or ""."""
    written = 0
    partial = target.with_name(f".{target.name}.partial")
    try:
        with member.open() as source, partial.open("wb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > MAX_NOTEBOOK_BYTES:
                    raise _TooLarge
                sink.write(chunk)
    except _TooLarge:
        partial.unlink(missing_ok=True)
        return f"larger than the {_size(MAX_NOTEBOOK_BYTES)} a notebook may be: refused"
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        partial.unlink(missing_ok=True)
        return f"could not be read ({error})"
    partial.replace(target)
    return ""


class _TooLarge(Exception):
    pass


def _size(count: int) -> str:
    if count >= 2**20:
        return f"{count / 2**20:.0f} MB"
    return f"{count / 2**10:.0f} kB" if count >= 10 * 2**10 else f"{count} bytes"


# --------------------------------------------------------------------------- export

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
