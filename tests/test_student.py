"""`grader check`: a student's own run of the public checks, with no hidden input in sight."""

from __future__ import annotations

from click.testing import CliRunner

from grader.cli import main
from grader.plan import make_plan
from grader.tools.check import ALL_PASSED, assignment_of
from tests.conftest import EXAMPLES


def test_public_plan_holds_only_public_checks(assignment, tmp_path):
    public = make_plan(assignment, 3, cache=tmp_path, public_only=True)
    full = make_plan(assignment, 3, cache=tmp_path)
    assert public.checks and all(c.public for c in public.checks)
    assert len(public.probes.probes) < len(full.probes.probes)
    assert public.id.endswith("-public") and public.id != full.id


def test_passing_public_checks_says_hidden_checks_run_at_grading():
    result = CliRunner().invoke(main, ["check", str(EXAMPLES / "partly-correct.ipynb")])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(ALL_PASSED)
    assert "stride" not in result.output and "hidden" not in result.output.replace(ALL_PASSED, "")


def test_failing_public_checks_exit_nonzero_with_messages():
    result = CliRunner().invoke(main, ["check", str(EXAMPLES / "untouched.ipynb")])
    assert result.exit_code == 1
    assert "✗ conv2d on the notebook's 5x5 example" in result.output
    assert "not implemented yet" in result.output
    assert "public checks failed" in result.output


def test_assignment_comes_from_the_notebook_metadata():
    assert assignment_of(EXAMPLES / "untouched.ipynb") == "convolve-by-hand"
