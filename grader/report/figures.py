"""Figures in feedback: plain data (``ImageGrid``, ``Confusion``) that knows how to draw itself
(inline PNG with matplotlib's Agg canvas, no pyplot state) and how to read as text; drawn
PNGs are kept by content, so a class of identical pictures is drawn once.

Nothing here may fail a grading run: a figure that cannot be drawn (matplotlib missing, odd
values) is shown as text.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
