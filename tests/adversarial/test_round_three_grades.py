"""Round three (issue 21): another student's grade, and the reports that show them.

- **Impersonation in an LMS download.** A Canvas attachment's display name is the student's
  own text: Alice naming hers ``x\\bobjones_1002_9999_lab.ipynb`` (or with ``/``, ``..``, a
  wrapper folder, Moodle's folder or flat layout) must stay Alice's. Bob keeps his own
  notebook, his own score, and his own row in the export.
- **The root fallback** (no namespaces, the grader root): two notebooks graded at once run as
  two users, so one that kills every process it may (``kill(-1)`` for 15 s) leaves the other
  its 20 points; the output folder is root's alone, so the untouched template that reads the
  plan's answers out of ``OUT/.plan`` to forge them earns its 0 (and, as a control, earns
  points where the plan is readable: the notebook running as the grader's user).
- **Reports** show a student's text and never act on it: a file name with line breaks adds no
  workflow command, an error message adds no heading or HTML to the job summary, an LMS
  member name with terminal escapes reaches the terminal as ``\\x1b``.
- **Exports** never write one platform's ids as another's.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.execution import users
from grader.execution.intake import ROSTER_FILE
from grader.report.formats import github_annotations, markdown_summary, summary_table, terminal_text
from grader.results import CheckInfo, CheckResult, SubmissionResult
from grader.tools.export import export_run
from grader.tools.lms.collect import collect
from grader.tools.lms.grades import ExportError
from tests.adversarial.test_fallback import _readable_python, _traversable
from tests.conftest import EXAMPLES, SANDBOX

# --------------------------------------------------------------------------- LMS downloads


def notebook(tag: str) -> bytes:
    return ('{"cells": [], "metadata": {"tag": "' + tag + '"}, "nbformat": 4, "nbformat_minor": 5}').encode()


def tag_of(path: Path) -> str:
    return json.loads(path.read_text())["metadata"]["tag"]


def make_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """Members in this order, names verbatim (a name may repeat, as zip files allow)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 20, 12, 0, 0)), data)
    return path


BOB_CANVAS = ("bobjones_1002_5002_lab.ipynb", notebook("bob"))

#: Alice's attachment, named to pass for Bob's; who each member must be taken for.
CANVAS_IMPERSONATIONS = {
    "backslash": ("alicesmith_1001_5001_x\\bobjones_1002_9999_lab.ipynb", "1001"),
    "slash": ("alicesmith_1001_5001_x/bobjones_1002_9999_lab.ipynb", "1001"),
    "leading-slash": ("alicesmith_1001_5001_/bobjones_1002_9999_lab.ipynb", "1001"),
    "deep": ("alicesmith_1001_5001_a/b\\c/bobjones_1002_9999_lab-7.ipynb", "1001"),
    "wrapped": ("course/submissions/alicesmith_1001_5001_x/bobjones_1002_9999_lab.ipynb", "1001"),
    "late": ("alicesmith_LATE_1001_5001_x\\bobjones_1002_9999_lab.ipynb", "1001"),
    "anonymous": ("anon_Ab3dE_5001_x\\anon_Zz9yX_9999_lab.ipynb", "anon_Ab3dE"),
    "dot-dot": ("alicesmith_1001_5001_..\\..\\bobjones_1002_9999_lab.ipynb", None),  # refused
}


@pytest.mark.parametrize("variant", sorted(CANVAS_IMPERSONATIONS))
def test_a_canvas_display_name_never_names_another_student(variant, tmp_path):
    name, owner = CANVAS_IMPERSONATIONS[variant]
    download = make_zip(tmp_path / "canvas.zip", [BOB_CANVAS, (name, notebook("alice"))])

    found = collect(download, tmp_path / "out")

    assert found.layout == "canvas"
    taken = {s.student_id: tag_of(s.notebook) for s in found.submissions}
    expected = {"1002": "bob"} if owner is None else {"1002": "bob", owner: "alice"}
    assert taken == expected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{i}.ipynb" for i in expected)
    if owner is None:
        assert "zip slip" in {s.source: s.reason for s in found.skipped}[name]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_repeated_member_and_ids_that_differ_only_in_case_stay_apart(tmp_path):
    download = make_zip(tmp_path / "canvas.zip", [
        BOB_CANVAS, BOB_CANVAS,  # the same member twice: still Bob's, once
        ("anon_Ab3dE_5003_lab.ipynb", notebook("anonymous one")),
        ("anon_ab3de_5004_lab.ipynb", notebook("anonymous two")),
    ])

    found = collect(download, tmp_path / "out")

    assert {s.student_id: tag_of(s.notebook) for s in found.submissions} == {
        "1002": "bob", "anon_Ab3dE": "anonymous one", "anon_ab3de": "anonymous two"}


#: Moodle: the participant id is the first folder's or file's prefix, never a later one.
ALICE, BOB = "Alice Smith_2001_assignsubmission_file", "Bob Jones_2002_assignsubmission_file"
MOODLE_IMPERSONATIONS = {
    "folder-then-backslash": f"{ALICE}_/x\\{BOB}_lab.ipynb",
    "folder-then-folder": f"{ALICE}_/{BOB}_/lab.ipynb",
    "flat-with-backslash": f"{ALICE}_x\\{BOB}_/lab.ipynb",
    "flat-with-slash": f"{ALICE}_x/{BOB}_lab.ipynb",
    "moodle-4.1-folder": f"{ALICE}/{BOB}_/lab.ipynb",
}


@pytest.mark.parametrize("variant", sorted(MOODLE_IMPERSONATIONS))
def test_a_moodle_file_name_never_names_another_participant(variant, tmp_path):
    bob = ("Bob Jones_2002_assignsubmission_file_/lab.ipynb", notebook("bob"))
    download = make_zip(tmp_path / "moodle.zip", [bob, (MOODLE_IMPERSONATIONS[variant], notebook("alice"))])

    found = collect(download, tmp_path / "out")

    assert found.layout == "moodle"
    assert {s.student_id: tag_of(s.notebook) for s in found.submissions} == {"2002": "bob", "2001": "alice"}


def test_an_unzipped_canvas_folder_with_a_backslash_name_is_read_as_the_zip(tmp_path):
    folder = tmp_path / "unzipped"
    (folder / "alicesmith_1001_5001_x").mkdir(parents=True)
    (folder / "alicesmith_1001_5001_x" / "bobjones_1002_9999_lab.ipynb").write_bytes(notebook("alice"))
    (folder / "alicesmith_1001_5003_y\\bobjones_1002_9998_lab.ipynb").write_bytes(notebook("alice 2"))
    (folder / BOB_CANVAS[0]).write_bytes(BOB_CANVAS[1])

    found = collect(folder, tmp_path / "out")

    assert {s.student_id: tag_of(s.notebook) for s in found.submissions} == {"1001": "alice 2", "1002": "bob"}


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[H\x9b31m"

#: A Canvas download where Alice (the untouched template) names her notebook as Bob's in two
#: ways, Carol (partly correct) as Bob's through "..", refused: each keeps their own; Bob keeps 20.
CANVAS_CLASS = [
    ("bobjones_1002_5002_lab.ipynb", "reference"),
    ("alicesmith_1001_5001_x\\bobjones_1002_9999_lab.ipynb", "untouched"),
    ("alicesmith_1001_5003_x/bobjones_1002_9998_lab-1.ipynb", "untouched"),
    ("carolwhite_1003_5004_lab.ipynb", "partly-correct"),
    ("carolwhite_1003_5005_..\\..\\bobjones_1002_9997_lab-1.ipynb", "untouched"),  # refused
    (f"carolwhite_1003_5006_{ESCAPES}notes.pdf", None),
]


@pytest.fixture(scope="module")
def canvas_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("canvas-class")
    download = make_zip(folder / "download.zip", [
        (name, (EXAMPLES / f"{example}.ipynb").read_bytes() if example else b"%PDF-1.4")
        for name, example in CANVAS_CLASS])
    out = folder / "out"
    done = CliRunner().invoke(main, ["grade", "convolve-by-hand", str(download), "--out", str(out),
                                     "--seed", "3", "--sandbox", SANDBOX, "-j", "2"])
    return out, done


@pytest.mark.slow
def test_alice_cannot_take_bobs_place_in_the_grades_or_the_export(canvas_class):
    out, done = canvas_class
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"))))
    assert {r["student_id"]: (r["name"], round(float(r["score"]), 2)) for r in rows} == {
        "1001": ("alicesmith", 0.0), "1002": ("bobjones", 20.0), "1003": ("carolwhite", 11.83)}
    exported = export_run(out, "canvas")
    lines = exported.files[0].read_text(encoding="utf-8").splitlines()
    ids = {row[1]: row[-1] for row in csv.reader(lines[2:])}
    assert ids == {"1001": "0.00", "1002": "20.00", "1003": "11.83"}


@pytest.mark.slow
def test_an_lms_member_name_reaches_the_terminal_inert(canvas_class):
    out, done = canvas_class
    assert done.exit_code == 0, done.output
    assert "\x1b" not in done.output and "\x07" not in done.output and "\x9b" not in done.output
    assert "not graded: download.zip: carolwhite_1003_5006_\\x1b]0;pwned\\x07\\x1b[2J" in done.output


# --------------------------------------------------------------------------- exports


@pytest.mark.parametrize(("collected", "to"), [("canvas", "moodle"), ("moodle", "canvas")])
def test_one_platforms_ids_are_never_exported_as_anothers(collected, to, tmp_path):
    roster = {"1002": {"student_id": "1002", "name": "bobjones", "late": False,
                       "source": "bobjones_1002_5002_lab.ipynb", "layout": collected}}
    (tmp_path / ROSTER_FILE).write_text(json.dumps(roster))

    with pytest.raises(ExportError, match=f"collected from a {collected.capitalize()} download"):
        export_run(tmp_path, to)  # type: ignore[arg-type]
    done = CliRunner().invoke(main, ["export", str(tmp_path), "--to", to])
    assert done.exit_code != 0 and f"--to {collected}" in done.output
    assert not (tmp_path / f"{to}-grades.csv").exists()


# --------------------------------------------------------------------------- reports

#: A file name that would end an annotation and start workflow commands of its own.
INJECTED_PATH = "zz.ipynb\n::stop-commands::pwned\n::notice title=zz-bob::20 / 20\r::error::x"
FAKE_HEADING = "<h1>zz-bob-untouched: 20 / 20</h1> | 9 | [x](http://e.vil)\n### zz-bob-untouched: 20 / 20"


def _failed(path: str = "s.ipynb", message: str = "ValueError: wrong", problem: str | None = None,
            submission: str = "s") -> SubmissionResult:
    info = CheckInfo(id="c", name="conv2d matches", question="conv2d", points=1.0, public=False)
    return SubmissionResult(submission=submission, path=path, assignment="a", problem=problem,
                            checks=[CheckResult(info, False, message)])


@pytest.mark.parametrize("variant", ["path", "message", "both"])
def test_annotations_add_no_workflow_command(variant):
    path = INJECTED_PATH if variant in ("path", "both") else "s.ipynb"
    message = INJECTED_PATH if variant in ("message", "both") else "wrong"

    lines = github_annotations([_failed(path, message), _failed("t.ipynb", "also wrong")])

    assert len(lines) == 2
    assert all("\n" not in line and "\r" not in line for line in lines)
    assert [line.split(" ", 1)[0] for line in lines] == ["::error", "::error"]
    assert [line.count("::") for line in lines] == [2, 2]  # the command's own, nothing more
    if variant != "message":
        assert lines[0].startswith("::error file=zz.ipynb%0A%3A%3Astop-commands%3A%3Apwned%0A")


@pytest.mark.parametrize("where", ["problem", "message", "submission"])
def test_the_job_summary_shows_a_students_text_as_text(where):
    result = _failed(message=FAKE_HEADING if where == "message" else "wrong",
                     problem=FAKE_HEADING if where == "problem" else None,
                     submission=FAKE_HEADING if where == "submission" else "s")

    summary = markdown_summary([result], "convolve-by-hand")

    headings = [line for line in summary.splitlines() if line.startswith("#")]
    assert len(headings) == 2 and headings[0] == "## convolve\\-by\\-hand"
    assert "<h1>" not in summary and "&lt;h1&gt;" in summary
    assert "](http" not in summary
    assert sum(line.startswith("|") for line in summary.splitlines()) == 2  # header and rule only


def test_the_terminal_table_shows_escapes_and_never_acts_on_them():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200, color_system=None)
    note = f"{ESCAPES}\rcovered"
    console.print(summary_table([_failed(problem=note, submission=f"s{ESCAPES}")], "t"))
    shown = console.file.getvalue()

    assert not any(c in shown for c in "\x1b\x07\x9b\r")
    assert "\\x1b]0;pwned\\x07" in shown
    assert terminal_text("a\nb\x1b", one_line=True) == "a\\nb\\x1b"


# --------------------------------------------------------------------------- the root fallback

#: Kills every process its user may signal, over and over, for 15 s; returns normally.
KILLER = textwrap.dedent("""
    import os, signal, time
    end = time.time() + 15
    while os.getuid() != 0 and time.time() < end:  # never as root: that would be the machine
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.005)
""")
#: Reads the plan's answers out of the output folder and answers every probe with them.
PLAN_READER = textwrap.dedent("""
    import glob, json, os
    import numpy as np
    from grader import wire

    def _same(a, b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.shape(a) == np.shape(b) and np.array_equal(a, b)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
        return a == b

    def _forged(name, known):
        def answer(*args, **kwargs):
            for a, k, value in known:
                if _same(list(a), list(args)) and _same(k, kwargs):
                    return value
            raise ValueError("not in the plan")
        return answer

    plan_read = []
    for found in glob.glob(os.path.join(OUT, ".plan", "*", "plan.json")):
        try:
            data = json.load(open(found))
            arrays = wire.load_arrays(open(found[:-4] + "npz", "rb").read())
        except OSError as error:
            plan_read.append(type(error).__name__)
            continue
        plan_read.append("read")
        known = {}
        for probe in data["probes"]:
            reference = data["reference"].get(probe["key"]) or {}
            if reference.get("status") != "ok":
                continue
            value = wire.decode(reference["value"], arrays)
            if probe["kind"] == "value":
                globals()[probe["name"]] = value
            elif probe["kind"] == "call":
                known.setdefault(probe["name"], []).append(
                    (wire.decode(probe["args"], arrays), wire.decode(probe["kwargs"], arrays), value))
        for name, calls in known.items():
            globals()[name] = _forged(name, calls)
""")

#: Run as root with a Python uid 65534 may read (tests.adversarial.test_fallback): grades the
#: batch without namespaces, cold or warm, and prints each score and the output folder's mode.
#: Never as root (the killer would end every process of the machine): the script refuses any
#: other protection. Its notebooks never run as 65534, so the killer cannot reach what another
#: grader on this machine runs as nobody (a bubblewrap child is 65534 seen from outside).
FALLBACK_BATCH = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from grader.execution import users
    from grader.execution.sandbox import CHILD_UID, detect
    from grader.grading import GradeOptions, grade
    from grader.spec import load_assignment

    folder, out, warm = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "warm"
    sandbox = detect("auto")
    if sandbox.kind != "unprivileged":
        sys.exit(f"not the unprivileged fallback: {sandbox.kind} ({sandbox.reason})")
    users.candidates = lambda: [CHILD_UID - n for n in range(1, users.USERS)]
    run = grade(load_assignment("convolve-by-hand"), [folder],
                GradeOptions(out=out, jobs=2, seed=7, sandbox="auto", warm=warm))
    print(json.dumps({"kind": run.sandbox.kind, "mode": oct(out.stat().st_mode & 0o777),
                      "scores": {Path(r.path).stem: r.score for r in run.results}}))
''')


def _batch(folder: Path, out: Path) -> dict[str, Path]:
    """The notebooks of the fallback batch: the killer and its victim sort first, so they
    start together (two jobs); the plan reader knows where the output folder is."""
    folder.mkdir()
    made = {}
    for name, base, cell in (("a-killer", "reference", KILLER),
                             ("b-victim", "reference", "import time\ntime.sleep(3)"),
                             ("c-plan-reader", "untouched", f"OUT = {str(out)!r}\n{PLAN_READER}")):
        book = nbformat.read(str(EXAMPLES / f"{base}.ipynb"), as_version=4)
        book.cells.append(nbformat.v4.new_code_cell(cell))
        nbformat.write(book, str(folder / f"{name}.ipynb"))
        made[name] = folder / f"{name}.ipynb"
    return made


def test_the_plan_reader_forges_full_marks_where_the_plan_is_readable(tmp_path):
    """The control: run as the grader's own user (``--sandbox off``), the plan reader reads
    ``OUT/.plan`` and earns what the reference earns, from the untouched template."""
    out = tmp_path / "out"
    _batch(tmp_path / "in", out)
    reader = tmp_path / "in" / "c-plan-reader.ipynb"
    done = CliRunner().invoke(main, ["grade", "convolve-by-hand", str(reader), "--out", str(out),
                                     "--seed", "7", "--sandbox", "off", "--quiet"])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"))))
    assert {r["submission"]: float(r["score"]) for r in rows} == {"c-plan-reader": 20.0}


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged fallback needs root")
@pytest.mark.parametrize("warm", ["cold", "warm"])
def test_in_the_root_fallback_notebooks_cannot_kill_each_other_nor_read_the_plan(warm, tmp_path):
    package = Path(users.__file__).resolve().parents[1]
    if not _traversable(package):
        pytest.skip(f"uid 65534 cannot reach the grader's source at {package}")
    python = _readable_python()
    if python is None:
        pytest.skip("Python lives where uid 65534 cannot read it, and unshare is missing")
    # where every user may walk (pytest's own folder is root's alone): the output folder
    # itself is all that may keep the notebooks out
    open_folder = Path(tempfile.mkdtemp(prefix="grader-round-three-"))
    open_folder.chmod(0o755)
    out = open_folder / "out"
    _batch(tmp_path / "in", out)
    script = tmp_path / "batch.py"
    script.write_text(FALLBACK_BATCH)
    try:
        done = subprocess.run([*python, str(script), str(tmp_path / "in"), str(out), warm],
                              capture_output=True, text=True, timeout=900, cwd=tmp_path,
                              env={**os.environ, "GRADER_NO_NAMESPACES": "1"})
    finally:
        shutil.rmtree(open_folder, ignore_errors=True)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no private mount namespace to stage a readable Python: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["kind"] == "unprivileged"
    assert found["mode"] == "0o700"
    assert found["scores"] == {"a-killer": 20.0, "b-victim": 20.0, "c-plan-reader": 0.0}


@pytest.mark.skipif(os.geteuid() != 0, reason="leases are taken as root")
def test_two_leases_at_once_are_two_users_and_a_user_comes_back_when_released(monkeypatch):
    monkeypatch.setattr(users, "usable", lambda uid: None)  # the trial is the fallback's own test
    sandbox = users.Sandbox("unprivileged", "test", drop_privileges=True)
    with users.lease(sandbox) as first, users.lease(sandbox) as second:
        assert first is not None and second is not None and first != second
        assert {first, second} <= set(users.candidates())
    with users.lease(sandbox) as again:
        assert again == first
    folder = users.lock_folder()
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_uid == 0
