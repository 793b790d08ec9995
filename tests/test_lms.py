"""LMS downloads in (Canvas, Moodle, plain) and grade files out, with zips laid out as each
platform writes them, built here so every odd name is visible in the test that uses it."""

from __future__ import annotations

import csv
import io
import os
import stat
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.report.spreadsheet import neutralise
from grader.tools.lms import collect as lms
from grader.tools.lms.collect import ArchiveError, collect
from grader.tools.lms.grades import (
    CANVAS_FEEDBACK_NOTE,
    ExportError,
    FeedbackUploadUnsupported,
    GradeRow,
    Platform,
    export,
    feedback_zip,
    moodle_date,
    moodle_feedback_zip,
)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def notebook(tag: str) -> bytes:
    """A tiny notebook whose text says which member it came from."""
    return ('{"cells": [], "metadata": {"tag": "' + tag + '"}, "nbformat": 4, "nbformat_minor": 5}').encode()


Stamp = tuple[int, int, int, int, int, int]


def make_zip(path: Path, members: dict[str, bytes], *, times: dict[str, Stamp] | None = None,
             links: dict[str, str] | None = None) -> Path:
    """A zip with ``members`` as given (names kept verbatim: '..', absolute, NFD), modification
    times per member, and symbolic-link members pointing at ``links[name]``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(times or {}).get(name, (2026, 11, 20, 12, 0, 0)))
            archive.writestr(info, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 20, 12, 0, 0))
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def tag_of(path: Path) -> str:
    return path.read_text().split('"tag": "')[1].split('"')[0]


def reasons(collection: lms.Collection) -> dict[str, str]:
    return {s.source: s.reason for s in collection.skipped}


# --------------------------------------------------------------------------- Canvas

CANVAS_LATE_NFD = nfd("núñezjosé_LATE_23456_902_Lab 3 final.ipynb")


@pytest.fixture
def canvas_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(lms, "MAX_NOTEBOOK_BYTES", 2000)
    return make_zip(tmp_path / "submissions.zip", {
        "smithjane_12345_901_lab.ipynb": notebook("jane first"),
        "smithjane_12345_950_lab-1.ipynb": notebook("jane -1"),
        "smithjane_12345_990_lab-2.ipynb": notebook("jane -2"),
        CANVAS_LATE_NFD: notebook("josé late"),
        "anon_x7Kq2_903_lab.ipynb": notebook("anonymous"),
        "doejohn_34567_904_notes.pdf": b"%PDF-1.4",
        "__MACOSX/._smithjane_12345_901_lab.ipynb": b"\x00\x05\x16\x07",
        ".DS_Store": b"\x00\x00\x00\x01Bud1",
        "../evil_56789_906_lab.ipynb": notebook("slip"),
        "/abs_67890_907_lab.ipynb": notebook("absolute"),
        "bigbig_78901_908_lab.ipynb": notebook("big") + b" " * 3000,
    }, links={"leelee_45678_905_lab.ipynb": "/etc/passwd"})


def test_canvas_zip_keeps_one_newest_notebook_per_student(canvas_zip: Path, tmp_path: Path) -> None:
    found = collect(canvas_zip, tmp_path / "out")

    assert found.layout == "canvas"
    assert [(s.student_id, s.name, s.late, s.file_id) for s in found.submissions] == [
        ("12345", "smithjane", False, "990"),
        ("23456", "núñezjosé", True, "902"),
        ("anon_x7Kq2", "", False, "903"),
    ]
    kept = {s.student_id: s for s in found.submissions}
    assert kept["12345"].source == "smithjane_12345_990_lab-2.ipynb"
    assert kept["23456"].source == CANVAS_LATE_NFD  # as written in the archive, NFD
    assert {s.notebook.name for s in found.submissions} == {"12345.ipynb", "23456.ipynb", "anon_x7Kq2.ipynb"}
    assert tag_of(kept["12345"].notebook) == "jane -2"
    assert tag_of(kept["23456"].notebook) == "josé late"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["12345.ipynb", "23456.ipynb",
                                                                    "anon_x7Kq2.ipynb"]


def test_canvas_zip_notes_every_member_it_skips(canvas_zip: Path, tmp_path: Path) -> None:
    notes = reasons(collect(canvas_zip, tmp_path / "out"))

    assert set(notes) == {
        "smithjane_12345_901_lab.ipynb", "smithjane_12345_950_lab-1.ipynb", "doejohn_34567_904_notes.pdf",
        "__MACOSX/._smithjane_12345_901_lab.ipynb", ".DS_Store", "../evil_56789_906_lab.ipynb",
        "/abs_67890_907_lab.ipynb", "bigbig_78901_908_lab.ipynb", "leelee_45678_905_lab.ipynb"}
    older = "an older resubmission: kept the highest -N resubmission, smithjane_12345_990_lab-2.ipynb"
    assert notes["smithjane_12345_901_lab.ipynb"] == older
    assert notes["smithjane_12345_950_lab-1.ipynb"] == older
    assert notes["doejohn_34567_904_notes.pdf"] == "not a notebook (.pdf)"
    assert notes["__MACOSX/._smithjane_12345_901_lab.ipynb"] == "operating-system metadata, not a submission"
    assert notes[".DS_Store"] == "operating-system metadata, not a submission"
    assert "zip slip" in notes["../evil_56789_906_lab.ipynb"]
    assert "zip slip" in notes["/abs_67890_907_lab.ipynb"]
    assert notes["leelee_45678_905_lab.ipynb"] == "a symbolic link: links are never followed"
    big = len(notebook("big")) + 3000
    assert notes["bigbig_78901_908_lab.ipynb"] == (f"{big} bytes, larger than the 2000 bytes a notebook "
                                                   "may be: refused")
    assert not (tmp_path / "evil_56789_906_lab.ipynb").exists()
    assert not (tmp_path / "out" / "45678.ipynb").exists()


def test_canvas_unzipped_folder_gives_the_same_students(canvas_zip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "unzipped"
    folder.mkdir()
    with zipfile.ZipFile(canvas_zip) as archive:
        for info in archive.infolist():
            if info.filename.startswith(("..", "/")) or (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
                continue
            target = folder / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))

    found = collect(folder, tmp_path / "out")

    assert found.layout == "canvas"
    assert [(s.student_id, s.late) for s in found.submissions] == [
        ("12345", False), ("23456", True), ("anon_x7Kq2", False)]


# --------------------------------------------------------------------------- Moodle

def test_moodle_zip_with_a_folder_per_student(tmp_path: Path) -> None:
    jose = nfd("José Núñez_100002_assignsubmission_file_")
    archive = make_zip(tmp_path / "moodle.zip", {
        "Ann Lee_100001_assignsubmission_file_/lab.ipynb": notebook("ann"),
        "Ann Lee_100001_assignsubmission_file_/notes.txt": b"my notes",
        f"{jose}/lab.ipynb": notebook("josé old"),
        f"{jose}/lab (1).ipynb": notebook("josé new"),
        nfd("José Núñez_100002_assignsubmission_onlinetext_/onlinetext.html"): b"<p>hi</p>",
        "Bo_100003_assignsubmission_file/lab.ipynb": notebook("bo, moodle 4.1 folder"),
        "Participant_100004_assignsubmission_file_/sub dir/lab.ipynb": notebook("blind"),
        "__MACOSX/Ann Lee_100001_assignsubmission_file_/._lab.ipynb": b"\x00\x05\x16\x07",
        "Ann Lee_100001_assignsubmission_file_/.ipynb_checkpoints/lab-checkpoint.ipynb": notebook("ckpt"),
    }, times={f"{jose}/lab.ipynb": (2026, 11, 20, 9, 0, 0), f"{jose}/lab (1).ipynb": (2026, 11, 21, 9, 0, 0)})

    found = collect(archive, tmp_path / "out")

    assert found.layout == "moodle"
    assert [(s.student_id, s.name, s.late) for s in found.submissions] == [
        ("100001", "Ann Lee", False),
        ("100002", "José Núñez", False),  # NFC, as a name is compared and shown
        ("100003", "Bo", False),
        ("100004", "Participant", False),
    ]
    kept = {s.student_id: s for s in found.submissions}
    assert kept["100002"].source == f"{jose}/lab (1).ipynb"
    assert tag_of(kept["100002"].notebook) == "josé new"
    assert kept["100004"].notebook == tmp_path / "out" / "100004.ipynb"
    notes = reasons(found)
    assert notes[f"{jose}/lab.ipynb"] == (f"another notebook from the same student: kept the most "
                                          f"recently modified, {jose}/lab (1).ipynb")
    assert notes["Ann Lee_100001_assignsubmission_file_/notes.txt"] == "not a notebook (.txt)"
    online_text = nfd("José Núñez_100002_assignsubmission_onlinetext_/onlinetext.html")
    assert notes[online_text] == "not a notebook (.html)"
    assert notes["__MACOSX/Ann Lee_100001_assignsubmission_file_/._lab.ipynb"] == (
        "operating-system metadata, not a submission")
    assert notes["Ann Lee_100001_assignsubmission_file_/.ipynb_checkpoints/lab-checkpoint.ipynb"] == (
        "a checkpoint copy, not the submission")
    assert len(notes) == 5


def test_moodle_flat_download_without_folders(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "moodle-flat.zip", {
        "Ann Lee_100001_assignsubmission_file_lab.ipynb": notebook("ann"),
        "Bo Chen_100003_assignsubmission_file_my lab.ipynb": notebook("bo"),
    })

    found = collect(archive, tmp_path / "out")

    assert found.layout == "moodle"
    assert [(s.student_id, s.name) for s in found.submissions] == [("100001", "Ann Lee"),
                                                                   ("100003", "Bo Chen")]
    assert found.skipped == []


class _UnflaggedName(zipfile.ZipInfo):
    """A member name written as its cp437 bytes with no UTF-8 flag, as old zippers do."""

    __slots__ = ()

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("cp437"), self.flag_bits & ~0x800


def test_utf8_names_written_without_the_utf8_flag_are_read_as_utf8(tmp_path: Path) -> None:
    # Older zippers write UTF-8 names without flagging them; zipfile then decodes them as cp437.
    folder = "Zoë Ång_100005_assignsubmission_file_"
    raw = f"{folder}/lab.ipynb".encode()
    archive = tmp_path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr(_UnflaggedName(raw.decode("cp437")), notebook("zoë"))
    with zipfile.ZipFile(archive) as check:
        assert not check.infolist()[0].flag_bits & 0x800
        assert check.namelist() == [raw.decode("cp437")]

    found = collect(archive, tmp_path / "out")

    assert [(s.student_id, s.name, s.source) for s in found.submissions] == [
        ("100005", "Zoë Ång", f"{folder}/lab.ipynb")]


# --------------------------------------------------------------------------- plain and folders

def test_plain_folder_takes_ids_from_file_names_and_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.ipynb").write_bytes(notebook("secret"))
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(notebook("alice"))
    (folder / "Bob Smith.ipynb").write_bytes(notebook("bob"))
    (folder / "readme.md").write_text("hello")
    os.symlink(outside / "secret.ipynb", folder / "mallory.ipynb")
    os.symlink(outside, folder / "linked")

    found = collect(folder, tmp_path / "out")

    assert found.layout == "plain"
    assert [(s.student_id, s.source) for s in found.submissions] == [
        ("Bob-Smith", "Bob Smith.ipynb"), ("alice", "alice.ipynb")]
    assert reasons(found) == {
        "linked": "a symbolic link: links are never followed",
        "mallory.ipynb": "a symbolic link: links are never followed",
        "readme.md": "not a notebook (.md)",
    }


def test_plain_zip_with_one_folder_per_student_uses_the_folder_names(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "class.zip", {
        "alice/lab.ipynb": notebook("alice"),
        "bob/lab.ipynb": notebook("bob"),
        "carol.ipynb": notebook("carol"),
    })

    found = collect(archive, tmp_path / "out")

    assert [(s.student_id, tag_of(s.notebook)) for s in found.submissions] == [
        ("alice", "alice"), ("bob", "bob"), ("carol", "carol")]


def test_plain_two_files_of_one_student_nfc_and_nfd_keeps_the_newest(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "class.zip", {
        "José.ipynb": notebook("old"),
        nfd("José.ipynb"): notebook("new"),
    }, times={"José.ipynb": (2026, 11, 1, 0, 0, 0), nfd("José.ipynb"): (2026, 11, 2, 0, 0, 0)})

    found = collect(archive, tmp_path / "out")

    assert [(s.student_id, tag_of(s.notebook)) for s in found.submissions] == [("José", "new")]
    assert reasons(found) == {"José.ipynb": "another notebook for the same student id: kept the most "
                                            f"recently modified, {nfd('José.ipynb')}"}


def test_collect_skips_the_output_folder_inside_the_input(tmp_path: Path) -> None:
    (tmp_path / "alice.ipynb").write_bytes(notebook("alice"))
    collect(tmp_path, tmp_path / "collected")

    again = collect(tmp_path, tmp_path / "collected")

    assert [s.student_id for s in again.submissions] == ["alice"]


def test_collect_refuses_to_copy_into_the_folder_it_reads(tmp_path: Path) -> None:
    (tmp_path / "alice.ipynb").write_bytes(notebook("alice"))

    with pytest.raises(ArchiveError, match="another folder"):
        collect(tmp_path, tmp_path)


# --------------------------------------------------------------------------- bad archives

def test_zip_bomb_is_refused_before_anything_is_extracted(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lms, "MAX_ARCHIVE_BYTES", 1000)
    archive = make_zip(tmp_path / "bomb.zip", {"a_1_2_lab.ipynb": b"0" * 600, "b_3_4_lab.ipynb": b"0" * 600})

    with pytest.raises(ArchiveError, match="possible zip bomb") as error:
        collect(archive, tmp_path / "out")

    assert isinstance(error.value, GraderError)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"not a zip at all", b""])
def test_unreadable_archive_says_what_to_do(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "submissions.zip").write_bytes(content)

    with pytest.raises(ArchiveError, match="not a readable zip archive .*download it again"):
        collect(tmp_path / "submissions.zip", tmp_path / "out")


def test_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="not found"):
        collect(tmp_path / "nowhere.zip", tmp_path / "out")


# --------------------------------------------------------------------------- exports

ROWS = [
    GradeRow("12345", "smithjane", 13.333333, 20, feedback=None),
    GradeRow("23456", "=cmd|' /C calc'!A0", 20, 20, late=True),
    GradeRow("34567", "núñezjosé", 0, 20, email="+jose@example.org"),
]
GRADED_AT = datetime(2026, 11, 29, 14, 5)


def read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def test_canvas_gradebook_import_csv(tmp_path: Path) -> None:
    out = export(ROWS, "canvas", tmp_path / "canvas.csv", assignment="Lab 2: Convolutions",
                 assignment_id="4321")

    assert read_text(out) == (
        "Student,ID,SIS User ID,SIS Login ID,Section,Lab 2: Convolutions (4321)\r\n"
        "    Points Possible,,,,,20.00\r\n"
        "smithjane,12345,,,,13.33\r\n"
        "'=cmd|' /C calc'!A0,23456,,,,20.00\r\n"
        "núñezjosé,34567,,,,0.00\r\n")


def test_canvas_without_an_assignment_id_names_the_column_by_title(tmp_path: Path) -> None:
    out = export(ROWS[:1], "canvas", tmp_path / "canvas.csv", assignment="Lab 2")

    assert read_text(out).splitlines()[0] == "Student,ID,SIS User ID,SIS Login ID,Section,Lab 2"


def test_moodle_offline_grading_worksheet(tmp_path: Path) -> None:
    out = export(ROWS, "moodle", tmp_path / "worksheet.csv", graded_at=GRADED_AT)

    assert read_text(out) == (
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade)\r\n"
        "Participant 12345,smithjane,,Submitted for grading,13.33,20.00,Yes,,"
        '"Sunday, 29 November 2026, 2:05 PM"\r\n'
        "Participant 23456,'=cmd|' /C calc'!A0,,Submitted for grading (late),20.00,20.00,Yes,,"
        '"Sunday, 29 November 2026, 2:05 PM"\r\n'
        "Participant 34567,núñezjosé,'+jose@example.org,Submitted for grading,0.00,20.00,Yes,,"
        '"Sunday, 29 November 2026, 2:05 PM"\r\n')


def test_moodle_worksheet_has_feedback_comments_when_there_are_comments(tmp_path: Path) -> None:
    rows = [GradeRow("12345", "Ann Lee", 10, 20, comment="-2 for the flipped kernel, see feedback")]

    out = export(rows, "moodle", tmp_path / "worksheet.csv", graded_at=GRADED_AT)

    table = list(csv.reader(io.StringIO(read_text(out))))
    assert table[0][-2:] == ["Last modified (grade)", "Feedback comments"]
    assert table[1][-1] == "'-2 for the flipped kernel, see feedback"


def test_plain_csv_neutralises_text_but_not_numbers(tmp_path: Path) -> None:
    rows = [GradeRow("alice", "-Alice", -1.5, 20, late=True, feedback=Path("out/alice/feedback.html")),
            GradeRow("bob", "@bob", 12.25, 20)]

    out = export(rows, "csv", tmp_path / "grades.csv")

    assert read_text(out) == ("student_id,name,score,max_score,late,feedback\r\n"
                              "alice,'-Alice,-1.5,20,yes,out/alice/feedback.html\r\n"
                              "bob,'@bob,12.25,20,no,\r\n")


@pytest.mark.parametrize(("cell", "safe"), [
    ("=1+1", "'=1+1"), ("+33 6 12", "'+33 6 12"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("  =1+1", "'  =1+1"), ("Ann", "Ann"), ("", ""), ("a=b", "a=b"),
])
def test_neutralise(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


@pytest.mark.parametrize(("to", "rows", "kwargs", "message"), [
    ("canvas", [GradeRow("alice", "Alice", 1, 2)], {"assignment": "Lab"}, "Canvas user ids.*alice"),
    ("moodle", [GradeRow("alice", "Alice", 1, 2)], {}, "Moodle participant numbers.*alice"),
    ("canvas", [GradeRow("1", "A", 1, 2)], {}, "assignment's name"),
    ("canvas", [GradeRow("1", "A", 1, 2)], {"assignment": "Lab", "assignment_id": "lab-2"}, "URL"),
    ("moodle", [GradeRow("1", "A", 3, 2)], {}, "outside 0..max for 1"),
    ("moodle", [GradeRow("1", "A", 1, 2), GradeRow("1", "B", 1, 2)], {}, "'1' appears twice"),
    ("moodle", [GradeRow("1", "A", 1, 2), GradeRow("2", "B", 1, 3)], {}, "different maximum scores"),
    ("csv", [GradeRow("1", "A", float("nan"), 2)], {}, "not a number"),
    ("csv", [], {}, "no grades"),
])
def test_export_refuses_what_the_platform_would_drop(tmp_path: Path, to: Platform, rows: list[GradeRow],
                                                     kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ExportError, match=message):
        export(rows, to, tmp_path / "out.csv", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "out.csv").exists()


def test_moodle_date_is_moodles_userdate_form() -> None:
    assert moodle_date(datetime(2026, 11, 29, 0, 7)) == "Sunday, 29 November 2026, 12:07 AM"
    assert moodle_date(datetime(2026, 3, 2, 12, 30)) == "Monday, 2 March 2026, 12:30 PM"


# --------------------------------------------------------------------------- feedback

def moodle_participant(member: str) -> str | None:
    """Moodle's importziplib is_valid_filename_for_import: the first path part that splits on
    '_' (at most 5 pieces) into at least 4 with a numeric second piece names the participant."""
    for part in member.split("/"):
        info = part.split("_", 4)
        if len(info) >= 4 and info[1].isdigit():
            return info[1]
    return None


def test_moodle_feedback_zip_member_names(tmp_path: Path) -> None:
    pages = {}
    for student in ("100001", "100002"):
        pages[student] = tmp_path / student / "feedback.html"
        pages[student].parent.mkdir()
        pages[student].write_text(f"<h1>{student}</h1>")
    rows = [GradeRow("100001", "Ann Lee", 10, 20, feedback=pages["100001"]),
            GradeRow("100002", nfd("José_Núñez / 2"), 12, 20, feedback=pages["100002"]),
            GradeRow("100003", "", 0, 20)]

    result = moodle_feedback_zip(rows, tmp_path / "feedback.zip")

    assert result.members == ["Ann Lee_100001_assignsubmission_file_/feedback.html",
                              "José Núñez 2_100002_assignsubmission_file_/feedback.html"]
    assert result.without_feedback == ["100003"]
    with zipfile.ZipFile(result.path) as archive:
        assert archive.namelist() == result.members
        assert archive.read(result.members[1]) == b"<h1>100002</h1>"
    assert [moodle_participant(m) for m in result.members] == ["100001", "100002"]


def test_moodle_feedback_zip_refuses_rows_moodle_cannot_match(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="participant number.*alice"):
        moodle_feedback_zip([GradeRow("alice", "Alice", 1, 2)], tmp_path / "feedback.zip")
    with pytest.raises(ExportError, match="feedback pages not found"):
        moodle_feedback_zip([GradeRow("1", "A", 1, 2, feedback=tmp_path / "gone.html")], tmp_path / "f.zip")


def test_canvas_has_no_bulk_feedback_upload(tmp_path: Path) -> None:
    with pytest.raises(FeedbackUploadUnsupported) as error:
        feedback_zip(ROWS, "canvas", tmp_path / "feedback.zip")

    assert str(error.value) == CANVAS_FEEDBACK_NOTE
    assert "Canvas has no bulk upload of feedback files" in CANVAS_FEEDBACK_NOTE
    assert not (tmp_path / "feedback.zip").exists()


def test_a_folders_layout_is_told_from_its_names_without_copying_or_following_links(tmp_path: Path) -> None:
    from grader.tools.lms.collect import detect

    canvas = tmp_path / "canvas"
    canvas.mkdir()
    (canvas / "doejane_1234_5678_lab.ipynb").write_bytes(notebook("jane"))
    (canvas / "notes.txt").write_text("not a notebook")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "alice.ipynb").write_bytes(notebook("alice"))
    (plain / "linked").symlink_to(canvas, target_is_directory=True)  # a Canvas folder, behind a link
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert detect(canvas) == "canvas"
    assert detect(plain) == "plain"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
