"""Release: derive the student notebook from the reference by blanking solution regions.

Regions follow nbgrader's convention so existing course material works unchanged::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

Each region (markers included) becomes ``# YOUR CODE HERE`` and ``raise
NotImplementedError()`` at the marker's indentation. Outputs and execution counts are
cleared, so the released notebook reveals nothing the reference computed.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from grader.errors import GraderError

BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")


class ReleaseError(GraderError):
    """The reference's solution regions are malformed."""


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace every solution region of ``source``; raise ReleaseError on unbalanced markers."""
    out: list[str] = []
    indent: str | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if indent is not None:
                raise ReleaseError(f"{where}, line {number}: BEGIN SOLUTION inside another region")
            indent = begin.group(1)
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif end:
            if indent is None:
                raise ReleaseError(f"{where}, line {number}: END SOLUTION without BEGIN SOLUTION")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ReleaseError(f"{where}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(out)


def release_notebook(reference: Path) -> nbformat.NotebookNode:
    """The student version of ``reference`` (a new notebook object; nothing is written)."""
    notebook = nbformat.read(str(reference), as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{reference.name} cell {index + 1}")
            cell.outputs = []
            cell.execution_count = None
    return notebook


def release(reference: Path, destination: Path) -> Path:
    """Write the student notebook for ``reference`` to ``destination``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(released_text(reference), encoding="utf-8")
    return destination


def released_text(reference: Path) -> str:
    """The exact text ``release`` writes, to compare with a checked-in student notebook."""
    return nbformat.writes(release_notebook(reference)).rstrip("\n") + "\n"
