"""convolve-by-hand's examples: what their results say besides their scores (pinned in
assignments/convolve-by-hand/examples/expected.toml, checked by tests/test_expected_scores.py,
which grades the folder once a session for both modules)."""

from __future__ import annotations

import json

import pytest

from tests.test_expected_scores import graded_examples, read_expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return graded_examples("convolve-by-hand", tmp_path_factory)


def test_results_json_is_gradescope_format(graded):
    results, out = graded
    data = json.loads((out / "submissions" / "partly-correct" / "results.json").read_text())
    assert data["score"] == pytest.approx(20 - 3.6667 - 3.5 - 1, abs=1e-3)
    assert {"name", "score", "max_score", "status", "output"} <= set(data["tests"][0])
    # one test per question, named by its title, its points adding up exactly (in 1e-4 units)
    assert [t["tags"] for t in data["tests"]] == [[q.id] for q in results["partly-correct"].questions]
    assert data["tests"][1]["name"] == "2-D convolution"
    assert sum(round(t["max_score"] * 10**4) for t in data["tests"]) == 20 * 10**4
    assert sum(round(t["score"] * 10**4) for t in data["tests"]) == round(data["score"] * 10**4)
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert failed and all(t["score"] < t["max_score"] and "FAILED" in t["output"] for t in failed)
    convolution = data["tests"][1]
    assert (convolution["score"], convolution["max_score"]) == (1.3333, 5.0)
    conv2d = [c for c in results["partly-correct"].checks if c.check.question == "conv2d"]
    passed = sum(c.passed for c in conv2d)
    assert 0 < passed < len(conv2d)
    # Markdown, cause first: the known mistake, the hidden cases folded, then the checks
    assert data["output_format"] == "md"
    lines = convolution["output"].splitlines()
    assert lines[0].startswith("**Known mistake: conv2d flips the kernel")
    assert lines[1].startswith("- \u2717 13 hidden checks fail the same way; the first: conv2d(")
    assert lines[3:6] == [f"{passed} of {len(conv2d)} checks passed", "",
                          "- FAILED (0.3333 pt): conv2d slides without flipping the kernel (hidden, "
                          "non-symmetric kernels) \\[h6-w6-kh3-kw3\\]"]
    assert data["output"].startswith("**Where your points went**\n\n- **2-D convolution** (1.333 / 5): "
                                     "Known mistake: conv2d flips the kernel")
    # every check stays in extra_data, and reads back as it was
    assert len(data["extra_data"]["checks"]) == len(results["partly-correct"].checks)


def test_results_json_reads_back_every_check(graded):
    from grader.report.results_json import read_results_json

    results, out = graded
    back = read_results_json(out / "submissions" / "partly-correct", "x")
    mine = results["partly-correct"]
    assert [(c.check.id, c.passed, c.message) for c in back.checks] == \
        [(c.check.id, c.passed, c.message) for c in mine.checks]
    assert back.score == mine.score


@pytest.mark.parametrize("values, total, rounded", [
    ([1 / 3, 1 / 3, 1 / 3], 1.0, [0.3334, 0.3333, 0.3333]),
    ([5 / 3, 10 / 3, 1.0], 6.0, [1.6667, 3.3333, 1.0]),
    ([0.0, 2.0], 2.0, [0.0, 2.0]),
])
def test_apportion_adds_up_exactly(values, total, rounded):
    from grader.report.results_json import apportion

    got = apportion(values, total)
    assert sorted(got) == sorted(rounded)
    assert sum(round(v * 10**4) for v in got) == round(total * 10**4)


def test_feedback_names_case_and_difference_without_revealing_expected(graded):
    results, _ = graded
    messages = [c.message for c in results["partly-correct"].checks if not c.passed]
    hidden = next(m for m in messages if "stride=2" in m)
    assert "conv2d(7x9 float64 array, 3x3 float64 array, stride=2)" in hidden
    assert "first difference at [0, 0]" in hidden and "elements differ" in hidden
    stable = next(m for m in messages if "softmax(4x10" in m)
    assert "nan" in stable and "finite" in stable


def test_infinite_loop_is_stopped_and_explained(graded):
    results, _ = graded
    failed = [c for c in results["infinite-loop"].checks if not c.passed]
    assert failed and all(c.check.question == "max_pool2d" for c in failed)
    assert all("time limit" in c.message for c in failed)
    # after two inputs hit the limit, the rest are not run: seconds, not one limit per input
    assert sum("already exceeded" in c.message for c in failed) == len(failed) - 2


def test_syntax_error_is_explained(graded):
    results, _ = graded
    notes = "\n".join(results["syntax-error"].notes)
    assert "syntax error" in notes and "was never closed" in notes


def test_forbidden_use_is_explained(graded):
    results, _ = graded
    voided = [c for c in results["uses-scipy"].checks if c.check.question == "conv2d"]
    assert all("scipy.signal.correlate2d" in c.message for c in voided)


def test_untouched_notebook_says_not_implemented(graded):
    results, _ = graded
    messages = {c.message for c in results["untouched"].checks}
    assert any("not implemented yet" in m for m in messages)
    assert any("X_FILTERS is not defined" in m for m in messages)


def test_gradebook_lists_every_submission(graded):
    _, out = graded
    lines = (out / "gradebook.csv").read_text().splitlines()
    assert lines[0].startswith("submission,path,score,max_score,output_size,conv2d")
    assert len(lines) == 1 + len(read_expected("convolve-by-hand").examples)
