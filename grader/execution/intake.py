"""What a batch grades: the notebooks named, or each student's notebook in an LMS download.

``grader grade ASSIGNMENT submissions.zip`` takes the zip a course downloads from Canvas or
Moodle (or its unzipped folder) as it is: ``grader.tools.lms.collect`` recognises the
platform's naming, keeps each student's newest notebook and copies it to
``OUT/collected/<download>/<student id>.ipynb``, so the submission's name is the student's id.
What the platform says of each student (id, name, late flag, file in the download) is kept
in ``OUT/roster.json`` beside the results: the gradebook gains those columns, and
``grader export`` reads them back to write the platform's import file.

A plain folder of notebooks is graded in place, as before: only a ``.zip`` or a folder whose
names follow Canvas's or Moodle's conventions is collected (a folder's layout is told from its
names where it is, nothing copied, no link followed).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.execution.submission import safe_name
from grader.files import atomic_write
from grader.tools.lms.collect import Collection, collect, detect

ROSTER_FILE = "roster.json"
COLLECTED_FOLDER = "collected"


@dataclass(frozen=True)
class RosterEntry:
    """What the LMS download says of one graded submission."""

    student_id: str
    name: str
    late: bool
    source: str  # the file inside the download
    layout: str  # canvas | moodle | plain
    file_id: str = ""  # Canvas attachment id


@dataclass
class Intake:
    """The paths to grade after collecting, who is who, and what the downloads held besides."""

    paths: list[Path]
    roster: dict[str, RosterEntry] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def take_in(paths: Sequence[Path], out: Path) -> Intake:
    """Collect every LMS download among ``paths``; other paths pass through unchanged.
    Writes (or extends, when a run resumes) ``out/roster.json``."""
    intake = Intake(paths=[])
    for path in paths:
        collection = _collected(path, out)
        if collection is None:
            intake.paths.append(path)
            continue
        intake.paths += [c.notebook for c in collection.submissions]
        for found in collection.submissions:
            intake.roster[safe_name(found.student_id)] = RosterEntry(
                found.student_id, found.name, found.late, found.source, collection.layout,
                found.file_id)
        intake.skipped += [f"{path.name}: {s.source}: {s.reason}" for s in collection.skipped]
    if intake.roster:
        _write_roster(out, {**read_roster(out), **intake.roster})
    return intake


def _collected(path: Path, out: Path) -> Collection | None:
    """The download's collection, or None when ``path`` is not an LMS download."""
    is_zip = path.is_file() and path.suffix.lower() == ".zip"
    if not is_zip and not (path.is_dir() and not path.is_symlink()):
        return None
    into = out / COLLECTED_FOLDER / safe_name(path.stem if is_zip else path.name)
    if is_zip:
        if into.exists():
            shutil.rmtree(into)
        return collect(path, into)
    if detect(path) == "plain":
        return None  # a folder of notebooks: graded where it is (told by its names, nothing copied)
    if into.exists():
        shutil.rmtree(into)
    return collect(path, into)


def read_roster(out: Path) -> dict[str, RosterEntry]:
    """``out/roster.json`` by submission name; empty when the run collected no download."""
    try:
        data = json.loads((out / ROSTER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: RosterEntry(**entry) for name, entry in data.items()}


def _write_roster(out: Path, roster: dict[str, RosterEntry]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    document = {name: asdict(entry) for name, entry in sorted(roster.items())}
    atomic_write(out / ROSTER_FILE, json.dumps(document, indent=2, ensure_ascii=False).encode())
