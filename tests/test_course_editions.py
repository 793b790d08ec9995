"""Another edition of the course's notebooks grades unmodified: MIT Introduction to Deep
Learning 2024, Lab 2 Part 1 (tests/course-editions/mit-2024-lab2, the course's files as
published, MIT licence), also the 2025 TensorFlow edition's Part 1.

Its TODOs are the 2023 edition's, but it logs its training to Comet: ``import comet_ml``,
``comet_ml.init(...)`` and ``comet_ml.Experiment()`` in the cells that build and train the
models, and ``assert COMET_API_KEY != ""`` (empty in the course's files). Without a network
and a key, those lines must cost nothing: the grader's comet_ml stand-in logs nothing, the
feedback says tracking was off, and the course's solution earns full marks while the
template earns nothing.

Its Part 2 (also the 2022 and 2025 editions') is the *DB-VAE* edition of facial-detection:
debiasing_loss_function, DB_VAE, get_training_sample_probabilities(images, dbvae, ...) and
debiasing_train_step, where 2023 has the SS-VAE's names. The notebook is graded on the
DB-VAE questions instead of the SS-VAE's (assignment.toml's [[alternatives]]), out of the
same maximum, and its resampling function in the course's signature.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.spec import load_assignment
from tests.conftest import by_question, grade_all

EDITION = Path(__file__).resolve().parent / "course-editions" / "mit-2024-lab2"
FULL = {"fc_model": 2.0, "cnn_architecture": 6.0, "test_acc": 3.0, "prediction": 1.0,
        "loss_history": 2.0, "cnn_model": 4.0}
EXPECTED = {"Part1_MNIST_Solution": FULL, "Part1_MNIST": {q: 0.0 for q in FULL}}

pytestmark = pytest.mark.slow  # trains Keras models

COMMON = {"vae_loss": 3.0, "sampling": 4.0, "standard_classifier_trained": 0.0}
DB_VAE = {"debiasing_loss": 3.0, "db_vae_model": 3.0, "db_vae_trained": 4.0}
SS_VAE = {"ss_vae_loss": 0.0, "ss_vae_model": 0.0, "ss_vae_trained": 0.0}
#: facial-detection, per question. The course's solution computes face_indicator (N, 1) times
#: vae_loss (N,), an (N, N) broadcast, as its 2023 solution does, and loses the same point for
#: it; it writes the optional resampling function, in its own signature. The template defines
#: none of either edition's names (its TODO lines do not parse): it is graded on the default
#: edition, the SS-VAE, out of 17, and earns nothing.
EXPECTED_PART2 = {
    "Part2_Debiasing_Solution": {**COMMON, **DB_VAE, "debiasing_loss": 2.0,
                                 "sample_probabilities": 3.0},
    "Part2_Debiasing": {**{q: 0.0 for q in COMMON}, **SS_VAE},
    # the solution without face_indicator: the VAE term of non-faces counts too
    "vae-term-for-non-faces": {**COMMON, **DB_VAE, "debiasing_loss": 1.0,
                               "sample_probabilities": 3.0},
}
POINTS = {**COMMON, **DB_VAE, "ss_vae_loss": 3.0, "ss_vae_model": 3.0, "ss_vae_trained": 4.0,
          "sample_probabilities": 3.0}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    notebooks = [EDITION / "solutions" / "Part1_MNIST_Solution.ipynb", EDITION / "Part1_MNIST.ipynb"]
    return grade_all(load_assignment("build-cnn"), notebooks, tmp_path_factory.mktemp("out"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_2024_edition_grades_unmodified(graded, name):
    assert by_question(graded[name]) == pytest.approx(EXPECTED[name], abs=1e-3)


def test_comet_logging_costs_nothing_and_the_feedback_says_it_was_off(graded):
    result = graded["Part1_MNIST_Solution"]
    shown = "\n".join([*result.notes, *(check.message for check in result.checks)])
    assert "experiment tracking (comet_ml) was off while grading" in shown


def test_the_comet_stand_in_accepts_what_the_course_calls(tmp_path, monkeypatch):
    """The stand-in replaces comet_ml even where it is installed (here: a fake one that
    would fail), and accepts every call the 2024 and 2025 notebooks make."""
    import sys

    from grader.child import profile

    installed = tmp_path / "site" / "comet_ml"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("raise RuntimeError('the real comet_ml needs a network')")
    shims = tmp_path / "shims"
    stand_in = Path(profile.__file__).resolve().parents[1] / "stand_ins" / "comet_ml"
    (shims / "comet_ml").mkdir(parents=True)
    (shims / "comet_ml" / "__init__.py").write_text((stand_in / "__init__.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "comet_ml", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    profile.use_stand_ins(str(shims), packages=())
    import comet_ml

    assert comet_ml.__version__.endswith("grader.stand-in")
    comet_ml.init(project_name="6S191_lab2_part1_NN")
    comet_ml.login(api_key="")
    experiment = comet_ml.Experiment(api_key="", project_name="6S191_Lab2_Part2_CNN")
    experiment.log_parameter("batch_size", 32)
    experiment.log_metric("loss", 0.5, step=3)
    experiment.log_figure(figure=None)
    experiment.flush()
    experiment.end()
    with comet_ml.start(project_name="x") as started:
        started.log_metric("loss", 1.0)
    assert "experiment tracking (comet_ml) was off while grading: nothing was logged" in \
        "\n".join(profile.caps())
    monkeypatch.delitem(sys.modules, "comet_ml")


# --- Part 2: facial-detection's DB-VAE edition ---------------------------------------------

def without_face_indicator(solution: Path, folder: Path) -> Path:
    """The course's solution with total_loss = mean(classification_loss + vae_loss)."""
    notebook = json.loads(solution.read_text(encoding="utf-8"))
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"
             and "      face_indicator * vae_loss\n" in "".join(c["source"])]
    assert len(cells) == 1
    cells[0]["source"] = "".join(cells[0]["source"]).replace(
        "      face_indicator * vae_loss\n", "      vae_loss\n")
    path = folder / "vae-term-for-non-faces.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def part2(tmp_path_factory):
    solution = EDITION / "solutions" / "Part2_Debiasing_Solution.ipynb"
    variant = without_face_indicator(solution, tmp_path_factory.mktemp("variant"))
    notebooks = [solution, EDITION / "Part2_Debiasing.ipynb", variant]
    return grade_all(load_assignment("facial-detection"), notebooks, tmp_path_factory.mktemp("out"))


@pytest.mark.parametrize("name", sorted(EXPECTED_PART2))
def test_the_2024_part2_grades_unmodified_on_its_edition(part2, name):
    expected = EXPECTED_PART2[name]
    assert by_question(part2[name]) == pytest.approx(expected, abs=1e-3)
    assert part2[name].max_score == sum(POINTS[q] for q in expected)


def test_the_other_edition_leaves_the_grade_with_a_note(part2):
    solution = part2["Part2_Debiasing_Solution"]
    (note,) = [n for n in solution.notes if n.startswith("Not graded:")]
    assert "SS-VAE loss (ss_vae_loss_function)" in note
    assert "graded on the DB-VAE (the course's 2022, 2024 and 2025 editions), the one it " \
           "attempts" in note
    assert set(solution.attachments) == {"bias-audit-standard_classifier.png",
                                         "bias-audit-dbvae.png"}
    template = part2["Part2_Debiasing"]
    assert any("graded on the SS-VAE (the course's 2023 edition), the default: it attempts "
               "none" in n for n in template.notes)


def test_the_db_vae_feedback_names_the_slips(part2):
    def failed(name):
        return [c.message for c in part2[name].checks
                if c.check.question == "debiasing_loss" and not c.passed]

    (broadcast,) = failed("Part2_Debiasing_Solution")
    assert "(shape (N, 1)) times vae_loss (shape (N,)) broadcast to (N, N)" in broadcast
    non_faces, mixed = sorted(failed("vae-term-for-non-faces"))
    assert "0 faces and 8 non-faces" in non_faces and "counts for non-faces too" in non_faces
    assert "4 faces and 4 non-faces" in mixed and "counts for non-faces too" in mixed
