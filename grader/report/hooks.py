"""The assignment's own figures: an optional ``feedback.py`` in the assignment folder defines
``figures(context)``, given a ``FeedbackContext`` (the student's and the expected answers to
the probes the checks made), and returns figures of ``grader.report.figures``.

It is instructor code run in the grader's process, like ``checks.py``, and it must show only
answers to *public* inputs: every expected value it draws is visible to the student.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.child.job import ProbeKind
from grader.files import load_module
from grader.observations import Observations, ProbeRecord
from grader.report.figures import Figure, GridRow, ImageGrid, _too_large
from grader.results import SubmissionResult
from grader.spec import Assignment

HOOK_FILE = "feedback.py"


# --- the assignment's own figures -------------------------------------------------------

@dataclass
class Answer:
    """The student's and the expected answer to one probe (records, or None if never made)."""

    student: ProbeRecord | None
    expected: ProbeRecord | None

    def student_array(self) -> np.ndarray | None:
        return _array(self.student)

    def expected_array(self) -> np.ndarray | None:
        return _array(self.expected)

    def problem(self, name: str) -> str:
        """Why there is no student value to show, in the words a check would use."""
        record = self.student
        if record is None:
            return f"{name} was not called (the notebook did not run or was not graded)"
        if record.status == "ok":
            value = record.value
            if value is None:
                return f"{name} returned None"
            shape = getattr(value, "shape", None)
            return f"{name} returned {type(value).__name__}" + (f" of shape {shape}" if shape else "")
        error = record.error or {}
        if record.status == "undefined":
            return f"{name} is not defined"
        if error.get("type") == "NotImplementedError":
            return f"{name} is not implemented yet"
        if record.status in ("timeout", "not-run"):
            return f"{name} did not finish: {error.get('message', '')}"
        return f"{name} raised {error.get('type', 'an error')}: {error.get('message', '')}"


def _array(record: ProbeRecord | None) -> np.ndarray | None:
    if record is None or record.status != "ok" or not isinstance(record.value, np.ndarray):
        return None
    return record.value if record.value.dtype.kind in "biuf" else None


@dataclass
class FeedbackContext:
    """What an assignment's ``figures(context)`` hook may look at."""

    assignment: Assignment
    result: SubmissionResult
    observations: Observations | None
    reference: Mapping[str, ProbeRecord]

    def call(self, name: str, *args: Any, **kwargs: Any) -> Answer:
        """The answers to ``student.name(*args, **kwargs)``, as a check made that call."""
        return self._answer("call", name, args, kwargs)

    def value(self, name: str) -> Answer:
        """The answers to ``student.value(name)``."""
        return self._answer("value", name, (), {})

    def probe(self, name: str, *args: Any, **kwargs: Any) -> Answer:
        """The answers to ``student.probe(name, ...)`` (a custom probe)."""
        return self._answer("custom", name, args, kwargs)

    def _answer(self, kind: ProbeKind, name: str, args: tuple, kwargs: dict) -> Answer:
        from grader.checks.namespaces import probe_key

        key = probe_key(kind, name, args, kwargs)[0]
        probes = self.observations.probes if self.observations is not None else {}
        return Answer(probes.get(key), self.reference.get(key))

    def module(self, filename: str) -> ModuleType:
        """A module of the assignment folder (``checks.py`` for its public inputs), loaded once."""
        return _load_module(self.assignment.folder / filename)

    def compare(self, title: str, name: str, answer: Answer, columns: Sequence[str] = (),
                caption: str = "", extra_rows: Sequence[GridRow] = ()) -> ImageGrid:
        """The student's answer above the expected one, differences outlined."""
        mine, expected = answer.student_array(), answer.expected_array()
        problem = "" if mine is not None else answer.problem(name)
        if mine is not None and _too_large(mine):
            problem = f"{name} returned an array of shape {mine.shape} ({mine.dtype})"
            mine = None
        rows = [*extra_rows,
                GridRow("yours", mine, problem),
                GridRow("expected", expected, "" if expected is not None else "not available")]
        return ImageGrid(title, rows, list(columns), caption, compare_to="expected")


def _load_module(path: Path) -> ModuleType:
    return load_module(path, prefix="grader_feedback_", fresh=True)


def assignment_figures(context: FeedbackContext) -> tuple[list[Figure], list[str]]:
    """The figures of the assignment's ``feedback.py`` hook, and problems running it."""
    hook = context.assignment.folder / HOOK_FILE
    if not hook.is_file():
        return [], []
    try:
        figures: Callable[[FeedbackContext], Sequence[Figure]] = _load_module(hook).figures
        return list(figures(context)), []
    except Exception as exc:  # noqa: BLE001 - instructor code; its failure costs only pictures
        detail = "".join(traceback.format_exception_only(exc)).strip()
        return [], [f"the assignment's {HOOK_FILE} failed: {detail}"]
