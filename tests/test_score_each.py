"""Scoring many submissions in one pytest session gives what scoring each alone gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading import GradeOptions, grade
from grader.observations import Observations
from grader.plan import make_plan
from grader.scoring.scorer import score, score_each
from grader.spec import load_assignment
from tests.conftest import EXAMPLES, SANDBOX, copy_assignment

SEED = 4


def _outcomes(result) -> list[tuple[str, bool, str]]:  # noqa: ANN001 - a SubmissionResult
    return [(c.check.id, c.passed, c.message) for c in result.checks]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    assignment = load_assignment("convolve-by-hand")
    out = tmp_path_factory.mktemp("stored")
    grade(assignment, [EXAMPLES], GradeOptions(out=out, jobs=2, seed=SEED, sandbox=SANDBOX))
    plan = make_plan(assignment, SEED, cache=out / ".plan")
    observations = [(p.name, Observations.load(p)) for p in sorted((out / "submissions").iterdir())]
    return assignment, plan, observations


def test_one_session_scores_like_one_run_per_submission_in_any_order(stored):
    assignment, plan, observations = stored
    alone = {name: score(assignment, plan.checks, obs, plan.reference, SEED, path=name)
             for name, obs in observations}
    assert {name: r.score for name, r in alone.items()}["partly-correct"] == pytest.approx(11.8333, abs=1e-3)
    for order in (observations, observations[::-1]):
        together: dict = {}
        score_each(assignment, plan.checks, plan.reference, SEED, order,
                   lambda name, obs, result, into=together: into.__setitem__(name, result))
        assert together.keys() == alone.keys()
        for name, result in together.items():
            assert _outcomes(result) == _outcomes(alone[name]), name
            assert result.score == alone[name].score and result.notes == alone[name].notes


def test_fixtures_of_every_scope_start_afresh_for_each_submission(tmp_path, monkeypatch, stored):
    _, _, observations = stored
    folder = copy_assignment(tmp_path, monkeypatch)
    checks = folder / "checks.py"
    checks.write_text(checks.read_text().replace("from grader.authoring import",
                                                 "from grader.authoring import note,") + (
        "\n\nSETUPS = []\n\n\n@pytest.fixture(scope='session')\ndef session_value():\n"
        "    SETUPS.append(1)\n    yield len(SETUPS)\n    SETUPS.append('torn down')\n\n\n"
        "@check('relu', points=0)\ndef test_sees_a_fresh_session_fixture(session_value):\n"
        "    note(f'session fixture set up {session_value} time(s)')\n"))
    assignment = load_assignment("convolve-by-hand")
    plan = make_plan(assignment, SEED, cache=tmp_path / "plans")
    notes = []
    score_each(assignment, plan.checks, plan.reference, SEED, observations[:3],
               lambda name, obs, result: notes.append([c.message for c in result.checks
                                                       if "session fixture" in c.message]))
    # set up once per submission (after the previous one's teardown), never shared
    assert notes == [["session fixture set up 1 time(s)"], ["session fixture set up 3 time(s)"],
                     ["session fixture set up 5 time(s)"]]


def test_a_broken_checks_module_is_a_spec_error_not_a_silent_zero(tmp_path, monkeypatch, stored):
    from grader.errors import SpecError

    _, _, observations = stored
    folder = copy_assignment(tmp_path, monkeypatch)
    (folder / "checks.py").write_text((folder / "checks.py").read_text() + "\nthis is not python\n")
    assignment = load_assignment("convolve-by-hand")
    seen: list[str] = []
    with pytest.raises(SpecError, match="could not load the checks"):
        score_each(assignment, [], {}, SEED, observations, lambda name, *_: seen.append(name))
    assert seen == []
    assert Path(folder).is_dir()
