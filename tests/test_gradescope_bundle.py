"""The Gradescope bundle (issue 16): its layout, its shipped plan and manifest, its self-test,
and a bundle that cannot grade as built refusing to (it never runs a reference instead).
The runs in Gradescope's container are in test_gradescope_container.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.plan.planner import NO_PLANNING, Plan, make_plan
from grader.spec import load_assignment
from grader.tools.gradescope import (
    BrokenBundleError,
    Bundle,
    bundle_summary,
    container_advice,
    requirements,
    run_autograder,
    write_gradescope_bundle,
)
from tests.conftest import EXAMPLES

NAME = "convolve-by-hand"


@pytest.fixture(scope="module")
def spec():
    return load_assignment(NAME)


@pytest.fixture(scope="module")
def bundle(spec, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gradescope") / "bundle"
    write_gradescope_bundle(spec, folder, seed=3)
    return folder


def test_bundle_layout(bundle, spec):
    with zipfile.ZipFile(bundle / "autograder.zip") as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        run_autograder_text = archive.read("run_autograder").decode()
        manifest = json.loads(archive.read("private/bundle.json"))
        placeholder = archive.read(f"private/spec/reference/{NAME}.ipynb").decode()
    plan = manifest["plan"]
    assert {"setup.sh", "run_autograder", "grader/pyproject.toml", "grader/grader/cli.py",
            "grader/grader/child/runner.py", "private/bundle.json",
            f"private/plans/{plan}/plan.json", f"private/plans/{plan}/plan.npz",
            f"private/spec/assignments/{NAME}/checks.py"} <= names
    # the source is the grader's alone: no assignment, no reference beside it
    assert not any(n.startswith(("grader/assignments", "grader/reference")) for n in names)
    assert not any("/examples/" in n or "__pycache__" in n for n in names)
    assert "BEGIN SOLUTION" not in placeholder and "not shipped" in placeholder
    assert manifest["seed"] == 3 and plan.endswith("-3") and manifest["fingerprint"] == spec.fingerprint()
    assert manifest["self_test"]["score"] == manifest["self_test"]["max_score"] == 20
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    for script in ("setup.sh", "run_autograder"):  # bash reads them (they run on Gradescope)
        assert subprocess.run(["bash", "-n", str(bundle / script)]).returncode == 0
    assert f"run-autograder {NAME}" in run_autograder_text and "--bundle" in run_autograder_text


def test_numpy_assignments_install_no_tensorflow(spec, bundle):
    assert not any(r.startswith("tensorflow") for r in requirements(spec))
    assert any(r.startswith("tensorflow") for r in requirements(load_assignment("build-cnn")))
    setup = (bundle / "setup.sh").read_text()
    assert "tensorflow" not in setup and "numpy" in setup and "gradescope setup" in setup


def test_the_summary_names_the_plan_the_self_test_and_the_container(bundle):
    text = "\n".join(bundle_summary(bundle))
    assert "20/20" in text and "seed 3" in text
    assert container_advice(NAME) == (container_advice(NAME)[0], False)
    assert "fits Gradescope's default container (768 MB)" in container_advice(NAME)[0]
    advice, warning = container_advice("build-cnn")
    assert warning and "does NOT fit" in advice and "1.5 GB" in advice
    assert container_advice("unmeasured")[1]


def test_the_shipped_assignment_finds_its_plan_without_its_reference(bundle):
    shipped = Bundle.open(bundle / "private").assignment()
    assert shipped.reference.read_text().count("not shipped") == 1
    assert shipped.fingerprint() == Bundle.open(bundle / "private").manifest["fingerprint"]


def _root_with(bundle: Path, tmp_path: Path, notebook: Path) -> Path:
    root = tmp_path / "autograder"
    shutil.copytree(bundle, root / "source", ignore=shutil.ignore_patterns("autograder.zip"))
    (root / "submission").mkdir()
    shutil.copy(notebook, root / "submission" / notebook.name)
    return root


@pytest.fixture
def clean_environment(monkeypatch):
    """run_autograder sets the bundle's variables in its process: undone after each test."""
    for variable in ("XDG_CACHE_HOME", NO_PLANNING):
        monkeypatch.setenv(variable, os.environ.get(variable, ""))
        monkeypatch.delenv(variable)


def test_a_bundle_without_its_plan_refuses_to_grade(bundle, tmp_path, clean_environment):
    root = _root_with(bundle, tmp_path, EXAMPLES / "reference.ipynb")
    shutil.rmtree(root / "source" / "private" / "plans")
    status = run_autograder(NAME, root, bundle=root / "source" / "private", sandbox="off")
    results = json.loads((root / "results" / "results.json").read_text())
    assert status == 1 and results["score"] == 0
    assert "The autograder is broken" in results["output"] and "plan" in results["output"]
    assert not (root / "source" / "private" / "plans").exists()  # nothing was planned


def test_a_bundle_whose_checks_changed_refuses_to_grade(bundle, tmp_path, clean_environment):
    root = _root_with(bundle, tmp_path, EXAMPLES / "reference.ipynb")
    checks = root / "source" / "private" / "spec" / "assignments" / NAME / "checks.py"
    checks.write_text(checks.read_text() + "\n# edited after the plan was made\n")
    status = run_autograder(NAME, root, bundle=root / "source" / "private", sandbox="off")
    results = json.loads((root / "results" / "results.json").read_text())
    assert status == 1 and results["score"] == 0 and "changed after its plan" in results["output"]


def test_no_planning_forbids_running_the_reference(spec, tmp_path, monkeypatch):
    monkeypatch.setenv(NO_PLANNING, "1")
    with pytest.raises(Exception, match=NO_PLANNING):
        make_plan(spec, 5, cache=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_self_test_catches_data_that_does_not_match(bundle, tmp_path):
    private = tmp_path / "private"
    shutil.copytree(bundle / "private", private)
    plan = Bundle.open(private).plan_folder
    data = json.loads((plan / "plan.json").read_text())
    first = next(iter(data["answers"]))
    data["answers"][first]["status"] = "error"  # an answer the checks will not accept
    (plan / "plan.json").write_text(json.dumps(data))
    done = subprocess.run([sys.executable, "-m", "grader.tools.gradescope", "verify", str(private)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "do not earn full marks" in done.stderr


def test_broken_bundle_error_is_a_grader_error():
    from grader.errors import GraderError

    assert issubclass(BrokenBundleError, GraderError)


# --- the plan's provided files, relative to its folder (a plan can be shipped) ----------------

def test_plan_home_files_are_stored_relative_and_old_absolute_paths_still_load(tmp_path):
    folder = tmp_path / "plan"
    (folder / "home").mkdir(parents=True)
    (folder / "home" / "data.npz").write_bytes(b"x")
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(b"y")
    Plan(seed=1, home_files={"a/data.npz": folder / "home" / "data.npz",
                             "b.bin": elsewhere}).save(folder)
    stored = json.loads((folder / "plan.json").read_text())["home_files"]
    assert stored == {"a/data.npz": "home/data.npz", "b.bin": str(elsewhere)}
    moved = tmp_path / "moved"
    shutil.move(folder, moved)
    loaded = Plan.load(moved)
    assert loaded.home_files["a/data.npz"] == moved / "home" / "data.npz"
    assert loaded.home_files["a/data.npz"].read_bytes() == b"x"
    assert loaded.home_files["b.bin"] == elsewhere  # an old plan's absolute path


# --- bundles made before plans were shipped -------------------------------------------------

@pytest.mark.slow
def test_run_autograder_without_a_bundle_still_grades(spec, tmp_path):
    """The entry point of old bundles (python -m grader.templates run-autograder NAME ...)."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    shutil.copy(EXAMPLES / "partly-correct.ipynb", root / "submission" / "my work.ipynb")
    done = subprocess.run([sys.executable, "-m", "grader.templates", "run-autograder", NAME,
                           "--root", str(root), "--seed", "3", "--cache", str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == pytest.approx(11.8333, abs=1e-3)


# --- moved from test_ci_template.py: the command, the notebook picked, the script -----------

def test_gradescope_command_writes_the_zip_and_says_what_it_holds(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    result = CliRunner().invoke(main, ["gradescope", NAME, "--out", str(tmp_path / "gs"),
                                       "--seed", "3"])
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(tmp_path / "gs" / "autograder.zip").namelist()
    assert "setup.sh" in names and "run_autograder" in names
    assert "20/20" in result.output and "768 MB" in result.output


def test_ci_template_with_gradescope_says_the_same_of_its_bundle(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    result = CliRunner().invoke(main, ["ci-template", NAME, "--out", str(tmp_path / "ci"),
                                       "--gradescope", str(tmp_path / "gs"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "gs" / "autograder.zip").is_file()
    assert "self-test" in result.output and "20/20" in result.output and "768 MB" in result.output


def test_pick_notebook(tmp_path):
    from grader.tools.gradescope import pick_notebook

    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "b.ipynb").write_text("{}")
    assert pick_notebook(tmp_path, "x.ipynb")[0] is None
    assert "2 notebooks" in pick_notebook(tmp_path, "x.ipynb")[1]
    assert pick_notebook(tmp_path, "b.ipynb")[0] == tmp_path / "b.ipynb"


def _script_environment(bundle: Path, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable,
               PYTHONPATH=str(bundle / "grader"))
    return env


def _script(bundle: Path, root: Path) -> subprocess.CompletedProcess:
    """The bundle's run_autograder, as Gradescope calls it, against a simulated root,
    importing the bundle's own grader."""
    shutil.copytree(bundle, root / "source", ignore=shutil.ignore_patterns("autograder.zip"),
                    dirs_exist_ok=True)
    return subprocess.run(["bash", str(root / "source" / "run_autograder")],
                          env=_script_environment(bundle, root), capture_output=True, text=True,
                          timeout=600)


REQUIRED = os.environ.get("GRADER_REQUIRE_SANDBOX") == "1"  # set by CI: never skip there
DETECT = ("from grader.execution.sandbox import detect\n"
          "chosen = detect('auto')\nprint(chosen.kind, chosen.reason)")


def _require_protection(bundle: Path, root: Path) -> None:
    """Skip (fail where isolation is required) when the notebook would have no protection
    in run_autograder's environment: no bubblewrap, and uid 65534 cannot run this Python
    (a checkout or a venv under root's 0700 home). run_autograder then rightly refuses to
    grade; the sandbox's own tests skip the same way (tests/test_sandbox.py)."""
    done = subprocess.run([sys.executable, "-c", DETECT], env=_script_environment(bundle, root),
                          capture_output=True, text=True, timeout=300, cwd=bundle / "grader")
    kind, _, reason = done.stdout.strip().partition(" ")
    assert done.returncode == 0, done.stderr[-2000:]
    if kind == "none":
        if REQUIRED:
            pytest.fail(f"isolation required but unavailable: {reason}")
        pytest.skip(f"no protection for the notebook, so run_autograder refuses: {reason}")


def test_run_autograder_without_a_notebook(bundle, tmp_path):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    done = _script(bundle, root)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and f"upload {NAME}.ipynb" in results["output"]


@pytest.mark.slow
def test_run_autograder_grades_a_submission_with_the_shipped_plan(bundle, spec, tmp_path):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    shutil.copy(EXAMPLES / "partly-correct.ipynb", root / "submission" / "my work.ipynb")
    _require_protection(bundle, root)
    done = _script(bundle, root)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == pytest.approx(11.8333, abs=1e-3)
    assert {t["tags"][0] for t in results["tests"]} == {q.id for q in spec.questions}
    assert results["extra_data"]["assignment"] == NAME
    plan = json.loads((bundle / "private" / "bundle.json").read_text())["plan"]
    assert [p.name for p in (root / "grader-work" / ".plan").iterdir()] == [plan]
    assert (root / "grader-work" / ".plan" / plan).is_symlink()  # the shipped plan, not a new one


def test_time_limits_scale_to_the_cpu_quota_within_gradescopes_ten_minutes():
    from grader.spec import Limits
    from grader.tools.gradescope import NOTEBOOK_CAP, scaled_limits

    limits = Limits(cell_timeout=240, notebook_timeout=300, probe_timeout=60)
    assert scaled_limits(limits, 2.0) == limits
    half = scaled_limits(limits, 0.5)
    assert (half.cell_timeout, half.probe_timeout) == (480, 120)
    assert half.notebook_timeout == NOTEBOOK_CAP == 540  # not 600: the grader needs its time
    assert scaled_limits(Limits(notebook_timeout=900), 0.5).notebook_timeout == 900  # never less


def test_data_files_named_by_the_assignments_variables_are_shipped(tmp_path, monkeypatch):
    from grader.errors import GraderError
    from grader.tools.gradescope.build import _ship_environment

    spec = load_assignment("build-cnn")  # [[provide]] env = ["GRADER_MNIST"]
    data = tmp_path / "mnist.npz"
    data.write_bytes(b"real mnist")
    monkeypatch.setenv("GRADER_MNIST", str(data))
    shipped = _ship_environment(spec, tmp_path / "private")
    assert shipped == {"GRADER_MNIST": "data/GRADER_MNIST/mnist.npz"}
    assert (tmp_path / "private" / shipped["GRADER_MNIST"]).read_bytes() == b"real mnist"
    monkeypatch.setenv("GRADER_MNIST", "keras")  # a name, not a file: nothing to ship
    with pytest.raises(GraderError, match="ships data files"):
        _ship_environment(spec, tmp_path / "private")


def test_the_zip_never_carries_bytecode(tmp_path):
    """A Python run in the bundle's tree (the self-test imports the checks) leaves bytecode
    where PYTHONDONTWRITEBYTECODE is not set: it is not shipped."""
    from grader.tools.gradescope.build import PRIVATE, _zip

    for name in ("setup.sh", "run_autograder"):
        (tmp_path / name).write_text("#!/bin/sh\n")
    for folder in ("grader/grader", f"{PRIVATE}/spec/assignments/a"):
        (tmp_path / folder / "__pycache__").mkdir(parents=True)
        (tmp_path / folder / "checks.py").write_text("x = 1\n")
        (tmp_path / folder / "__pycache__" / "checks.cpython-311.pyc").write_bytes(b"\0")
        (tmp_path / folder / "stray.pyc").write_bytes(b"\0")
    names = zipfile.ZipFile(_zip(tmp_path)).namelist()
    assert f"{PRIVATE}/spec/assignments/a/checks.py" in names and "grader/grader/checks.py" in names
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
