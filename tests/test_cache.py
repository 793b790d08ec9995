"""Stored observations: re-scoring after a change of points runs no notebook; a change of
what runs (the notebook's code, hidden inputs, prelude, limits) runs it again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import grader.execution.runners as runners
from grader.execution.cache import ExecutionKeys, ObservationCache
from grader.grading import GradeOptions, grade
from grader.plan import make_plan
from grader.spec import load_assignment
from grader.spec.notebook import CodeCell, read_code_cells
from tests.conftest import EXAMPLES, SANDBOX, copy_assignment

NOTEBOOKS = ("reference", "partly-correct", "untouched")


@pytest.fixture
def executed(monkeypatch):
    """The names of the submissions whose notebooks actually ran."""
    names: list[str] = []
    real_execute = runners.execute

    def counting(name, *args, **kwargs):
        names.append(name)
        return real_execute(name, *args, **kwargs)

    monkeypatch.setattr(runners, "execute", counting)
    return names


def _grade(out: Path, paths: list[Path], **options) -> dict[str, float]:
    assignment = load_assignment("convolve-by-hand")
    run = grade(assignment, paths, GradeOptions(out=out, jobs=2, sandbox=SANDBOX, **options))
    return {r.submission: r.score for r in run.results}


def _scores_on_disk(out: Path) -> dict[str, tuple[float, float]]:
    found = {}
    for path in out.glob("submissions/*/results.json"):
        data = json.loads(path.read_text())
        found[path.parent.name] = (data["score"], data["extra_data"]["max_score"])
    return found


@pytest.mark.slow
def test_a_change_of_points_is_rescored_without_running_any_notebook(tmp_path, monkeypatch, executed):
    folder = copy_assignment(tmp_path, monkeypatch)
    paths = [EXAMPLES / f"{name}.ipynb" for name in NOTEBOOKS]
    out = tmp_path / "out"
    first = _grade(out, paths, seed=5)
    assert sorted(executed) == sorted(NOTEBOOKS)
    assert first == {"reference": 20, "partly-correct": pytest.approx(11.8333, abs=1e-3),
                     "untouched": 0}

    checks = folder / "checks.py"  # the instructor doubles the points of output_size
    text = checks.read_text()
    assert text.count('@check("output_size", points=2)') == 1
    checks.write_text(text.replace('@check("output_size", points=2)', '@check("output_size", points=4)'))
    executed.clear()
    second = _grade(out, paths)  # no --seed: the folder's seed is kept
    assert executed == []  # nothing ran: every submission was scored from stored observations
    assert second["reference"] == 22 and second["untouched"] == 0
    assert second["partly-correct"] != first["partly-correct"]
    assert _scores_on_disk(out)["reference"] == (22, 22)


@pytest.mark.slow
def test_changing_what_runs_runs_it_again(tmp_path, monkeypatch, executed):
    folder = copy_assignment(tmp_path, monkeypatch)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for name in NOTEBOOKS:
        shutil.copy(EXAMPLES / f"{name}.ipynb", submissions)
    out = tmp_path / "out"
    _grade(out, [submissions], seed=5)
    executed.clear()

    # a student's resubmission: only that notebook runs again
    notebook = json.loads((submissions / "untouched.ipynb").read_text())
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                              "execution_count": None, "source": "late = 1"})
    (submissions / "untouched.ipynb").write_text(json.dumps(notebook))
    _grade(out, [submissions])
    assert executed == ["untouched"]

    # a new time limit changes how every notebook runs: all run again
    executed.clear()
    spec = folder / "assignment.toml"
    text = spec.read_text()
    assert text.count("cell_timeout = 30 ") == 1
    spec.write_text(text.replace("cell_timeout = 30 ", "cell_timeout = 29 "))
    _grade(out, [submissions])
    assert sorted(executed) == sorted(NOTEBOOKS)

    # --force ignores what is stored
    executed.clear()
    _grade(out, [submissions], force=True)
    assert sorted(executed) == sorted(NOTEBOOKS)


@pytest.mark.slow
def test_the_key_covers_code_hidden_inputs_and_limits_but_not_points(tmp_path, monkeypatch):
    folder = copy_assignment(tmp_path, monkeypatch)
    assignment = load_assignment("convolve-by-hand")
    cells = read_code_cells(EXAMPLES / "reference.ipynb", 2**30)
    plan = make_plan(assignment, 3, cache=tmp_path / "plans")
    key = ExecutionKeys(assignment, plan).key(cells)
    assert ExecutionKeys(assignment, plan).key(list(cells)) == key
    edited = [*cells[:-1], CodeCell(cells[-1].index, cells[-1].notebook_index,
                                    cells[-1].source + "\n# edited", cells[-1].tags)]
    assert ExecutionKeys(assignment, plan).key(edited) != key
    other_seed = make_plan(assignment, 4, cache=tmp_path / "plans")
    assert ExecutionKeys(assignment, other_seed).key(cells) != key

    before = assignment.fingerprint()
    checks = folder / "checks.py"
    checks.write_text(checks.read_text().replace("points=2)", "points=3)", 1))
    repointed = load_assignment("convolve-by-hand")
    assert repointed.fingerprint() != before  # a new plan: its checks differ
    same_calls = make_plan(repointed, 3, cache=tmp_path / "plans")
    assert ExecutionKeys(repointed, same_calls).key(cells) == key

    spec = folder / "assignment.toml"
    text = spec.read_text()
    assert text.count("probe_timeout = 2 ") == 1
    spec.write_text(text.replace("probe_timeout = 2 ", "probe_timeout = 3 "))
    limited = load_assignment("convolve-by-hand")
    assert ExecutionKeys(limited, make_plan(limited, 3, cache=tmp_path / "plans")).key(cells) != key


def test_a_damaged_cache_entry_is_a_miss_not_a_failure(tmp_path):
    cache = ObservationCache(tmp_path)
    folder = cache.root / "ab" / "abcdef"
    folder.mkdir(parents=True)
    (folder / "observations.json").write_text("{not json")
    assert cache.get("abcdef", "someone") is None


def test_the_key_covers_the_code_that_runs_beside_the_notebook(tmp_path):
    """A change to the child's modules or the probe kit runs notebooks again."""
    from grader.execution.cache import PACKAGE as package
    from grader.execution.cache import child_code_digest

    copy = tmp_path / "grader"
    for folder in ("child", "kit"):
        shutil.copytree(package / folder, copy / folder)
    before = child_code_digest(copy)
    assert before == child_code_digest(package)
    kit = copy / "kit" / "keras.py"
    kit.write_text(kit.read_text() + "\n# changed\n")
    assert child_code_digest(copy) != before
    changed = child_code_digest(copy)
    kit.unlink()
    assert child_code_digest(copy) not in (before, changed)
