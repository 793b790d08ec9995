"""Per-submission feedback: ``feedback.html`` and ``feedback.md`` beside ``results.json``.

Both show what results.json already tells the student (score per question, each failing
check's message, notes such as cells that raised) in a form people read, plus pictures
where looking beats reading:

- any confusion matrix a check printed (``true\\pred`` tables, as build-cnn notes them) as
  a heat map beside the accuracy of each class as bars;
- pictures the assignment draws itself: an optional ``feedback.py`` in the assignment
  folder defines ``figures(context)`` returning figures of this module (convolve-by-hand
  shows the student's feature maps of the lecture's X beside the expected ones). It is
  instructor code run in the grader's process, like ``checks.py``, and it must show only
  answers to *public* inputs: every expected value it draws is visible to the student.

Images are inline base64 PNG drawn with matplotlib's Agg canvas (no pyplot state). Nothing
here may fail a grading run: a figure that cannot be drawn (matplotlib missing, odd
values, a bug in a hook) is shown as text, and ``write_feedback`` never raises.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import importlib.util
import io
import math
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.files import atomic_write
from grader.observations import Observations, ProbeRecord
from grader.results import CheckResult, SubmissionResult
from grader.spec import Assignment

HOOK_FILE = "feedback.py"
#: Arrays larger than this are described, not drawn (a result may hold 10 million numbers).
MAX_PIXELS = 64 * 64
MAX_CHANNELS = 8
DPI = 96
ANNOTATE_ALL = 25  # images of at most this many values show every value as text
MAX_ANNOTATED = 100  # larger images show no values as text
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MATPLOTLIB_MISSING = "pictures need matplotlib (pip install matplotlib); shown as numbers instead"


# --- figures: plain data that knows how to draw itself and how to read as text -----------

@dataclass
class GridRow:
    """One row of an ``ImageGrid``: an array of shape (H, W) or (H, W, C), or why there is none."""

    label: str
    array: np.ndarray | None = None
    message: str = ""  # shown instead of the images when ``array`` is None
    titles: list[str] | None = None  # this row's own titles (default: the grid's column names)


@dataclass
class ImageGrid:
    """Rows of small images on one colour scale, one column per channel (e.g. the student's
    feature maps above the expected ones). Entries of a row that differ from the row named
    ``compare_to`` are outlined in red."""

    title: str
    rows: list[GridRow]
    columns: list[str] = field(default_factory=list)
    caption: str = ""
    compare_to: str | None = None  # label of the row the others are compared with
    annotate: bool = True  # print each value inside its square (small images only)

    def text(self) -> str:
        lines = [self.title]
        for row in self.rows:
            lines.append(f"{row.label}:")
            if row.array is None:
                lines.append(f"  {row.message}")
                continue
            if _too_large(row.array):
                lines.append(f"  an array of shape {row.array.shape} ({row.array.dtype})")
                continue
            array = _as_hwc(row.array)
            for channel in range(array.shape[2]):
                name = self.columns[channel] if channel < len(self.columns) else f"channel {channel}"
                lines.append(f"  {name}:")
                lines += ["    " + " ".join(f"{v:6.2f}" for v in line) for line in array[:, :, channel]]
        return "\n".join(lines)

    def drawable(self) -> str | None:
        """Why this grid cannot be drawn, or None."""
        arrays = [r.array for r in self.rows if r.array is not None]
        if not arrays:
            return "nothing to draw"
        for array in arrays:
            if _too_large(array):
                return f"an array of shape {array.shape} and dtype {array.dtype} is not an image to draw"
        return None

    def draw(self, figure: Any) -> None:
        arrays = [_as_hwc(r.array) if r.array is not None else None for r in self.rows]
        channels = max(a.shape[2] for a in arrays if a is not None)
        finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays if a is not None])
        limit = float(np.max(np.abs(finite))) if finite.size else 1.0
        limit = limit or 1.0
        base = None
        if self.compare_to is not None:
            base = next((a for r, a in zip(self.rows, arrays, strict=True)
                         if r.label == self.compare_to), None)
        width, height = 1.3 + 2.0 * channels, 0.35 + 2.15 * len(self.rows)
        figure.set_size_inches(width, height)
        grid = figure.subplots(len(self.rows), channels, squeeze=False, gridspec_kw={
            "left": 0.35 / width, "right": 1 - 1.0 / width, "bottom": 0.1 / height,
            "top": 1 - 0.3 / height, "wspace": 0.08, "hspace": 0.18})
        image = None
        headed = next((r for r, row in enumerate(self.rows) if row.titles is None), 0)
        for r, (row, array) in enumerate(zip(self.rows, arrays, strict=True)):
            for c in range(channels):
                ax = grid[r][c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(row.label, fontsize=9)
                if row.titles is not None and c < len(row.titles):
                    ax.set_title(row.titles[c], fontsize=9)
                elif r == headed and row.titles is None:
                    ax.set_title(self.columns[c] if c < len(self.columns) else f"channel {c}",
                                 fontsize=9)
                if array is None or c >= array.shape[2]:
                    text = row.message if c == 0 and array is None else ""
                    ax.text(0.02, 0.5, _wrap(text, 28), fontsize=7, va="center", ha="left",
                            transform=ax.transAxes)
                    for spine in ax.spines.values():
                        spine.set_visible(False)
                    continue
                plane = array[:, :, c]
                image = ax.imshow(np.nan_to_num(plane, nan=0.0, posinf=limit, neginf=-limit),
                                  cmap="RdBu_r", vmin=-limit, vmax=limit)
                differ = np.zeros(plane.shape, dtype=bool)
                if base is not None and array is not base and base.shape == array.shape:
                    differ = ~np.isclose(plane, base[:, :, c], rtol=1e-6, atol=1e-8, equal_nan=True)
                    _outline(ax, differ)
                # every value of a small image; of a larger one, only those that differ (text
                # is what makes drawing slow, and colour already tells the rest)
                shown = np.ones_like(differ) if plane.size <= ANNOTATE_ALL else differ
                if self.annotate and plane.size <= MAX_ANNOTATED:
                    for i, j in np.argwhere(shown):
                        value = plane[i, j]
                        ax.text(j, i, _short(value), ha="center", va="center", fontsize=6,
                                color="black" if abs(value) < 0.6 * limit else "white")
        if image is not None:
            bar = figure.add_axes((1 - 0.75 / width, 0.25, 0.15 / width, 0.5))
            figure.colorbar(image, cax=bar)


@dataclass
class Confusion:
    """A confusion matrix (rows: true class, columns: predicted) and the accuracy per class."""

    title: str
    matrix: np.ndarray
    labels: list[str] = field(default_factory=list)
    caption: str = ""

    def per_class(self) -> np.ndarray:
        totals = self.matrix.sum(axis=1)
        return np.divide(np.diag(self.matrix), totals, out=np.zeros(len(totals)), where=totals > 0)

    def text(self) -> str:
        labels = self._labels()
        lines = [self.title, "true\\pred " + "".join(f"{label:>5}" for label in labels)]
        lines += [f"{label:>9} " + "".join(f"{v:>5}" for v in row)
                  for label, row in zip(labels, self.matrix, strict=True)]
        lines.append("accuracy per class: " + ", ".join(
            f"{label} {value:.2f}" for label, value in zip(labels, self.per_class(), strict=True)))
        return "\n".join(lines)

    def drawable(self) -> str | None:
        shape = self.matrix.shape
        if self.matrix.ndim != 2 or shape[0] != shape[1] or not 2 <= shape[0] <= 50:
            return f"a matrix of shape {shape} is not a confusion matrix to draw"
        return None

    def draw(self, figure: Any) -> None:
        labels = self._labels()
        n = len(labels)
        figure.set_size_inches(9.5, 4.4)
        heat, bars = figure.subplots(1, 2, gridspec_kw={
            "width_ratios": [1.15, 1], "left": 0.06, "right": 0.97, "bottom": 0.12, "top": 0.9,
            "wspace": 0.25})
        heat.imshow(self.matrix, cmap="Blues")
        heat.set_xticks(range(n), labels, fontsize=8)
        heat.set_yticks(range(n), labels, fontsize=8)
        heat.set_xlabel("predicted")
        heat.set_ylabel("true")
        heat.set_title("confusion matrix", fontsize=10)
        peak = self.matrix.max() or 1
        if n <= 20:
            for (i, j), value in np.ndenumerate(self.matrix):
                if value:
                    heat.text(j, i, str(int(value)), ha="center", va="center", fontsize=7,
                              color="white" if value > 0.6 * peak else "black")
        accuracy = self.per_class()
        overall = float(np.trace(self.matrix) / max(1, self.matrix.sum()))
        colors = ["#c0392b" if a < overall - 0.1 else "#2e86c1" for a in accuracy]
        bars.barh(range(n), accuracy, color=colors)
        bars.set_yticks(range(n), labels, fontsize=8)
        bars.invert_yaxis()
        bars.set_xlim(0, 1)
        bars.axvline(overall, color="black", linestyle="--", linewidth=1)
        bars.set_xlabel("accuracy of the class (correct / images of it)")
        bars.set_title(f"accuracy per class (dashed: all classes, {overall:.3f})", fontsize=10)
        for i, value in enumerate(accuracy):
            inside = value > 0.8
            bars.text(value - 0.01 if inside else value + 0.01, i, f"{value:.2f}", va="center",
                      ha="right" if inside else "left", fontsize=7, color="white" if inside else "black")

    def _labels(self) -> list[str]:
        return self.labels or [str(i) for i in range(self.matrix.shape[0])]


Figure = ImageGrid | Confusion


@dataclass
class Picture:
    """A figure as it appears in the feedback: a PNG, or text when it could not be drawn."""

    title: str
    caption: str
    png: bytes | None
    text: str
    why_text: str = ""  # why it is text and not a picture

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png or b"").decode("ascii")


#: Pictures already drawn in this process, by content: the correct submissions of a class
#: draw the same feature maps, and drawing costs more than running a notebook warm.
_DRAWN: dict[str, Picture] = {}
_DRAWN_MAX = 256


def render(figure: Figure) -> Picture:
    """Draw ``figure`` as a PNG; on any failure keep its text (never raises for a figure).

    A figure with the same content as one drawn before gets the same picture, not drawn again.
    """
    try:
        key = _content_key(figure)
    except TypeError:
        return _render(figure)
    if key not in _DRAWN:
        if len(_DRAWN) >= _DRAWN_MAX:
            _DRAWN.pop(next(iter(_DRAWN)))
        _DRAWN[key] = _render(figure)
    return _DRAWN[key]


def _content_key(figure: Figure) -> str:
    """A digest of everything a figure shows (its type, texts, numbers and arrays)."""
    digest = hashlib.sha256()

    def add(value: Any) -> None:
        if isinstance(value, np.ndarray):
            digest.update(f"array{value.dtype.str}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            digest.update(type(value).__qualname__.encode())
            for item in dataclasses.fields(value):
                digest.update(item.name.encode())
                add(getattr(value, item.name))
        elif isinstance(value, (list, tuple)):
            digest.update(f"seq{len(value)}".encode())
            for item in value:
                add(item)
        elif isinstance(value, dict):
            digest.update(f"map{len(value)}".encode())
            for name, item in value.items():
                add(name)
                add(item)
        elif value is None or isinstance(value, (str, int, float, bool)):
            digest.update(f"{type(value).__name__}:{value!r};".encode())
        else:
            raise TypeError(f"cannot fingerprint {type(value).__name__}")

    add(figure)
    return digest.hexdigest()


def _render(figure: Figure) -> Picture:
    try:
        text = figure.text()
    except Exception as exc:  # noqa: BLE001 - a figure must never fail the feedback
        text = f"(could not describe this figure: {type(exc).__name__}: {exc})"
    reason = figure.drawable()
    if reason is None:
        try:
            return Picture(figure.title, figure.caption, png(figure.draw), text)
        except ImportError:
            reason = MATPLOTLIB_MISSING
        except Exception as exc:  # noqa: BLE001 - fall back to text
            reason = f"could not draw it ({type(exc).__name__}: {exc})"
    return Picture(figure.title, figure.caption, None, text, reason)


def png(draw: Callable[[Any], None]) -> bytes:
    """A PNG of what ``draw`` draws on a fresh matplotlib Figure (Agg canvas, no pyplot).

    Raises ImportError without matplotlib; callers fall back to text.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    canvas_figure = MplFigure(dpi=DPI)  # fixed margins: a layout engine doubles the cost
    FigureCanvasAgg(canvas_figure)
    draw(canvas_figure)
    buffer = io.BytesIO()
    canvas_figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _too_large(array: np.ndarray) -> bool:
    """Not a small (H, W) or (H, W, C) array of real numbers."""
    return (array.ndim not in (2, 3) or array.dtype.kind not in "biuf" or array.size == 0
            or array.shape[0] * array.shape[1] > MAX_PIXELS
            or (array.ndim == 3 and array.shape[2] > MAX_CHANNELS))


def _as_hwc(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    return array[:, :, np.newaxis] if array.ndim == 2 else array


def _short(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".replace("0.", ".")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:8])


def _outline(ax: Any, differ: np.ndarray) -> None:
    from matplotlib.patches import Rectangle

    for i, j in np.argwhere(differ):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#e74c3c",
                               linewidth=1.6))


# --- figures from the checks' messages ----------------------------------------------------

CONFUSION_HEADER = re.compile(r"^\s*true\\pred((?:\s+\S+)+)\s*$")
ACCURACY_LINE = re.compile(r"accuracy on (\d+) ([^:]+): ([0-9.]+)")


def confusion_matrices(result: SubmissionResult) -> list[Confusion]:
    """Every distinct ``true\\pred`` table in the checks' messages (notes included)."""
    found: list[Confusion] = []
    titles = {q.id: q.title for q in result.questions}
    for check in result.checks:
        for matrix, labels, where in _parse_confusions(check.message):
            if any(np.array_equal(matrix, c.matrix) for c in found):
                continue
            question = titles.get(check.check.question, check.check.question)
            title = f"{question}: {where}" if where else question
            found.append(Confusion(title, matrix, labels,
                                   caption=f"From the check \u201c{check.check.name}\u201d"))
    return found


def _parse_confusions(message: str) -> list[tuple[np.ndarray, list[str], str]]:
    lines = (message or "").splitlines()
    tables = []
    for i, line in enumerate(lines):
        header = CONFUSION_HEADER.match(line)
        if not header:
            continue
        labels = header.group(1).split()
        rows = []
        for row in lines[i + 1: i + 1 + len(labels)]:
            parts = row.split()
            if len(parts) != len(labels) + 1 or not all(p.isdigit() for p in parts[1:]):
                break
            rows.append([int(p) for p in parts[1:]])
        if len(rows) != len(labels):
            continue
        where = ""
        for earlier in reversed(lines[:i]):
            accuracy = ACCURACY_LINE.search(earlier)
            if accuracy:
                where = f"{accuracy.group(2)}, accuracy {accuracy.group(3)}"
                break
        tables.append((np.array(rows), labels, where))
    return tables


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

    def _answer(self, kind: str, name: str, args: tuple, kwargs: dict) -> Answer:
        from grader.proxy import probe_key

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


_MODULES: dict[tuple[Path, float], ModuleType] = {}


def _load_module(path: Path) -> ModuleType:
    key = (path.resolve(), path.stat().st_mtime)
    if key not in _MODULES:
        name = f"grader_feedback_{path.parent.name.replace('-', '_')}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        _MODULES[key] = module
    return _MODULES[key]


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


# --- the feedback itself ------------------------------------------------------------------

@dataclass
class Feedback:
    result: SubmissionResult
    title: str
    pictures: list[Picture] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # for the instructor: why pictures are missing
    tracebacks: list[tuple[str, str]] = field(default_factory=list)  # (cell, its traceback)


def cell_tracebacks(observations: Observations | None) -> list[tuple[str, str]]:
    """The traceback (notebook frames only) of each code cell that raised, for the student."""
    found = []
    for cell in observations.cells if observations is not None else []:
        error = cell.error or {}
        if cell.status == "error" and error.get("traceback") and error.get("type") != "NotImplementedError":
            found.append((f"Code cell {cell.index + 1}",
                          f"{error['traceback']}\n{error.get('type')}: {error.get('message', '')}"))
    return found


def build(result: SubmissionResult, assignment: Assignment | None = None,
          observations: Observations | None = None,
          reference: Mapping[str, ProbeRecord] | None = None) -> Feedback:
    """Collect what the feedback shows, drawing every picture (never raises for a picture)."""
    feedback = Feedback(result, assignment.title if assignment else result.assignment)
    figures: list[Figure] = []
    if assignment is not None and not result.problem:
        context = FeedbackContext(assignment, result, observations, reference or {})
        own, problems = assignment_figures(context)
        figures += own
        feedback.problems += problems
    try:
        figures += confusion_matrices(result)
    except Exception as exc:  # noqa: BLE001 - a message that fooled the parser costs a picture
        feedback.problems.append(f"could not read a confusion matrix: {exc}")
    feedback.pictures = [render(f) for f in figures] + attached_pictures(result)
    feedback.tracebacks = cell_tracebacks(observations)
    return feedback


def attached_pictures(result: SubmissionResult) -> list[Picture]:
    """PNG files the checks attached to the result (``SubmissionResult.attachments``, name ->
    bytes, where the engine provides it), shown as they are."""
    attachments = getattr(result, "attachments", None) or {}
    return [Picture(str(name), "Attached by the checks.", bytes(data), "")
            for name, data in sorted(attachments.items())
            if isinstance(data, (bytes, bytearray)) and bytes(data[:8]) == PNG_SIGNATURE]


def write_feedback(result: SubmissionResult, folder: Path, assignment: Assignment | None = None,
                   observations: Observations | None = None,
                   reference: Mapping[str, ProbeRecord] | None = None) -> list[Path]:
    """Write ``feedback.html`` and ``feedback.md`` into ``folder``; never raises.

    ``observations`` and ``reference`` (the plan's reference records) are only needed for
    the assignment's own pictures. Returns the files written.
    """
    try:
        feedback = build(result, assignment, observations, reference)
    except Exception as exc:  # noqa: BLE001 - the grade is written already; keep the words
        feedback = Feedback(result, result.assignment,
                            problems=[f"pictures left out: {type(exc).__name__}: {exc}"])
    written = []
    for name, renderer in (("feedback.html", html_page), ("feedback.md", markdown)):
        try:
            atomic_write(folder / name, renderer(feedback).encode("utf-8"))
            written.append(folder / name)
        except Exception as exc:  # noqa: BLE001 - feedback must never fail a grading run
            print(f"grader: could not write {folder / name}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
    return written


def _by_question(result: SubmissionResult) -> list[tuple[str, str, float, float, list[CheckResult]]]:
    rows = []
    for question in result.questions:
        checks = [c for c in result.checks if c.check.question == question.id]
        rows.append((question.id, question.title, question.earned, question.possible, checks))
    return rows


def _points(value: float) -> str:
    return f"{value:.4g}"


# --- HTML ---------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2329;
       max-width: 980px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .1em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
.sub { color: #5b6670; margin-top: 0; }
.score { font-size: 2em; font-weight: 700; }
.problem { background: #fdecea; border-left: 4px solid #c0392b; padding: .6em 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e3e7ea; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.bar { background: #e3e7ea; width: 160px; height: 10px; border-radius: 5px; }
.bar span { display: block; height: 10px; border-radius: 5px; background: #2e86c1; }
.bar span.full { background: #27ae60; } .bar span.none { background: #c0392b; }
pre { background: #f5f7f8; padding: .6em .8em; overflow-x: auto; font-size: 13px;
      white-space: pre-wrap; word-break: break-word; }
.check { margin: .7em 0; } .check .name { font-weight: 600; }
.tag { font-size: 11px; border-radius: 3px; padding: 0 .4em; margin-left: .4em;
       background: #eaf2f8; color: #1f618d; }
.fail { color: #c0392b; } .pass { color: #27ae60; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ea; }
figcaption { color: #5b6670; font-size: 13px; }
footer { color: #5b6670; font-size: 12px; margin-top: 3em; }
"""


def html_page(feedback: Feedback) -> str:
    result = feedback.result
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(result.submission)}: {e(feedback.title)}</title>",
        f"<style>{STYLE}</style>", "</head>", "<body>",
        f"<h1>{e(feedback.title)}</h1>",
        f'<p class="sub">Feedback for <b>{e(result.submission)}</b> ({e(Path(result.path).name)})</p>',
        f'<p class="score">{_points(result.score)} / {_points(result.max_score)} points</p>',
    ]
    if result.problem:
        parts.append(f'<div class="problem"><b>Could not grade this notebook:</b> '
                     f"{e(result.problem)}</div>")
    parts += ["<h2>Score per question</h2>", "<table>",
              "<tr><th>question</th><th>points</th><th></th><th>checks passed</th></tr>"]
    for _, title, earned, possible, checks in _by_question(result):
        share = earned / possible if possible else 0.0
        kind = "full" if share >= 0.9999 else "none" if share <= 0 else ""
        passed = sum(c.passed for c in checks)
        parts.append(
            f"<tr><td>{e(title)}</td><td class=\"num\">{_points(earned)} / {_points(possible)}</td>"
            f'<td><div class="bar"><span class="{kind}" style="width:{100 * share:.0f}%"></span>'
            f'</div></td><td class="num">{passed} of {len(checks)}</td></tr>')
    parts.append("</table>")
    if feedback.pictures:
        parts.append("<h2>Pictures</h2>")
        for picture in feedback.pictures:
            parts.append(_html_picture(picture))
    parts.append("<h2>Checks</h2>")
    for _, title, earned, possible, checks in _by_question(result):
        failing = [c for c in checks if not c.passed]
        noted = [c for c in checks if c.passed and c.message]
        parts.append(f"<h3>{e(title)} <small>({_points(earned)} / {_points(possible)})</small></h3>")
        for check in failing + noted:
            parts.append(_html_check(check))
        quiet = [c for c in checks if c.passed and not c.message]
        if quiet:
            items = "".join(f"<li>{e(c.check.name)}{_public_tag(c)}</li>" for c in quiet)
            parts.append(f'<details><summary class="pass">{len(quiet)} passing check'
                         f'{"s" if len(quiet) != 1 else ""}</summary><ul>{items}</ul></details>')
    if result.notes:
        parts.append("<h2>Notes on your notebook</h2>")
        parts += [f"<pre>{e(note)}</pre>" for note in result.notes]
    for cell, trace in feedback.tracebacks:
        parts.append(f"<details><summary>Traceback of {e(cell)}</summary><pre>{e(trace)}</pre></details>")
    parts.append('<footer>Checks marked <span class="tag">public</span> use inputs from your '
                 "notebook; the others use hidden inputs. Code cells are numbered from 1, "
                 "counting code cells only.</footer>")
    if feedback.problems:  # for the instructor, as a comment: students need not see it
        parts.append("<!-- " + e(" | ".join(feedback.problems)).replace("--", "- -") + " -->")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _public_tag(check: CheckResult) -> str:
    return '<span class="tag">public</span>' if check.check.public else ""


def _html_check(check: CheckResult) -> str:
    e = html.escape
    mark = '<span class="pass">\u2713</span>' if check.passed else '<span class="fail">\u2717</span>'
    body = f"<pre>{e(check.message)}</pre>" if check.message else ""
    return (f'<div class="check">{mark} <span class="name">{e(check.check.name)}</span>'
            f"{_public_tag(check)}{body}</div>")


def _html_picture(picture: Picture) -> str:
    e = html.escape
    caption = e(picture.caption)
    if picture.png is not None:
        return (f'<figure><img src="{picture.data_uri}" alt="{e(picture.title)}">'
                f"<figcaption><b>{e(picture.title)}</b>. {caption}</figcaption></figure>")
    why = f" ({e(picture.why_text)})" if picture.why_text else ""
    return (f"<figure><figcaption><b>{e(picture.title)}</b>. {caption}{why}</figcaption>"
            f"<pre>{e(picture.text)}</pre></figure>")


# --- Markdown -----------------------------------------------------------------------------

def markdown(feedback: Feedback) -> str:
    result = feedback.result
    lines = [f"# {feedback.title}", "",
             f"Feedback for **{result.submission}** ({Path(result.path).name}): "
             f"**{_points(result.score)} / {_points(result.max_score)} points**", ""]
    if result.problem:
        lines += [f"> **Could not grade this notebook:** {result.problem}", ""]
    lines += ["| question | points | checks passed |", "|---|---:|---:|"]
    for _, title, earned, possible, checks in _by_question(result):
        lines.append(f"| {_md_cell(title)} | {_points(earned)} / {_points(possible)} | "
                     f"{sum(c.passed for c in checks)} of {len(checks)} |")
    lines.append("")
    for _, title, earned, possible, checks in _by_question(result):
        shown = [c for c in checks if not c.passed] + [c for c in checks if c.passed and c.message]
        if not shown:
            continue
        lines += [f"## {title} ({_points(earned)} / {_points(possible)})", ""]
        for check in shown:
            mark = "\u2713" if check.passed else "\u2717"
            public = " *(public)*" if check.check.public else ""
            lines += [f"- {mark} **{check.check.name}**{public}", ""]
            if check.message:
                lines += [_fence(check.message, indent="  "), ""]
    if feedback.pictures:
        lines += ["## Pictures", "", "The pictures are in feedback.html; here are their numbers.", ""]
        for picture in feedback.pictures:
            lines += [f"**{picture.title}**. {picture.caption}", ""]
            lines += [_fence(picture.text), ""] if picture.text else []
    if result.notes:
        lines += ["## Notes on your notebook", ""]
        for note in result.notes:
            lines += [_fence(note), ""]
    for cell, trace in feedback.tracebacks:
        lines += [f"Traceback of {cell}:", "", _fence(trace), ""]
    return "\n".join(lines).rstrip() + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(text: str, indent: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    body = "\n".join(indent + line for line in text.splitlines())
    return f"{indent}{ticks}\n{body}\n{indent}{ticks}"
