"""What one run of a notebook tells about the names a question asks for.

``grader check`` runs a student's notebook once; this module reads what that run recorded
(each code cell's status and error, the probes' outcomes: ``grader.observations``) beside the
cells' source (parsed, never run) and says, for each name of a question, whether it is still
undefined, still the template's stub (it raises ``NotImplementedError``), or lost to a syntax
error or an error in the cell that defines it. Cells are named by their first line, as
Jupyter shows no cell numbers. Nothing here runs the notebook again.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.analysis.findings import AST_LOCK, names_bound, top_level_bindings
from grader.analysis.magics import python_sources
from grader.analysis.syntax import COMPREHENSIONS, NEW_SCOPES, bound_names, child_nodes, parse_cell
from grader.observations import CellRecord, Observations, ProbeRecord
from grader.spec.notebook import CodeCell

#: How long a cell's first line may be when it names the cell.
FIRST_LINE_CHARS = 60
#: A frame of a recorded traceback (``grader.child.runner.describe_error`` writes them).
_FRAME = re.compile(r"code cell (\d+), line (\d+), in ([^:\s]+)")
_SYNTAX_LINE = re.compile(r"^\s*line (\d+):", re.MULTILINE)
_UNDEFINED = re.compile(r"name '(\w+)' is not defined")
#: A note of the scorer that names a cell by its number (``scoring.scorer._cell_notes``).
_NOTE_CELL = re.compile(r"^Code cell (\d+)")


@dataclass(frozen=True)
class NameIssue:
    """Something wrong with one name a question asks for, in a sentence for the student."""

    name: str
    kind: str  # "undefined" | "not-implemented"
    text: str


def first_line(source: str) -> str:
    """How a student finds a cell: its first line that is not blank, shortened."""
    line = next((" ".join(text.split()) for text in source.splitlines() if text.strip()), "")
    return line if len(line) <= FIRST_LINE_CHARS else line[:FIRST_LINE_CHARS - 1] + "…"


def cell_label(cells: Sequence[CodeCell], index: int) -> str:
    """``the cell starting `def relu(x):` `` for the code cell at ``index``."""
    source = next((c.source for c in cells if c.index == index), "")
    return f"the cell starting `{first_line(source)}`" if source.strip() else \
        f"the empty code cell number {index + 1}"


def with_cell_labels(note: str, cells: Sequence[CodeCell]) -> str:
    """A scorer's note ("Code cell 13 raised ...") with the cell named by its first line."""
    found = _NOTE_CELL.match(note)
    if not found:
        return note
    label = cell_label(cells, int(found.group(1)) - 1)
    return label[0].upper() + label[1:] + note[found.end():]


class Standing:
    """The run's record of one notebook, read for the names questions ask for."""

    def __init__(self, cells: Sequence[CodeCell], observations: Observations,
                 probe_names: Mapping[str, str]) -> None:
        self.cells = list(cells)
        self.records = {record.index: record for record in observations.cells}
        self.probes: dict[str, list[ProbeRecord]] = {}
        for key, record in observations.probes.items():
            if key in probe_names:
                self.probes.setdefault(probe_names[key], []).append(record)
        with AST_LOCK:  # see grader.analysis.findings
            self.sources = python_sources(self.cells)
            self.trees = [parse_cell(source) for source in self.sources]

    def issues(self, names: Sequence[str]) -> list[NameIssue]:
        """What is wrong with each of ``names`` (nothing for a name that looks implemented)."""
        found = (self.issue(name) for name in names)
        return [issue for issue in found if issue is not None]

    def issue(self, name: str) -> NameIssue | None:
        probes = self.probes.get(name, [])
        if any(p.status == "ok" for p in probes) and not any(p.status == "undefined" for p in probes):
            return None
        defining = self._defining(name)
        failed = self._failed_undefined(name)
        if any(p.status == "undefined" for p in probes) or defining is None or \
                (failed is not None and failed > defining[0]):
            return NameIssue(name, "undefined", f"{name} is not defined: {self._why_undefined(name)}")
        cell, statement = defining
        if self._raised_not_implemented(name) or _is_stub(statement) or any(
                (p.error or {}).get("type") == "NotImplementedError" for p in probes):
            return NameIssue(name, "not-implemented",
                             f"{name} still raises NotImplementedError (the template's "
                             f"placeholder in {cell_label(self.cells, cell)})")
        return None

    def _failed_undefined(self, name: str) -> int | None:
        """The last cell that failed with ``NameError: name 'NAME' is not defined``."""
        failed = [index for index, record in self.records.items()
                  if (record.error or {}).get("type") == "NameError"
                  and name in _UNDEFINED.findall((record.error or {}).get("message", ""))]
        return max(failed, default=None)

    def _binding_cells(self, name: str) -> list[int]:
        """The code cells whose top level binds ``name`` (in compound statements too; by
        their lines when they do not parse), in order."""
        return [number for number, (source, tree) in enumerate(zip(self.sources, self.trees, strict=True))
                if name in (_top_level_names(tree) if tree is not None else names_bound(source))]

    def _defining(self, name: str) -> tuple[int, ast.AST | None] | None:
        """The last cell that ran and bound ``name``, with the statement that bound it."""
        for number in reversed(self._binding_cells(name)):
            record = self.records.get(self.cells[number].index)
            statement = self._statement(number, name)
            if record is not None and (record.status == "ok" or self._bound_before_error(
                    record, statement)):
                return self.cells[number].index, statement
        return None

    def _statement(self, number: int, name: str) -> ast.AST | None:
        tree = self.trees[number]
        found = None
        for statement in tree.body if tree is not None else []:
            if any(bound == name for bound, _ in top_level_bindings(statement)):
                found = statement
        return found

    def _bound_before_error(self, record: CellRecord, statement: ast.AST | None) -> bool:
        line = _error_line(record)
        return (record.status == "error" and statement is not None and line is not None
                and getattr(statement, "end_lineno", line) < line)

    def _why_undefined(self, name: str) -> str:
        """Why ``name`` is not defined, from the cells that should define it."""
        binding = self._binding_cells(name)
        placeholder = self._placeholder(name)
        if not binding and placeholder is not None:
            return (f"{cell_label(self.cells, placeholder)} still raises NotImplementedError "
                    "(the template's placeholder)")
        if not binding:
            return "no cell of the notebook defines it (was it renamed or deleted?)"
        number = binding[-1]
        index = self.cells[number].index
        label = cell_label(self.cells, index)
        record = self.records.get(index)
        if record is None:
            return f"the notebook stopped before {label} ran"
        error = record.error or {}
        line = _error_line(record)
        at = f" on line {line}" if line is not None else ""
        if record.status == "syntax-error":
            return f"{label} has a syntax error{at} ({error.get('message', '')})"
        if record.status == "timeout":
            return f"{label} was stopped at its time limit before defining it"
        if record.status == "crashed":
            return f"{label} crashed the notebook's process before defining it"
        if error.get("type") == "NotImplementedError":
            return f"{label} still raises NotImplementedError (the template's placeholder)"
        if record.status == "error":
            return f"{label} raised {error.get('type')}{at} ({error.get('message', '')}) before defining it"
        return f"it is not defined after the notebook runs, though {label} assigns it"

    def _placeholder(self, name: str) -> int | None:
        """A cell that mentions ``name`` and raised NotImplementedError at its top level: the
        template's placeholder for a value (``# X_FILTERS = ...`` then ``raise
        NotImplementedError()``)."""
        for number, source in enumerate(self.sources):
            record = self.records.get(self.cells[number].index)
            if record is not None and (record.error or {}).get("type") == "NotImplementedError" \
                    and _error_line(record) is not None and re.search(rf"\b{re.escape(name)}\b", source):
                return record.index
        return None

    def _raised_not_implemented(self, name: str) -> bool:
        """Whether a cell's error was ``NotImplementedError`` raised inside ``name``."""
        for record in self.records.values():
            error = record.error or {}
            frames = _FRAME.findall(error.get("traceback", ""))
            if error.get("type") == "NotImplementedError" and frames and frames[-1][2] == name:
                return True
        return False


def _top_level_names(tree: ast.Module) -> set[str]:
    """Every name a cell binds in the notebook's namespace: at its top level, in ``if``,
    ``for``, ``try`` or ``with`` blocks too, but not inside functions or classes."""
    names: set[str] = set()
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        names.update(bound_names(node))
        if type(node) not in NEW_SCOPES and not isinstance(node, COMPREHENSIONS):
            stack.extend(child_nodes(node))
    return names


def _error_line(record: CellRecord) -> int | None:
    """The line of the cell's own code where its error happened (its syntax error's line)."""
    traceback = (record.error or {}).get("traceback", "")
    if record.status == "syntax-error":
        found = _SYNTAX_LINE.findall(traceback)
        return int(found[-1]) if found else None
    own = [int(line) for cell, line, function in _FRAME.findall(traceback)
           if int(cell) == record.index + 1 and function == "<module>"]
    return own[-1] if own else None


def _is_stub(statement: ast.AST | None) -> bool:
    """Whether a function is still the template's stub: its body reaches a bare
    ``raise NotImplementedError`` (after a docstring, comments or ``pass``) before any return."""
    if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for node in statement.body:
        if isinstance(node, ast.Return):
            return False
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                return True
    return False
