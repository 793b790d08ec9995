"""Reading submitted notebooks: from untrusted bytes to a list of code cells.

Students submit whatever their tools wrote: Colab metadata, duplicate cell ids, stray
fields, sometimes not a notebook at all. Grading needs only the code cells' sources, so
reading is lenient about what does not matter and precise about what does: every reason
to refuse becomes a ``NotebookError`` whose message tells the student what to fix.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import NotebookError


@dataclass(frozen=True)
class CodeCell:
    """One code cell: its position among code cells, its index among all cells, its source."""

    index: int
    notebook_index: int
    source: str
    tags: tuple[str, ...] = ()  # cell metadata tags, e.g. "parameters" (papermill's convention)

    def to_dict(self) -> dict[str, Any]:
        """As plain data (a task for a cluster's worker)."""
        return {"index": self.index, "notebook_index": self.notebook_index, "source": self.source,
                "tags": list(self.tags)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodeCell:
        return cls(data["index"], data["notebook_index"], data["source"], tuple(data["tags"]))


def read_code_cells(path: Path, max_bytes: int) -> list[CodeCell]:
    """Read ``path`` as a v4 notebook and return its code cells, or raise NotebookError."""
    return parse_code_cells(read_capped(path, max_bytes), path.name)


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file and no link, read with a cap
    whatever its size claims (a link to ``/dev/zero`` claims 0 bytes and never ends)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():
            raise NotebookError(f"{path.name} is a link, not a notebook file; submit the "
                                ".ipynb file itself") from exc
        raise NotebookError(f"cannot read {path.name}: {exc.strerror}") from exc
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NotebookError(f"{path.name} is not a regular file; submit the .ipynb file itself")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotebookError(
            f"{path.name} is over the {max_bytes / 2**20:g} MB limit for a submission; clear "
            "large outputs (Edit > Clear all outputs) and resubmit"
        )
    return data


def assignment_stamp(path: Path, max_bytes: int) -> str:
    """The assignment a notebook says it is for (``metadata.grader.assignment``, as released
    notebooks carry it); "" when it says none or cannot be read (reading it is the cells'
    business, which says why)."""
    try:
        notebook = _load_json(read_capped(path, max_bytes), path.name)
        stamp = notebook["metadata"]["grader"]["assignment"]
    except (NotebookError, KeyError, TypeError):
        return ""
    return stamp[:200] if isinstance(stamp, str) else ""


def parse_code_cells(data: bytes, name: str = "notebook") -> list[CodeCell]:
    """Parse notebook bytes; see ``read_code_cells``."""
    notebook = _load_json(data, name)
    _check_format(notebook, name)
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise NotebookError(f"{name} has no list of cells; is it a Jupyter notebook?")
    code = [
        CodeCell(index=position, notebook_index=i, source=source, tags=tags)
        for position, (i, source, tags) in enumerate(_code_sources(cells, name))
    ]
    if not code:
        raise NotebookError(f"{name} has no code cells: nothing to grade")
    return code


def _load_json(data: bytes, name: str) -> dict:
    if b"\x00" in data[:8192]:
        raise NotebookError(f"{name} is a binary file, not a Jupyter notebook (.ipynb is JSON)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(
            f"{name} is not UTF-8 text (byte {exc.start}); save it again from Jupyter"
        ) from exc
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file may be truncated or edited by hand"
        ) from exc
    except RecursionError as exc:
        raise NotebookError(f"{name} is nested too deeply to be a notebook") from exc
    if not isinstance(notebook, dict):
        raise NotebookError(f"{name} is JSON but not a notebook (top level is not an object)")
    return notebook


def _check_format(notebook: dict, name: str) -> None:
    major = notebook.get("nbformat")
    if major is None and "worksheets" not in notebook and "cells" not in notebook:
        raise NotebookError(f"{name} is JSON but not a Jupyter notebook (no nbformat, no cells)")
    if isinstance(major, int) and major < 4 or "worksheets" in notebook:
        raise NotebookError(
            f"{name} uses the old notebook format {major} (IPython 2 era); open it in a current "
            "Jupyter or Colab and save it, which upgrades it to format 4"
        )
    if isinstance(major, int) and major > 4:
        raise NotebookError(f"{name} uses notebook format {major}, newer than this grader knows")


def _code_sources(cells: list, name: str) -> list[tuple[int, str, tuple[str, ...]]]:
    sources = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"{name}: cell {i + 1} has a malformed source field")
        sources.append((i, source, _tags(cell)))
    return sources


def _tags(cell: dict) -> tuple[str, ...]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
