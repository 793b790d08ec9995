"""What an assignment's checks module imports: the ``check`` marker and explaining asserts.

Checks are pytest tests. They receive three fixtures: ``student`` and ``reference`` (proxies
of the two notebooks' namespaces: ``student.conv2d(image, kernel)`` returns what the
student's function returned, as plain data) and ``rng`` (a numpy Generator seeded from the
run's seed and the check's id, so hidden inputs are fresh per run and identical on regrade).

Failures are read by students, so every assert here says which case failed and how
(shape, dtype, first differing element, how many differ), never the whole expected array.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pytest

from grader.wire import Unsupported

F = TypeVar("F", bound=Callable[..., Any])


_notes: list[str] = []


def note(text: str) -> None:
    """Feedback shown with the running check's result whether it passes or fails, such as a
    measured accuracy or a confusion matrix (never expected values of hidden cases)."""
    _notes.append(str(text))


_attachments: dict[str, bytes] = {}
ATTACHMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


def attach(filename: str, data: bytes) -> None:
    """A file written beside the submission's ``results.json`` (e.g. a chart PNG), made by a
    check in the grader's process from observed data."""
    if not ATTACHMENT_NAME.match(filename) or filename in ("results.json", "observations.json"):
        raise ValueError(f"attachment name {filename!r}: use a plain file name")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ValueError(f"attachment {filename!r} is over {MAX_ATTACHMENT_BYTES} bytes")
    _attachments[filename] = bytes(data)


def take_attachments() -> dict[str, bytes]:
    """The attachments made since the last call (the scorer collects them per submission)."""
    taken = dict(_attachments)
    _attachments.clear()
    return taken


def take_notes() -> list[str]:
    """The notes made since the last call (the scorer collects them per check)."""
    taken = list(_notes)
    _notes.clear()
    return taken


class StudentError(Exception):
    """A probe of the student's namespace failed; the message is written for the student."""


class Undefined(StudentError):
    """The notebook does not define the name a probe asked for (an optional question whose
    every check ends here is left out of the grade)."""


class ProbeMissing(Exception):
    """A check asked for a probe that the plan did not contain (an authoring error)."""


def check(question: str, points: float, *, public: bool = False) -> Callable[[F], F]:
    """Mark a test as a graded check worth ``points`` in ``question``.

    A parametrized check splits its points evenly between its cases, so partial credit
    follows the number of cases passed. ``public=True`` marks checks whose inputs students
    can see in their notebook.
    """
    if points < 0:
        raise ValueError("points must be non-negative")
    return pytest.mark.grader(question=question, points=float(points), public=public)


@dataclass(frozen=True)
class Mistake:
    """A classic mistake of a question, declared in the assignment's ``mistakes.py``: either
    ``answer`` computes the mistaken answer from a probe's inputs, or ``seen`` tells whether
    an answer is one (given the student's and the expected answer, then the inputs). The
    feedback says ``says`` when the student's wrong answers are all the mistake's."""

    question: str
    name: str  # the function, value or custom probe the mistake is about
    says: str  # the sentence the student reads
    kind: str = "call"  # the probe's kind: "call", "value" or "custom"
    answer: Callable[..., Any] | None = None
    seen: Callable[..., bool] | None = None


def mistake(question: str, name: str, says: str, kind: str = "call") -> Callable[[F], F]:
    """Declare the decorated function as a classic mistake of ``question``: called with the
    inputs of every probe of ``name``, it returns the answer the mistake gives (a flipped
    kernel: ``correlate`` turned into ``convolve``). Run in the grader's process on plain
    data, like checks."""
    def declare(function: F) -> F:
        function.__grader_mistake__ = Mistake(question, name, says, kind, answer=function)  # type: ignore[attr-defined]
        return function
    return declare


def mistake_seen(question: str, name: str, says: str, kind: str = "custom") -> Callable[[F], F]:
    """Declare ``function(answer, expected, *inputs)`` as telling a classic mistake of
    ``question`` by its answers to ``name`` (logits where probabilities are asked for), when
    the mistaken answer cannot be computed from the inputs alone."""
    def declare(function: F) -> F:
        function.__grader_mistake__ = Mistake(question, name, says, kind, seen=function)  # type: ignore[attr-defined]
        return function
    return declare


def load_sibling(anchor: str, filename: str) -> Any:
    """A helper module next to the checks (``load_sibling(__file__, "data.py")``), imported
    once per process, so its cached data splits are shared by every check."""
    from pathlib import Path

    from grader.files import load_module

    return load_module(Path(anchor).with_name(filename))


def load_frozen(anchor: str, name: str) -> np.ndarray:
    """An array a student kit's checks module carries frozen: computed on the instructor's
    machine from files the kit does not ship (``grader.tools.studentkit.shake``)."""
    from pathlib import Path

    with np.load(Path(anchor).with_suffix(".frozen.npz"), allow_pickle=False) as arrays:
        return arrays[name]


def describe(value: Any) -> str:
    """A short description of an input for feedback, e.g. ``7x9 int64 array``."""
    if isinstance(value, np.ndarray):
        dims = "x".join(str(d) for d in value.shape) or "scalar"
        return f"{dims} {value.dtype} array"
    return repr(value)


def as_array(got: Any, what: str) -> np.ndarray:
    """The student's result as a plain array, or a failure saying why it is not one."""
    if got is None:
        raise AssertionError(f"{what} returned None; did the function forget to `return`?")
    if isinstance(got, Unsupported):
        raise AssertionError(f"{what} returned a {got.type_name}, not an array of numbers")
    try:
        array = np.asarray(got)
    except ValueError as exc:  # ragged lists
        raise AssertionError(f"{what} returned something that is not an array: {exc}") from exc
    if array.dtype.kind not in "biufc":
        raise AssertionError(f"{what} returned values of type {array.dtype}, not numbers")
    return array


def assert_close(
    got: Any,
    expected: Any,
    what: str,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    float_result: bool = False,
) -> None:
    """Assert the student's array equals the expected one: shape, then dtype, then values."""
    expected = np.asarray(expected)
    array = as_array(got, what)
    if array.shape != expected.shape:
        raise AssertionError(f"{what}: expected shape {expected.shape}, got {array.shape}")
    if float_result and array.dtype.kind != "f":
        raise AssertionError(f"{what}: expected a float array, got dtype {array.dtype}")
    if array.dtype.kind == "c" and expected.dtype.kind != "c":
        raise AssertionError(f"{what}: got complex values, expected real ones")
    _assert_values(array, expected, what, rtol, atol)


def _assert_values(array: np.ndarray, expected: np.ndarray, what: str, rtol: float,
                   atol: float) -> None:
    array = array.astype(np.float64) if array.dtype.kind in "biu" else array
    bad_nonfinite = ~np.isfinite(array) & np.isfinite(expected)
    if bad_nonfinite.any():
        index = _first(bad_nonfinite)
        count = int(bad_nonfinite.sum())
        raise AssertionError(
            f"{what}: got {array[index]} at {list(index)} where a finite value was expected "
            f"({count} non-finite value{'s' if count > 1 else ''}; overflow in exp?)"
        )
    close = np.isclose(array, expected, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    index = _first(~close)
    count = int((~close).sum())
    error = float(np.nanmax(np.abs(array - expected)))
    raise AssertionError(
        f"{what}: first difference at {list(index)}: expected {expected[index]:.6g}, "
        f"got {array[index]:.6g}; {count} of {array.size} elements differ "
        f"(max abs error {error:.3g})"
    )


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def assert_integer(got: Any, expected: int, what: str) -> None:
    """Assert the student returned the integer ``expected`` as an int (not 3.0)."""
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in "iu":
        got = int(got)
    if isinstance(got, bool) or not isinstance(got, int):
        shown = got if not isinstance(got, np.ndarray) else f"a {got.dtype} array"
        raise AssertionError(f"{what}: expected the int {expected}, got {shown!r}")
    if got != expected:
        raise AssertionError(f"{what}: expected {expected}, got {got}")
