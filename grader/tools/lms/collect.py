"""Submissions from an LMS download (Canvas, Moodle, or a plain folder of notebooks).

:func:`collect` finds each student's notebook in a download (a ``.zip`` or its unzipped
folder), keeps the newest, and copies it to a folder of ours named by the student's id;
:func:`detect` tells a download's layout from its names alone, without copying anything.

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

Whose file a member is comes only from what the platform wrote before the student's own
text: the first Canvas or Moodle prefix from the top of its path (:func:`_owner`). A display
name is the student's text, ``/`` and ``\\`` included: ``x\\bobjones_333_9_lab.ipynb`` after
Alice's prefix is Alice's file, never Bob's.

nbgrader's ``zip_collect`` (``jupyter/nbgrader``, ``nbgrader/plugins/zipcollect.py`` and
``docs/source/user_guide/managing_assignment_files_manually.ipynb``) does this with one
named-group regular expression per course (``student_id``, ``file_id``) and ships no preset
for either platform; the two patterns here are written from the platforms' code above.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from grader.tools.lms import LmsError

Layout = Literal["canvas", "moodle", "plain"]

#: A notebook larger than this is refused: course notebooks with their outputs are a few MB.
MAX_NOTEBOOK_BYTES = 50 * 2**20
#: The whole archive's uncompressed size is capped too, so a zip bomb is refused up front.
MAX_ARCHIVE_BYTES = 4 * 2**30
#: And so is its number of members (a zip of a million empty files is a bomb as well).
MAX_MEMBERS = 100_000

_CHUNK = 2**20
_NOISE_DIRS = {"__MACOSX", ".ipynb_checkpoints", ".git", ".Trash-1000"}
_NOISE_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}

# {name}[_LATE]_{user id or anon_x}_{attachment id}_{display name}; the name is lower-case
# word characters (underscores included, "_<digits>_" collapsed), absent when anonymous. The
# first "_<digits>_" is the user id, as Canvas itself reads it back; the display name is the
# student's own text and may hold anything, another student's prefix and "/" included.
_CANVAS = re.compile(r"^(?:(?P<name>[^/]+?)_)??(?:(?P<late>LATE)_)?"
                     r"(?P<user>[0-9]+|anon_[A-Za-z0-9]+)_(?P<file_id>[0-9]+)_(?P<original>.+)$", re.S)
# {Full Name}_{participant id}_assignsubmission_{plugin}[_][{file name} when flat]; Moodle
# writes the name with its underscores turned into spaces, so the first "_<digits>_" is its.
_MOODLE = re.compile(r"^(?P<name>[^/]*?)_(?P<user>[0-9]+)_assignsubmission_(?P<plugin>[a-z0-9]+)_?"
                     r"(?P<rest>.*)$", re.S)
_RESUBMISSION = re.compile(r"^(?P<stem>.*)-(?P<n>\d+)$", re.S)
_UNSAFE_ID = re.compile(r"[^\w.-]+")


class ArchiveError(LmsError):
    """The download cannot be read safely (missing, not a zip, a zip bomb)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


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


def detect(folder: Path) -> Layout:
    """The layout of an unzipped download (Canvas, Moodle or plain), from its names alone:
    nothing is opened or copied, and links are not followed."""
    skipped: list[Skipped] = []
    notebooks = [m for m in _folder_members(folder, None, skipped) if _keep(m, skipped)]
    return _detect_layout(notebooks)


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


def _folder_members(root: Path, into: Path | None, skipped: list[Skipped]) -> Iterator[_Member]:
    """The files under ``root`` (but not under ``into``, where they are copied), without
    opening any: links and what is not a regular file are skipped."""
    root = root.resolve()
    into = into.resolve() if into is not None else None
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
                # a backslash in a name is a separator, as in a zip: one parse for both forms
                posix = unicodedata.normalize("NFC", source.replace("\\", "/"))
                yield _Member(source, posix, info.st_size, tuple(mtime),
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


def _owner(path: str, platform: re.Pattern[str], rest: str) -> re.Match[str] | None:
    """The platform's prefix that names whose file ``path`` is: the first folder or file,
    from the top, whose name starts as the platform starts a student's file.

    Only what stands *before* a student's own text is the platform's: the folders a course
    wrapped the download in, then the prefix. Everything after the prefix (the display name
    the student chose, with any slash or backslash in it, such as another student's prefix
    in ``x/bob_333_9_lab.ipynb``) is the student's text and never names anyone. The match
    runs on the path from that folder or file on, so ``rest`` holds all of that text.
    """
    parts = PurePosixPath(path).parts
    for i in range(len(parts)):
        match = platform.match("/".join(parts[i:]))
        if match is not None:
            return match if match[rest].strip("/") else None
    return None


def _detect_layout(notebooks: Sequence[_Member]) -> Layout:
    moodle = sum(_owner(m.path, _MOODLE, "rest") is not None for m in notebooks)
    canvas = sum(_owner(m.path, _CANVAS, "original") is not None for m in notebooks)
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
    match = _owner(member.path, _CANVAS, "original")
    if match is None:
        return None
    stem = PurePosixPath(match["original"]).stem
    resubmission = _RESUBMISSION.match(stem)
    order = (int(resubmission["n"]) if resubmission else 0, int(match["file_id"]))
    return _Candidate(member, match["user"], match["name"] or "", match["late"] is not None,
                      match["file_id"], order)


def _parse_moodle(member: _Member) -> _Candidate | None:
    match = _owner(member.path, _MOODLE, "rest")
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
        # the platform's ids are exact (two anonymous ids may differ only in case); a plain
        # layout's come from file names, which a student may write in either case
        student = candidate.student_id.casefold() if layout == "plain" else candidate.student_id
        by_student[student].append(candidate)
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
