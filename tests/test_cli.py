"""The command line: exit codes, seeds, validate, --only, broken specs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from grader.cli import main
from tests.conftest import EXAMPLES, copy_assignment


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("grade", "release", "validate", "list"):
        assert command in result.output


def test_console_script_is_installed():
    done = subprocess.run([sys.executable, "-m", "grader.cli", "list"], capture_output=True,
                          text=True, check=True)
    assert "convolve-by-hand" in done.stdout


def test_unknown_assignment_fails_with_a_message(tmp_path):
    result = run("grade", "no-such-assignment", str(EXAMPLES), "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "unknown assignment 'no-such-assignment'" in result.output
    assert "convolve-by-hand" in result.output


def test_missing_path_fails_with_a_message(tmp_path):
    result = run("grade", "convolve-by-hand", str(tmp_path / "nowhere"), "--out", str(tmp_path))
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_unknown_question_fails(tmp_path):
    result = run("grade", "convolve-by-hand", str(EXAMPLES), "--only", "conv3d",
                 "--out", str(tmp_path))
    assert result.exit_code == 1 and "no question 'conv3d'" in result.output


def _results(out, name):
    data = json.loads((out / "submissions" / name / "results.json").read_text())
    data.pop("execution_time")
    return data


@pytest.mark.slow
def test_zero_score_still_exits_zero_and_same_seed_regrades_identically(tmp_path):
    untouched, partly = EXAMPLES / "untouched.ipynb", EXAMPLES / "partly-correct.ipynb"
    for out in ("a", "b"):
        result = run("grade", "convolve-by-hand", str(untouched), str(partly),
                     "--seed", "3", "--out", str(tmp_path / out), "-q")
        assert result.exit_code == 0, result.output
    assert _results(tmp_path / "a", "untouched")["score"] == 0
    assert _results(tmp_path / "a", "partly-correct") == _results(tmp_path / "b", "partly-correct")


@pytest.mark.slow
def test_hidden_inputs_are_fresh_per_run_unless_seeded(tmp_path):
    seeds = []
    for out in ("a", "b"):
        assert run("grade", "convolve-by-hand", str(EXAMPLES / "untouched.ipynb"),
                   "--out", str(tmp_path / out), "-q").exit_code == 0
        seeds.append(json.loads((tmp_path / out / "run.json").read_text())["seed"])
    assert seeds[0] != seeds[1]
    plans = [next((tmp_path / out / ".plan").iterdir()) for out in ("a", "b")]
    arrays = [(p / "plan.npz").read_bytes() for p in plans]
    assert arrays[0] != arrays[1]


def test_only_grades_the_named_question(tmp_path):
    result = run("grade", "convolve-by-hand", str(EXAMPLES / "partly-correct.ipynb"),
                 "--only", "softmax", "--seed", "1", "--out", str(tmp_path), "-q")
    assert result.exit_code == 0
    data = _results(tmp_path, "partly-correct")
    assert {t["tags"][0] for t in data["tests"]} == {"softmax"}
    assert data["score"] == pytest.approx(1.0)


def test_validate_passes_for_the_shipped_assignment():
    result = run("validate", "convolve-by-hand", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "reference earns 20/20" in result.output and "released notebook 0" in result.output


@pytest.fixture
def broken_copy(tmp_path, monkeypatch):
    """A copy of the assignment whose checks the reference cannot pass."""
    folder = copy_assignment(tmp_path, monkeypatch)
    checks = folder / "checks.py"
    checks.write_text(checks.read_text() + "\n\n@check('relu', points=1)\ndef test_wrong(student):\n"
                        "    assert student.relu(-1.0) == 5, 'relu(-1) should be 5'\n")
    return folder


def test_broken_spec_fails_instead_of_grading(broken_copy, tmp_path):
    result = run("grade", "convolve-by-hand", str(EXAMPLES / "reference.ipynb"),
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "reference does not pass the checks" in result.output
    assert "relu(-1) should be 5" in result.output
    assert run("validate", "convolve-by-hand").exit_code == 1


def test_malformed_spec_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "assignments" / "bad"
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text("[assignment\ntitle = 'x'")
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path / "assignments"))
    result = run("grade", "bad", str(EXAMPLES), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and "not valid TOML" in result.output


def test_rescore_applies_a_spec_change_without_running_notebooks(tmp_path, monkeypatch):
    folder = copy_assignment(tmp_path, monkeypatch)
    out = tmp_path / "out"
    assert run("grade", "convolve-by-hand", str(EXAMPLES / "partly-correct.ipynb"), "--seed", "2",
               "--out", str(out), "-q").exit_code == 0
    assert _results(out, "partly-correct")["score"] == pytest.approx(11.8333, abs=1e-3)

    checks = folder / "checks.py"
    checks.write_text(checks.read_text().replace('@check("softmax", points=1)\n@pytest.mark.parametrize'
                                                 '("case"', '@check("softmax", points=5)\n'
                                                 '@pytest.mark.parametrize("case"'))
    monkeypatch.setattr("grader.execution.runners.execute", None)  # rescoring must not execute anything
    result = run("rescore", str(out), "-q")
    assert result.exit_code == 0, result.output
    data = _results(out, "partly-correct")
    assert data["extra_data"]["max_score"] == 24
    assert data["score"] == pytest.approx(11.8333, abs=1e-3)  # it fails the stability check


@pytest.mark.slow
def test_rerun_resumes_an_interrupted_batch_and_force_regrades(tmp_path, monkeypatch):
    import grader.execution.runners as runners

    out = tmp_path / "out"
    paths = [str(EXAMPLES / "partly-correct.ipynb"), str(EXAMPLES / "syntax-error.ipynb")]
    assert run("grade", "convolve-by-hand", *paths, "--out", str(out), "-q").exit_code == 0
    seed = json.loads((out / "run.json").read_text())["seed"]
    first = _results(out, "partly-correct")
    # killed before it finished: neither its results nor its stored observations exist
    shutil.rmtree(out / "submissions" / "syntax-error")
    for stored in list((out / ".cache").rglob("observations.json")):
        if json.loads(stored.read_text())["submission"] == "syntax-error":
            shutil.rmtree(stored.parent)

    executed = []
    real_execute = runners.execute
    monkeypatch.setattr(runners, "execute", lambda name, *a: executed.append(name)
                        or real_execute(name, *a))
    assert run("grade", "convolve-by-hand", *paths, "--out", str(out), "-q").exit_code == 0
    assert executed == ["syntax-error"]
    assert json.loads((out / "run.json").read_text())["seed"] == seed
    assert _results(out, "partly-correct") == first
    assert _results(out, "syntax-error")["score"] == 19
    assert len((out / "gradebook.csv").read_text().splitlines()) == 3

    executed.clear()
    assert run("grade", "convolve-by-hand", *paths, "--out", str(out), "--force", "-q").exit_code == 0
    assert sorted(executed) == ["partly-correct", "syntax-error"]


@pytest.mark.slow
def test_ci_outputs_junit_summary_annotations_and_fail_under(tmp_path, monkeypatch):
    from xml.etree import ElementTree as ET

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    junit = tmp_path / "junit.xml"
    paths = [str(EXAMPLES / "reference.ipynb"), str(EXAMPLES / "syntax-error.ipynb")]
    result = run("grade", "convolve-by-hand", *paths, "--seed", "4", "--out", str(tmp_path / "o"),
                 "--junit", str(junit), "--fail-under", "19.5", "-q")
    assert result.exit_code == 1 and "syntax-error (19)" in result.output
    assert "::error file=" in result.output and "title=relu%3A" in result.output
    suites = {s.get("name"): s for s in ET.parse(junit).getroot()}
    assert suites["syntax-error"].get("failures") == "3"
    assert suites["reference"].get("failures") == "0"
    case = suites["syntax-error"].find("testcase[failure]")
    assert case.get("classname") == "convolve-by-hand.relu"
    assert "relu is not defined" in case.find("failure").get("message")
    text = summary.read_text()
    # names are literal Markdown (escaped punctuation): GitHub shows "syntax-error"
    assert "### syntax\\-error: 19 / 20" in text and "| ReLU | 0 / 1 |" in text
    passing = run("grade", "convolve-by-hand", paths[0], "--seed", "4", "--out",
                  str(tmp_path / "p"), "--fail-under", "20", "-q")
    assert passing.exit_code == 0


@pytest.mark.slow
def test_leftovers_of_another_plan_are_regraded_not_resumed(tmp_path, monkeypatch):
    import grader.execution.runners as runners

    out = tmp_path / "out"
    paths = [str(EXAMPLES / "partly-correct.ipynb")]
    assert run("grade", "convolve-by-hand", *paths, "--seed", "1", "--out", str(out), "-q").exit_code == 0
    manifest = json.loads((out / "run.json").read_text())
    manifest["seed"] = 2  # as left by a `--force --seed 2` run killed before grading anything
    (out / "run.json").write_text(json.dumps(manifest))
    executed = []
    real_execute = runners.execute
    monkeypatch.setattr(runners, "execute", lambda name, *a: executed.append(name)
                        or real_execute(name, *a))
    assert run("grade", "convolve-by-hand", *paths, "--seed", "2", "--out", str(out), "-q").exit_code == 0
    assert executed == ["partly-correct"]
    assert _results(out, "partly-correct")["score"] == pytest.approx(11.8333, abs=1e-3)


def test_attachments_made_by_checks_land_beside_results(tmp_path, monkeypatch):
    folder = copy_assignment(tmp_path, monkeypatch)
    checks = folder / "checks.py"
    checks.write_text(checks.read_text().replace(
        "from grader.authoring import", "from grader.authoring import attach,") + (
        "\n\n@check('relu', points=0)\ndef test_chart(student):\n"
        "    attach('chart.txt', repr(student.relu(np.array([-1.0, 2.0]))).encode())\n"))
    out = tmp_path / "out"
    assert run("grade", "convolve-by-hand", str(EXAMPLES / "reference.ipynb"), "--out", str(out),
               "-q").exit_code == 0
    assert (out / "submissions" / "reference" / "chart.txt").read_text() == "array([0., 2.])"


def test_without_a_terminal_each_finished_submission_is_one_line(tmp_path):
    """A CI log shows the batch moving: one flushed line per submission, its score and time."""
    result = run("grade", "convolve-by-hand", str(EXAMPLES / "untouched.ipynb"),
                 str(EXAMPLES / "partly-correct.ipynb"), "--seed", "3", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "grading convolve-by-hand: 2 submission(s)" in lines
    finished = sorted(line.split("] ", 1)[1].rsplit(" (", 1)[0] for line in lines if line.startswith("["))
    assert finished == ["partly-correct: 11.83/20", "untouched: 0/20"]
    assert all(line.endswith(" s)") for line in lines if line.startswith("["))
