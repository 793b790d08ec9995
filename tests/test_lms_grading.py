"""LMS downloads graded with one command, and exported back (issue 14).

A Canvas zip and a Moodle zip of convolve-by-hand's bundled examples, laid out as each
platform writes them (a late submission, a resubmission, a name with a space and an accent,
a file that is not a notebook, macOS's ``__MACOSX/``), are graded with
``grader grade convolve-by-hand download.zip``: one result per student, named by the
student's id, with the example's known score; the gradebook gains the student's id, name and
late flag; ``grader export`` writes the platform's import file from them.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from tests.conftest import EXAMPLES, SANDBOX

#: Each test grades LMS downloads of the examples end to end, through the command: the full tier.
pytestmark = pytest.mark.slow

#: Canvas: lastfirst[_LATE]_userid_attachmentid_filename; "-1" marks a resubmission.
CANVAS = {
    "leeann_1001_5001_lab.ipynb": "untouched",  # first try, replaced by the resubmission
    "leeann_1001_5002_lab-1.ipynb": "reference",
    "núñezjosé_LATE_1002_5003_lab.ipynb": "partly-correct",
    "smithbob_1003_5004_convolve.ipynb": "uses-scipy",
    "smithbob_1003_5005_notes.pdf": None,
    "__MACOSX/._leeann_1001_5002_lab-1.ipynb": None,
}
EXPECTED_CANVAS = {"1001": 20.0, "1002": 11.83, "1003": 9.0}

#: Moodle: a folder per student, "Full Name_participantid_assignsubmission_file_".
MOODLE = {
    "Ann Lee_2001_assignsubmission_file_/lab.ipynb": "reference",
    "José Núñez_2002_assignsubmission_file_/convolve-by-hand.ipynb": "syntax-error",
    "Bob Smith_2003_assignsubmission_file_/lab.ipynb": "infinite-loop",
    "Bob Smith_2003_assignsubmission_file_/readme.txt": None,
}
EXPECTED_MOODLE = {"2001": 20.0, "2002": 19.0, "2003": 17.0}


def write_zip(path: Path, members: dict[str, str | None]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for number, (name, example) in enumerate(members.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 1 + number, 12, 0, 0))
            data = (EXAMPLES / f"{example}.ipynb").read_bytes() if example else b"not a notebook"
            archive.writestr(info, data)
    return path


def grade_zip(tmp_path: Path, members: dict[str, str | None]) -> tuple[Path, list[dict[str, str]]]:
    download = write_zip(tmp_path / "download.zip", members)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["grade", "convolve-by-hand", str(download), "--out", str(out),
                                       "--seed", "3", "--quiet", "--sandbox", SANDBOX, "-j", "2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"))))
    return out, rows


def scores(rows: list[dict[str, str]]) -> dict[str, float]:
    return {row["student_id"]: round(float(row["score"]), 2) for row in rows}


@pytest.fixture(scope="module")
def canvas(tmp_path_factory):
    return grade_zip(tmp_path_factory.mktemp("canvas"), CANVAS)


@pytest.fixture(scope="module")
def moodle(tmp_path_factory):
    return grade_zip(tmp_path_factory.mktemp("moodle"), MOODLE)


def test_canvas_zip_grades_each_students_newest_notebook_once(canvas):
    _, rows = canvas
    assert scores(rows) == EXPECTED_CANVAS
    late = {row["student_id"]: row["late"] for row in rows}
    assert late == {"1001": "", "1002": "late", "1003": ""}
    names = {row["student_id"]: row["name"] for row in rows}
    assert names["1002"] == "núñezjosé"


def test_moodle_zip_grades_one_notebook_per_student(moodle):
    _, rows = moodle
    assert scores(rows) == EXPECTED_MOODLE
    assert {row["name"] for row in rows} == {"Ann Lee", "José Núñez", "Bob Smith"}


def test_canvas_export_is_the_gradebook_import_file(canvas):
    out, _ = canvas
    result = CliRunner().invoke(main, ["export", str(out), "--to", "canvas", "--assignment",
                                       "Lab 2", "--assignment-id", "77"])
    assert result.exit_code == 0, result.output
    lines = (out / "canvas-grades.csv").read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == "Student,ID,SIS User ID,SIS Login ID,Section,Lab 2 (77)"
    assert lines[1] == "    Points Possible,,,,,20.00"
    assert sorted(lines[2:-1]) == ["leeann,1001,,,,20.00", "núñezjosé,1002,,,,11.83",
                                   "smithbob,1003,,,,9.00"]
    assert "Canvas" in result.output  # no bulk feedback upload: said so


def test_moodle_export_is_the_worksheet_and_the_feedback_zip(moodle):
    out, _ = moodle
    result = CliRunner().invoke(main, ["export", str(out), "--to", "moodle"])
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO((out / "moodle-grades.csv").read_text(encoding="utf-8"))))
    assert table[0][:6] == ["Identifier", "Full name", "Email address", "Status", "Grade",
                            "Maximum Grade"]
    grades = {row[0]: row[4] for row in table[1:]}
    assert grades == {"Participant 2001": "20.00", "Participant 2002": "19.00",
                      "Participant 2003": "17.00"}
    with zipfile.ZipFile(out / "moodle-feedback.zip") as archive:
        assert sorted(archive.namelist()) == [
            "Ann Lee_2001_assignsubmission_file_/feedback.html",
            "Bob Smith_2003_assignsubmission_file_/feedback.html",
            "José Núñez_2002_assignsubmission_file_/feedback.html"]


def test_a_plain_folder_is_graded_in_place_without_a_roster(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["grade", "convolve-by-hand", str(EXAMPLES), "--out", str(out),
                                       "--seed", "3", "--quiet", "--sandbox", SANDBOX, "--only", "relu"])
    assert result.exit_code == 0, result.output
    assert not (out / "roster.json").exists() and not (out / "collected").exists()
    header = (out / "gradebook.csv").read_text().splitlines()[0]
    assert header.startswith("submission,path,score")
