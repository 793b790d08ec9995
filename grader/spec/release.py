"""Release: derive the student notebook from the reference by blanking solution regions.

Regions follow nbgrader's convention so existing course material works unchanged::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

Each region (markers included) becomes ``# YOUR CODE HERE`` and ``raise
NotImplementedError()`` at the marker's indentation. Outputs and execution counts are
cleared, so the released notebook reveals nothing the reference computed.

Given the assignment's name, the notebook is stamped: ``metadata.grader.assignment`` (how
``grader check`` finds the assignment and its student kit) and ``metadata.grader.release``
(a digest of the released notebook without its stamp, which the kit records too, so a
check can tell a notebook released from another version of the assignment).
"""

from __future__ import annotations

import hashlib
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


def release_notebook(reference: Path, assignment: str | None = None) -> nbformat.NotebookNode:
    """The student version of ``reference`` (a new notebook object; nothing is written),
    stamped for ``assignment`` when given."""
    notebook = nbformat.read(str(reference), as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{reference.name} cell {index + 1}")
            cell.outputs = []
            cell.execution_count = None
    if assignment is not None:
        notebook.metadata.pop("grader", None)
        stamp = {"assignment": assignment, "release": release_id(notebook)}
        notebook.metadata["grader"] = stamp
    return notebook


def release_id(notebook: nbformat.NotebookNode) -> str:
    """A digest of a released notebook without its stamp (cells, metadata)."""
    unstamped = nbformat.from_dict(notebook)
    unstamped.metadata.pop("grader", None)
    return hashlib.sha256(nbformat.writes(unstamped).encode()).hexdigest()[:16]


def release(reference: Path, destination: Path, assignment: str | None = None) -> Path:
    """Write the student notebook for ``reference`` to ``destination``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(released_text(reference, assignment), encoding="utf-8")
    return destination


def released_text(reference: Path, assignment: str | None = None) -> str:
    """The exact text ``release`` writes, to compare with a checked-in student notebook."""
    return nbformat.writes(release_notebook(reference, assignment)).rstrip("\n") + "\n"


def stamp_of(path: Path) -> dict[str, str]:
    """A notebook's ``metadata.grader`` (empty when it has none or cannot be read): untrusted
    text, used only to find a kit and to warn."""
    import json

    try:
        stamp = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("grader", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(stamp, dict):
        return {}
    return {k: v for k, v in stamp.items() if isinstance(k, str) and isinstance(v, str)}
