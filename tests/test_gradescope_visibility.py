"""Gradescope visibility per question, declared in the spec (issue 14)."""

from __future__ import annotations

import json

import pytest

from grader.errors import SpecError
from grader.spec import load_assignment
from tests.conftest import EXAMPLES, copy_assignment, grade_all


def with_visibility(tmp_path, monkeypatch, value: str):
    folder = copy_assignment(tmp_path, monkeypatch)
    spec = folder / "assignment.toml"
    text = spec.read_text()
    old = 'id = "conv2d"\n'
    assert text.count(old) == 1
    spec.write_text(text.replace(old, old + f'visibility = "{value}"\n'))
    return load_assignment("convolve-by-hand")


def test_a_hidden_question_is_hidden_until_published(tmp_path, monkeypatch):
    assignment = with_visibility(tmp_path, monkeypatch, "after_published")
    grade_all(assignment, [EXAMPLES / "partly-correct.ipynb"], tmp_path / "out", jobs=1)
    data = json.loads((tmp_path / "out" / "submissions" / "partly-correct" / "results.json").read_text())
    shown = {test["tags"][0]: test["visibility"] for test in data["tests"]}
    assert shown.pop("conv2d") == "after_published"
    assert set(shown.values()) == {"visible"}
    # the submission's summary of causes, always visible, keeps the hidden question's to itself
    assert "**Softmax** (1 / 2): Known mistake: softmax" in data["output"]
    assert "2-D convolution" not in data["output"] and "conv2d flips" not in data["output"]


def test_unknown_visibility_is_a_spec_error(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match="visibility = 'secret'"):
        with_visibility(tmp_path, monkeypatch, "secret")
