"""IPython in notebook code: magics, shell escapes and the names IPython defines.

A cell is analysed as the Python IPython runs: ``TransformerManager`` turns ``%magic`` lines
into calls (``get_ipython().run_line_magic(...)``); a cell magic's body is analysed as the
Python it runs, on its own lines; the code a magic's arguments hold (``%time stmt``) is
analysed where the magic is. Names IPython binds (``display``, ``_i3``...) never come from a
student's star import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from grader.analysis.syntax import parse_cell
from grader.spec.notebook import CodeCell

IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "exit", "quit"})
IPYTHON_HISTORY = re.compile(r"_+|_i+|_[io]?h|_d?h|_i?\d+")
MAGIC_RUNNERS = frozenset({"run_line_magic", "run_cell_magic"})
_MAGIC_OPTION = re.compile(r"\s*-\w+(?:\s+(?=[\d.]))?[\d.]*")


def is_ipython_name(name: str) -> bool:
    return name in IPYTHON_NAMES or IPYTHON_HISTORY.fullmatch(name) is not None


def magic_code(text: str) -> str:
    """The Python in a magic's line or body: as it is, or without leading options
    (``-n1 -r 3 stmt``); empty when neither parses."""
    candidates = [text]
    rest = text
    while (option := _MAGIC_OPTION.match(rest)) is not None and option.end() > 0:
        rest = rest[option.end():]
        candidates.append(rest.lstrip(" \t"))
    for candidate in candidates:
        if parse_cell(candidate) is not None:
            return candidate
    return ""


def python_sources(cells: Sequence[CodeCell]) -> list[str]:
    """Each cell as the Python it runs (magics turned into calls, cell magics unwrapped)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    sources = []
    for cell in cells:
        try:
            sources.append(transformer.transform_cell(_cell_magic_body(cell.source)))
        except Exception:  # noqa: BLE001 - unparseable cells are skipped by the analyser too
            sources.append(cell.source)
    return sources


#: Cell magics whose body is not Python (shell escapes are recorded, never run).
_SCRIPT_MAGICS = frozenset({"bash", "sh", "script", "system", "perl", "ruby", "sx", "svg",
                            "javascript", "js", "html", "latex", "markdown", "writefile", "file"})


def _cell_magic_body(source: str) -> str:
    """A cell run by a cell magic (``%%time``, ``%%capture``, ``%%timeit``...) is analysed as
    the Python it runs, on the same lines: what it defines is defined for the analysis too.
    A script magic's body is left to IPython's transformer (it is not Python)."""
    stripped = source.lstrip()
    if not stripped.startswith("%%"):
        return source
    head, _, body = stripped.partition("\n")
    name = head[2:].split(maxsplit=1)[0] if head[2:].strip() else ""
    if name in _SCRIPT_MAGICS:
        return source
    skipped = source[: len(source) - len(stripped)].count("\n")
    return "\n" * (skipped + 1) + body
