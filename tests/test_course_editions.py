"""Another edition of the course's notebooks grades unmodified: MIT Introduction to Deep
Learning 2024, Lab 2 Part 1 (tests/course-editions/mit-2024-lab2, the course's files as
published, MIT licence), also the 2025 TensorFlow edition's Part 1.

Its TODOs are the 2023 edition's, but it logs its training to Comet: ``import comet_ml``,
``comet_ml.init(...)`` and ``comet_ml.Experiment()`` in the cells that build and train the
models, and ``assert COMET_API_KEY != ""`` (empty in the course's files). Without a network
and a key, those lines must cost nothing: the grader's comet_ml stand-in logs nothing, the
feedback says tracking was off, and the course's solution earns full marks while the
template earns nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.spec import load_assignment
from tests.conftest import by_question, grade_all

EDITION = Path(__file__).resolve().parent / "course-editions" / "mit-2024-lab2"
FULL = {"fc_model": 2.0, "cnn_architecture": 6.0, "test_acc": 3.0, "prediction": 1.0,
        "loss_history": 2.0, "cnn_model": 4.0}
EXPECTED = {"Part1_MNIST_Solution": FULL, "Part1_MNIST": {q: 0.0 for q in FULL}}

pytestmark = pytest.mark.slow  # trains Keras models


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
