"""Known mistakes named: an assignment's ``mistakes.py`` declares the classic mistakes of its
questions (``grader.authoring.mistake``: a function computing the mistaken answer from a
probe's inputs; ``mistake_seen``: a test of an answer), and the feedback says which one a
student made.

A mistake is found when every probe of its name that the student answered differently from
the reference gives the mistake's answer (and at least one does). It is all done in the
grader's process on plain data: the student's recorded answers, the plan's inputs and the
reference's answers; no student code runs here. ``mistakes.py`` is instructor code, like
``checks.py``; a mistake function that fails only costs its sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader import wire
from grader.authoring import Mistake
from grader.child.job import Probe
from grader.files import load_module
from grader.observations import ProbeRecord
from grader.plan.harness import ProbePlan

MISTAKES_FILE = "mistakes.py"


@dataclass(frozen=True)
class FoundMistake:
    """A declared mistake the student's answers show, on ``cases`` probes."""

    mistake: Mistake
    cases: int


def declared(folder: Path) -> list[Mistake]:
    """The mistakes ``folder/mistakes.py`` declares, in the order it defines them."""
    path = folder / MISTAKES_FILE
    if not path.is_file():
        return []
    module = load_module(path, prefix="grader_mistakes_", fresh=True)
    found = (getattr(value, "__grader_mistake__", None) for value in vars(module).values())
    return [m for m in found if isinstance(m, Mistake)]


def detect(mistakes: Sequence[Mistake], plan: ProbePlan, student: Mapping[str, ProbeRecord],
           reference: Mapping[str, ProbeRecord]) -> list[FoundMistake]:
    """The mistakes whose answers are exactly the student's wrong answers."""
    found = []
    for mistake in mistakes:
        probes = [p for p in plan.probes if p.name == mistake.name and p.kind == mistake.kind]
        cases = _matching(mistake, probes, plan.arrays, student, reference)
        if cases:
            found.append(FoundMistake(mistake, cases))
    return found


def _matching(mistake: Mistake, probes: Sequence[Probe], arrays: dict[str, np.ndarray],
              student: Mapping[str, ProbeRecord], reference: Mapping[str, ProbeRecord]) -> int:
    """How many answers show the mistake: for a mistaken answer, 0 unless it is every wrong
    answer of the student; for a test of answers, those it flags."""
    wrong = explained = 0
    for probe in probes:
        mine, expected = student.get(probe.key), reference.get(probe.key)
        if mine is None or expected is None or mine.status != "ok" or expected.status != "ok":
            continue
        if mistake.answer is not None and same(mine.value, expected.value):
            continue
        wrong += 1
        args, kwargs = wire.decode(probe.args, arrays), wire.decode(probe.kwargs, arrays)
        try:
            if mistake.answer is not None:
                explained += same(mine.value, mistake.answer(*args, **kwargs))
            elif mistake.seen is not None:
                explained += bool(mistake.seen(mine.value, expected.value, *args, **kwargs))
        except Exception:  # noqa: BLE001 - instructor code; a failing mistake explains nothing
            return 0
    return explained if mistake.seen is not None or explained == wrong else 0


def same(got: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """Whether two plain answers agree (arrays to a tolerance, nan where nan)."""
    if isinstance(got, (dict, list, tuple)) or isinstance(expected, (dict, list, tuple)):
        return bool(got == expected) if type(got) is type(expected) else False
    try:
        a = np.asarray(got, dtype=np.float64)
        b = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return bool(got == expected)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
