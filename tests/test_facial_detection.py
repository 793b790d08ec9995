"""facial-detection: what its examples' and the course's own 2023 notebooks' feedback says
(unmodified and offline); data, loader, release and the bias audit hold up. Their scores are
pinned in assignments/facial-detection/examples/expected.toml and checked by
tests/test_expected_scores.py.

One batch grades every example and, when the course's folder is present beside this
repository (../shared/course/mit-2023-lab2), its Part 2 solution and template (TensorFlow in
each child, capped training: under a minute a notebook that trains, on one core), once a
session for both modules (``graded_examples``); `grader validate` is checked on the same
batch's reference and untouched release (same conditions: full marks and zero), and runs for
real with GRADER_SLOW_TESTS=1 (it plans again).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.observations import Observations
from grader.spec import load_assignment
from grader.spec.release import released_text
from tests.conftest import REPO
from tests.test_expected_scores import graded_examples, read_expected

FOLDER = REPO / "assignments" / "facial-detection"
EXAMPLES = FOLDER / "examples"
REFERENCE = REPO / "reference" / "facial-detection.ipynb"
EXPECTED = read_expected("facial-detection")
COURSE_SOLUTION = EXPECTED.course["Part2_FaceDetection_Solution"].path
needs_course = pytest.mark.skipif(not COURSE_SOLUTION.is_file(),
                                  reason=f"the course's notebook is not at {COURSE_SOLUTION}")
MAX = sum(EXPECTED.points.values())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return graded_examples("facial-detection", tmp_path_factory)


def test_validate_conditions_hold_on_the_batch(graded):
    """What `grader validate` asks: the reference loses nothing, the release earns nothing."""
    results, _ = graded
    assert results["reference"].score == MAX
    assert results["untouched"].score == 0


@needs_course
def test_course_solution_loses_its_point_for_the_broadcast(graded):
    results, _ = graded
    (total,) = messages(results["Part2_FaceDetection_Solution"], "ss_vae_loss", passed=False)
    assert "(shape (N, 1)) times vae_loss (shape (N,)) broadcast to (N, N)" in total


@needs_course
def test_course_solution_runs_every_cell_offline(graded):
    """No cell of the course's solution fails for want of data or of a package."""
    _, out = graded
    observations = Observations.load(out / "submissions" / "Part2_FaceDetection_Solution")
    failed = [(c.index + 1, c.status, c.error) for c in observations.cells if c.status != "ok"]
    assert not failed


@pytest.mark.skipif(os.environ.get("GRADER_SLOW_TESTS") != "1",
                    reason="plans and grades the reference again (~2 min); GRADER_SLOW_TESTS=1")
def test_validate_passes():
    result = CliRunner().invoke(main, ["validate", "facial-detection", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert f"reference earns {MAX:g}/{MAX:g}" in result.output and "released notebook 0" in result.output


def messages(result, question, passed=None):
    return [c.message for c in result.checks if c.check.question == question
            and (passed is None or c.passed == passed)]


def test_bias_audit_is_in_the_feedback_with_real_figures(graded):
    results, _ = graded
    for question, model in (("standard_classifier_trained", "standard_classifier"),
                            ("ss_vae_trained", "ss_vae")):
        audits = [m for m in messages(results["reference"], question, passed=True)
                  if "bias audit" in m]
        assert len(audits) == 1, question
        audit = audits[0]
        assert f"{model} on the hidden test set (400 faces, 400 non-faces)" in audit
        for group in ("light skin, short hair", "light skin, long hair", "dark skin, short hair",
                      "dark skin, long hair"):
            assert group in audit
        assert "worst-group gap:" in audit and "skin-tone gap (light - dark):" in audit
    ss_audit = [m for m in messages(results["reference"], "ss_vae_trained") if "bias audit" in m]
    assert "recon error" in ss_audit[0]


def test_feedback_says_what_the_profile_capped(graded):
    results, _ = graded
    found = messages(results["reference"], "ss_vae_trained", passed=True)
    assert any("Trained under the grading profile" in m and "(tqdm) stopped after" in m
               for m in found)


def test_bias_audit_charts_are_pngs_beside_results(graded):
    results, _ = graded
    charts = results["reference"].attachments
    assert set(charts) == {"bias-audit-standard_classifier.png", "bias-audit-ss_vae.png"}
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in charts.values())
    assert set(results["untouched"].attachments) == {"bias-audit-standard_classifier.png"}


def test_feedback_explains_the_wrong_examples(graded):
    results, _ = graded
    (total,) = messages(results["vae-term-for-non-faces"], "ss_vae_loss", passed=False)
    assert "counts for non-faces too" in total
    variance = messages(results["sampling-exp-logsigma"], "sampling", passed=False)
    assert any("exp(0.5 * z_logsigma)" in m for m in variance)
    (mean,) = messages(results["call-decodes-the-mean"], "ss_vae_model", passed=False)
    assert "decoding of z_mean" in mean
    step, recon = messages(results["gradient-of-classification-loss"], "ss_vae_trained",
                           passed=False)
    assert "applied gradients to 20 of the SS-VAE's 30 variables" in step
    assert "gradient of the total SS-VAE loss" in recon


def test_untouched_notebook_says_not_implemented(graded):
    results, _ = graded
    found = {c.message for c in results["untouched"].checks}
    assert "sampling is not implemented yet (it raised NotImplementedError)" in found
    assert any("SS_VAE.decode is not implemented yet" in m for m in found)


# --- fast checks: release, data, loader, no TensorFlow in the grader ---------------------

@pytest.mark.parametrize("path", [FOLDER / "facial-detection.ipynb", EXAMPLES / "untouched.ipynb"],
                         ids=["template", "example"])
def test_checked_in_student_notebook_is_what_release_produces(path):
    assert path.read_text(encoding="utf-8") == released_text(REFERENCE, "facial-detection"), (
        f"{path.name} is stale: run `grader release facial-detection --no-kit` and copy it to examples/")


def test_example_reference_is_the_reference():
    assert (EXAMPLES / "reference.ipynb").read_bytes() == REFERENCE.read_bytes()


def test_course_todos_example_does_not_parse():
    import ast

    import nbformat

    notebook = nbformat.read(str(EXAMPLES / "course-todos.ipynb"), as_version=4)
    broken = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            try:
                ast.parse(cell.source)
            except SyntaxError:
                broken.append(cell.source.splitlines()[0])
    assert len(broken) == 4  # as in the course: its training-step TODOs parse, the rest do not


def load_data_module():
    module_spec = importlib.util.spec_from_file_location("facial_detection_data_test",
                                                         FOLDER / "data.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def rows(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


def test_synthetic_generator_is_seeded():
    data = load_data_module()
    first = data.generate(np.array([0, 1, 1, 0], np.int8), np.array([0, 0, 1, 1], np.int8), 4,
                          np.random.default_rng(5))
    second = data.generate(np.array([0, 1, 1, 0], np.int8), np.array([0, 0, 1, 1], np.int8), 4,
                           np.random.default_rng(5))
    assert np.array_equal(first.images, second.images)
    assert first.images.shape == (8, 64, 64, 3) and first.images.dtype == np.uint8
    assert first.labels.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert first.skin.tolist() == [0, 1, 1, 0, -1, -1, -1, -1]


def test_hidden_split_is_balanced_and_disjoint(monkeypatch):
    monkeypatch.delenv("GRADER_FACES", raising=False)
    data = load_data_module()
    source, hidden = data.load_hidden()
    assert source == "synthetic"
    faces = hidden.labels == 1
    assert faces.sum() == (~faces).sum() == 4 * data.HIDDEN_PER_GROUP
    counts = np.bincount(2 * hidden.skin[faces] + hidden.hair[faces])
    assert counts.tolist() == [data.HIDDEN_PER_GROUP] * 4
    train = data.load().train
    light = np.mean(train.skin[train.labels == 1] == 0)
    assert light == pytest.approx(data.TRAIN_LIGHT, abs=0.01)
    assert not rows(hidden.images) & rows(train.images)


def test_course_loader_reads_the_provided_file(tmp_path):
    """The course's loader (the stand-in's copy of mitdeeplearning.lab2) on a small file in
    the course's format: BGR flipped to RGB, [0, 1], half faces per batch."""
    data = load_data_module()
    split = data.generate(np.zeros(6, np.int8), np.zeros(6, np.int8), 6, np.random.default_rng(1))
    path = tmp_path / "train_face.h5"
    data.write_h5(path, split)
    with h5py.File(path, "r") as handle:
        assert handle["images"].shape == (12, 64, 64, 3) and handle["images"].dtype == np.uint8
        assert handle["labels"].shape == (12, 1)
    module_spec = importlib.util.spec_from_file_location(
        "stand_in_lab2", REPO / "grader" / "stand_ins" / "mitdeeplearning" / "lab2.py")
    lab2 = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(lab2)
    loader = lab2.TrainingDatasetLoader(str(path))
    images, labels = loader.get_batch(4)
    assert images.shape == (4, 64, 64, 3) and images.dtype == np.float32
    assert labels.reshape(-1).tolist().count(1.0) == 2
    index = int(np.flatnonzero(split.labels == 1)[0])
    np.testing.assert_allclose(
        (split.images[index][..., ::-1] / 255.0).astype(np.float32),
        (loader.images[index][..., ::-1] / 255.0).astype(np.float32))


def test_training_file_is_large_enough_for_the_course():
    """The course draws get_batch(5000) (2,500 faces and 2,500 non-faces) and
    get_batch(5000, only_faces=True), without replacement."""
    data = load_data_module()
    train = data.load().train
    assert int((train.labels == 1).sum()) >= 5200 and int((train.labels == 0).sum()) >= 2700


def test_generated_splits_are_cached_on_disk(tmp_path, monkeypatch):
    """Generated once, written atomically (no temporary file left), reused afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = load_data_module()
    calls = []

    def build():
        calls.append(1)
        return data.generate(np.array([0, 1], np.int8), np.array([1, 0], np.int8), 2,
                             np.random.default_rng(3))

    first = data.cached("example", build)
    second = data.cached("example", build)
    assert len(calls) == 1 and np.array_equal(first.images, second.images)
    assert np.array_equal(first.skin, second.skin)
    (stored,) = (tmp_path / "grader").iterdir()
    assert stored.name == f"facial-detection-example-{data.generator_key()}.npz"


def test_real_file_is_used_when_configured(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1000, 64, 64, 3), dtype=np.uint8)
    labels = (np.arange(1000) % 2).astype(np.float32).reshape(-1, 1)
    with h5py.File(tmp_path / "train_face.h5", "w") as handle:
        handle["images"], handle["labels"] = images, labels
    monkeypatch.setenv("GRADER_FACES", str(tmp_path / "train_face.h5"))
    splits = load_data_module().load()
    assert splits.source == "real" and not splits.has_groups
    assert len(splits.hidden.labels) == 200 and splits.hidden.labels.sum() == 100
    assert len(splits.train.labels) == 800
    assert not rows(splits.hidden.images) & rows(splits.train.images)
    load_data_module().write_train_face_h5(tmp_path / "provided.h5")
    with h5py.File(tmp_path / "provided.h5", "r") as handle:
        assert handle["images"].shape == (800, 64, 64, 3)


def test_checks_do_not_import_tensorflow():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('checks', {str(FOLDER / 'checks.py')!r})\n"
        "module = sys.modules['checks'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.SOURCE == 'synthetic' and module.HAS_GROUPS\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'h5py')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}, cwd=REPO)
    assert done.stdout.strip() == "[]"


def test_the_course_package_works_offline(tmp_path):
    """An unmodified course notebook's `import mitdeeplearning as mdl` and its loader work in
    the grader's child: the stand-in package reads the provided file, offline."""
    from grader.authoring import StudentError
    from grader.checks.namespaces import LiveNamespace, ReplayNamespace
    from grader.execution.executor import execute
    from grader.execution.sandbox import detect
    from grader.plan import provide_files
    from grader.plan.harness import Harness
    from grader.spec.notebook import CodeCell
    from tests.conftest import SANDBOX

    spec = load_assignment("facial-detection")
    planner = LiveNamespace("student", {}, {})
    with pytest.raises(StudentError):
        planner.value("shapes")
    cells = [
        "!pip install mitdeeplearning\nimport mitdeeplearning as mdl\nimport tensorflow as tf",
        "path = tf.keras.utils.get_file('train_face.h5', 'https://www.dropbox.com/s/x/train_face.h5?dl=1')\n"
        "loader = mdl.lab2.TrainingDatasetLoader(path)\nx, y = loader.get_batch(8)\n"
        "faces = mdl.lab2.get_test_faces()\nhistory = mdl.util.LossHistory(0.9)\nhistory.append(1.0)\n"
        "shapes = [list(x.shape), list(y.shape), [len(g) for g in faces], list(faces[0][0].shape),"
        " float(y.mean()), loader.get_train_size()]",
    ]
    harness = Harness(plan=planner.plan, prelude=spec.prelude_source(),
                      home_files=provide_files(spec, tmp_path / "home"))
    observations = execute("course", [CodeCell(i, i, s) for i, s in enumerate(cells)], harness,
                           spec.limits, detect(SANDBOX))
    assert [c.status for c in observations.cells] == ["ok", "ok"], observations.cells
    shapes = ReplayNamespace("student", observations.probes).value("shapes")
    assert shapes == [[8, 64, 64, 3], [8, 1], [5, 5, 5, 5], [64, 64, 3], 0.5, 7900]
