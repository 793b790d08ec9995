"""Execution backends by name, and the fake runner: grading's whole way for a submission (its
notebook read, the static analysis, scoring, writing) with no child at all."""

from __future__ import annotations

import json

import pytest

from grader.errors import GraderError
from grader.execution import runners
from grader.execution.runners import FakeRunner, RunnerOptions
from grader.execution.submission import Submission
from grader.grading import GradeOptions, grade
from grader.observations import Observations
from grader.plan import make_plan
from grader.spec.notebook import CodeCell
from tests.conftest import EXAMPLES, by_question

SEED = 7


def test_an_unknown_backend_is_a_message_naming_the_known_ones():
    with pytest.raises(GraderError, match=r"no execution backend 'nowhere' \(known: dask, local"):
        runners.open_runner("nowhere", RunnerOptions())


def test_the_dask_backend_without_a_scheduler_is_a_message():
    with pytest.raises(GraderError, match="needs a scheduler's address"), \
            runners.open_runner("dask", RunnerOptions()):
        pass


@pytest.fixture
def fake_backend(assignment, tmp_path):
    """A backend registered as "fake": every notebook "answers" every probe as the reference
    notebook does (the plan's answers), whatever its code; nothing runs."""
    plan = make_plan(assignment, SEED, cache=tmp_path / "plan", answers=True)
    seen: list[str] = []

    def answer(submission: Submission, cells: list[CodeCell]) -> Observations:
        seen.append(submission.name)
        assert cells, "the shared path reads the notebook before the backend gets it"
        return Observations(submission=submission.name, probes=dict(plan.answers))

    runners.register("fake", lambda options, assignment, count: _opened(FakeRunner(answer)))
    yield seen
    runners.unregister("fake")


def _opened(runner):  # noqa: ANN001, ANN202 - a context manager giving the runner
    from contextlib import nullcontext

    return nullcontext(runner)


def test_grading_through_a_fake_backend_keeps_every_step_but_the_child(assignment, tmp_path,
                                                                         fake_backend):
    paths = [EXAMPLES / "reference.ipynb", EXAMPLES / "uses-scipy.ipynb"]
    run = grade(assignment, paths, GradeOptions(out=tmp_path / "out", seed=SEED, backend="fake"))
    results = {r.submission: r for r in run.results}
    assert sorted(fake_backend) == ["reference", "uses-scipy"]
    assert results["reference"].score == 20.0
    # perfect answers, but the static analysis of the shared path still finds scipy's
    # convolution: conv2d and what is built on it earn nothing, as when it runs for real
    lost = {q: score for q, score in by_question(results["uses-scipy"]).items() if score == 0}
    assert set(lost) == {"conv2d", "conv_layer", "x_feature_maps"}
    assert results["uses-scipy"].score == 20.0 - 5 - 4 - 2
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["isolation"] == "none (a fake runner: no notebook runs)"


def test_a_notebook_that_cannot_be_read_never_reaches_the_backend(assignment, tmp_path,
                                                                   fake_backend):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json", encoding="utf-8")
    run = grade(assignment, [broken], GradeOptions(out=tmp_path / "out", seed=SEED, backend="fake"))
    assert fake_backend == []
    [result] = run.results
    assert result.score == 0.0 and result.problem
