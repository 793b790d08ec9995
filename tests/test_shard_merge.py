"""grade --shard K/N for a CI matrix, and grader merge of the shards' output folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.errors import GraderError
from grader.execution.submission import Submission, discover, shard
from grader.grading import GradeOptions, grade
from grader.report.classview import load
from grader.tools.merge import merge
from tests.conftest import EXAMPLES, SANDBOX

#: Quick examples, two in each of two shards.
NOTEBOOKS = [EXAMPLES / f"{name}.ipynb"
             for name in ("partly-correct", "reference", "syntax-error", "untouched")]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_are_disjoint_cover_everything_and_do_not_depend_on_order(n):
    submissions = [Submission(f"student-{i}", Path(f"student-{i}.ipynb")) for i in range(40)]
    shares = [{s.name for s in shard(submissions, k, n)} for k in range(1, n + 1)]
    assert sum(len(share) for share in shares) == len(submissions)
    assert set().union(*shares) == {s.name for s in submissions}
    assert shares == [{s.name for s in shard(submissions[::-1], k, n)} for k in range(1, n + 1)]


@pytest.mark.parametrize("value", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_shard_must_be_k_of_n(value, tmp_path):
    result = run("grade", "convolve-by-hand", str(EXAMPLES), "--shard", value, "--out", str(tmp_path))
    assert result.exit_code == 2 and "is not K/N with 1 <= K <= N" in result.output


def test_shard_outside_the_cli_is_checked_too():
    with pytest.raises(GraderError, match="K must be between 1 and N"):
        shard([], 3, 2)


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    """The same notebooks graded in one run and in two shards, with the same seed."""
    folder = tmp_path_factory.mktemp("shards")
    one = grade(assignment, NOTEBOOKS, GradeOptions(out=folder / "one", jobs=2, seed=5, sandbox=SANDBOX))
    for k in (1, 2):
        (folder / f"shard-{k}").mkdir()
        shutil.copytree(folder / "one" / ".plan", folder / f"shard-{k}" / ".plan")  # plan once
        part = grade(assignment, NOTEBOOKS, GradeOptions(out=folder / f"shard-{k}", jobs=2, seed=5,
                                                         sandbox=SANDBOX, shard=(k, 2)))
        assert part.results, "each shard of these notebooks holds some"
    return folder, one


def test_merged_shards_are_the_single_run(graded):
    folder, one = graded
    result = run("merge", str(folder / "shard-1"), str(folder / "shard-2"), "--out",
                 str(folder / "merged"), "-q")
    assert result.exit_code == 0, result.output
    assert "merged 4 submission(s) from 2 run(s)" in result.output
    merged = folder / "merged"
    assert (merged / "gradebook.csv").read_text() == (folder / "one" / "gradebook.csv").read_text()
    names = sorted(p.name for p in (merged / "submissions").iterdir())
    assert names == sorted(r.submission for r in one.results)
    manifest = json.loads((merged / "run.json").read_text())
    assert manifest["seed"] == 5 and sorted(manifest["submissions"]) == names
    assert [m["shard"] for m in manifest["merged_from"]] == ["1/2", "2/2"]

    assert sorted(s.name for s in load(merged).submissions) == names  # grader report
    assert run("rescore", str(merged), "-q").exit_code == 0
    assert (merged / "gradebook.csv").read_text() == (folder / "one" / "gradebook.csv").read_text()


def test_shards_do_not_overlap_on_disk(graded):
    folder, one = graded
    shares = [{p.name for p in (folder / f"shard-{k}" / "submissions").iterdir()} for k in (1, 2)]
    assert not shares[0] & shares[1]
    assert shares[0] | shares[1] == {s.name for s in discover(NOTEBOOKS)}
    assert json.loads((folder / "shard-2" / "run.json").read_text())["shard"] == "2/2"


def _edited_copy(source: Path, target: Path, **changes: object) -> Path:
    shutil.copytree(source, target)
    manifest = json.loads((target / "run.json").read_text())
    manifest.update(changes)
    (target / "run.json").write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize("key, value, shown", [
    ("seed", 6, "different seeds"),
    ("spec_fingerprint", "0123456789abcdef", "different spec fingerprints"),
    ("assignment", "build-cnn", "different assignments"),
])
def test_merge_refuses_runs_that_are_not_comparable(graded, tmp_path, key, value, shown):
    folder, _ = graded
    other = _edited_copy(folder / "shard-2", tmp_path / "other", **{key: value})
    with pytest.raises(GraderError, match=shown):
        merge([folder / "shard-1", other], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_merge_refuses_one_name_for_two_submissions(graded, tmp_path):
    folder, _ = graded
    other = _edited_copy(folder / "shard-1", tmp_path / "other")
    name = next((other / "submissions").iterdir()).name
    results = other / "submissions" / name / "results.json"
    data = json.loads(results.read_text())
    data["score"] = 0.5
    results.write_text(json.dumps(data))
    result = run("merge", str(folder / "shard-1"), str(other), "--out", str(tmp_path / "merged"))
    assert result.exit_code == 1 and f"submission {name!r} is in" in result.output


def test_the_same_submission_in_two_runs_is_merged_once(graded, tmp_path):
    folder, _ = graded
    merged = merge([folder / "shard-1", folder / "one"], tmp_path / "merged")
    assert len(merged.results) == 4 and not merged.missing


def test_merge_writes_only_into_a_new_folder(graded, tmp_path):
    folder, _ = graded
    result = run("merge", str(folder / "shard-1"), "--out", str(folder / "shard-2"))
    assert result.exit_code == 1 and "is not empty; merge into a new folder" in result.output
