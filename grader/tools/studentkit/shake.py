"""The public part of a checks module: what a student kit ships instead of ``checks.py``.

Kept, in their order and with their own text: the public checks (``@check(..., public=True)``),
autouse fixtures and pytest hooks, and the module-level statements they reach through the
names they use (in bodies, decorators such as ``pytest.mark.parametrize``, defaults, and
parameters, which name fixtures). Everything else goes: hidden checks, what only they use
(their cases, thresholds, data), the module's docstring and the comments between statements.

A value the public checks need that is computed from files beside the checks (``data.py``
read through ``load_sibling(__file__, ...)``, a sibling import) is *frozen*: its value on the
instructor's machine is written into the kit (a literal, or an array in ``checks.frozen.npz``
read by ``grader.authoring.load_frozen``), so the kit ships neither those files nor the
hidden data they hold. A value that cannot be frozen is a ``KitError`` naming it.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.errors import KitError

FROZEN_SUFFIX = ".frozen.npz"


@dataclass
class Shaken:
    """The public checks module: its source, the arrays it loads frozen, and what was kept."""

    source: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # the module-level names kept
    frozen: list[str] = field(default_factory=list)  # ... of which frozen to their values


@dataclass
class _Statement:
    node: ast.stmt
    binds: set[str]
    uses: set[str]
    reads_files: bool  # uses __file__ or imports a module beside the checks


def public_checks(source: str, siblings: Iterable[str] = (),
                  values: Callable[[], dict[str, Any]] | None = None) -> Shaken:
    """The public part of the checks module ``source``.

    ``siblings`` are the module names of the files beside it (``data`` for data.py), which a
    kit does not ship; ``values`` loads the full module (on the instructor's machine) when a
    value computed from them must be frozen.
    """
    tree = ast.parse(source)
    statements = [_statement(node, set(siblings)) for node in tree.body if not _docstring(node)]
    binders = _binders(statements)
    reads = _reads_files(statements, binders)
    kept, frozen = _reach(statements, binders, reads)
    loaded = values() if frozen and values is not None else {}
    lines = source.splitlines()
    future = [s for s in kept if _future(s.node)]
    out = ["# The public checks of this assignment, as its student kit ships them: the hidden\n"
           "# checks and everything only they use are left out (grader release)."]
    out += [_text(s.node, lines) for s in future]
    arrays: dict[str, np.ndarray] = {}
    if frozen:
        out.append("from grader.authoring import load_frozen")
    for statement in kept:
        if _future(statement.node):
            continue
        if id(statement) in frozen:
            out += [_frozen_line(name, loaded, arrays) for name in sorted(statement.binds)]
        else:
            out.append(_text(statement.node, lines))
    names = sorted({n for s in kept for n in s.binds})
    frozen_names = sorted({n for s in kept if id(s) in frozen for n in s.binds})
    return Shaken("\n\n\n".join(out) + "\n", arrays, names, frozen_names)


def _docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)


def _future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _statement(node: ast.stmt, siblings: set[str]) -> _Statement:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        binds = {(a.asname or a.name).split(".")[0] for a in node.names}
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if node.level == 0 else [""]
        sibling = any(m.split(".")[0] in siblings for m in modules) or \
            (isinstance(node, ast.ImportFrom) and node.level > 0)
        return _Statement(node, binds, set(), sibling)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        binds, uses = {node.name}, _function_uses(node)
    else:
        binds = {n.id for n in _walk_here(node) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Store)}
        uses = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Load)}
    return _Statement(node, binds, uses, "__file__" in uses)


def _function_uses(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> set[str]:
    """The module-level names a definition may use: every name it loads that it does not
    bind itself, and its parameters' names (pytest fixtures are named by them)."""
    loads: set[str] = set()
    local: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            (loads if isinstance(child.ctx, ast.Load) else local).add(child.id)
        elif isinstance(child, ast.arg):
            local.add(child.arg)
    parameters = {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
    outer = {n.id for d in getattr(node, "decorator_list", []) for n in ast.walk(d)
             if isinstance(n, ast.Name)}
    for default in _defaults(node):
        outer |= {n.id for n in ast.walk(default) if isinstance(n, ast.Name)}
    return (loads - local) | parameters | outer


def _defaults(node: ast.AST) -> list[ast.expr]:
    arguments = getattr(node, "args", None)
    if not isinstance(arguments, ast.arguments):
        return []
    return [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]


def _walk_here(node: ast.AST) -> Iterable[ast.AST]:
    """The nodes of a module-level statement outside the functions and classes it defines."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            yield from _walk_here(child)


def _binders(statements: list[_Statement]) -> dict[str, list[_Statement]]:
    found: dict[str, list[_Statement]] = {}
    for statement in statements:
        for name in statement.binds:
            found.setdefault(name, []).append(statement)
    return found


def _reads_files(statements: list[_Statement], binders: dict[str, list[_Statement]]) -> set[int]:
    """The statements that reach files beside the checks, themselves or through names."""
    reads = {id(s) for s in statements if s.reads_files}
    changed = True
    while changed:
        changed = False
        for statement in statements:
            if id(statement) not in reads and any(
                    id(b) in reads for name in statement.uses for b in binders.get(name, [])):
                reads.add(id(statement))
                changed = True
    return reads


def _roots(statements: list[_Statement]) -> list[_Statement]:
    """The public checks, autouse fixtures and pytest hooks: what pytest runs by itself; and
    ``from __future__`` imports, which change how the rest is read."""
    return [s for s in statements if _future(s.node)
            or isinstance(s.node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (s.node.name.startswith("pytest_") or any(
                _is_public_check(d) or _is_autouse(d) for d in s.node.decorator_list))]


def _is_public_check(decorator: ast.expr) -> bool:
    if not isinstance(decorator, ast.Call):
        return False
    name = decorator.func.id if isinstance(decorator.func, ast.Name) else \
        decorator.func.attr if isinstance(decorator.func, ast.Attribute) else ""
    return name == "check" and any(k.arg == "public" and isinstance(k.value, ast.Constant)
                                   and k.value.value is True for k in decorator.keywords)


def _is_autouse(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Call) and any(
        k.arg == "autouse" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in decorator.keywords)


def _reach(statements: list[_Statement], binders: dict[str, list[_Statement]],
           reads: set[int]) -> tuple[list[_Statement], set[int]]:
    """The statements the public checks reach, in order, and which of them to freeze: the
    assignments that reach files beside the checks (what they use is then not followed)."""
    kept: set[int] = set()
    frozen: set[int] = set()
    todo = _roots(statements)
    while todo:
        statement = todo.pop()
        if id(statement) in kept:
            continue
        kept.add(id(statement))
        if id(statement) in reads and isinstance(statement.node, (ast.Assign, ast.AnnAssign)):
            frozen.add(id(statement))
            continue
        if statement.reads_files:
            raise KitError(_unshippable(statement))
        todo += [b for name in statement.uses for b in binders.get(name, [])]
    return [s for s in statements if id(s) in kept], frozen


def _unshippable(statement: _Statement) -> str:
    what = ", ".join(sorted(statement.binds)) or ast.unparse(statement.node)[:60]
    return (f"the public checks need {what} (checks.py line {statement.node.lineno}), which reads "
            "files beside checks.py that a student kit does not ship (they may hold hidden data): "
            "let the public checks use module-level values computed from them instead (NAME = "
            "..., frozen into the kit at release), or make those checks hidden")


def _text(node: ast.stmt, lines: list[str]) -> str:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[start - 1:node.end_lineno])


def _frozen_line(name: str, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """``NAME = <literal>`` or ``NAME = load_frozen(__file__, "NAME")`` for an array."""
    if name not in values:
        raise KitError(f"the public checks need {name}, computed from files beside checks.py, "
                       "and its value could not be found in the loaded checks module")
    value = values[name]
    if isinstance(value, np.ndarray) and value.dtype != object:
        arrays[name] = value
        return f"{name} = load_frozen(__file__, {name!r})  # computed at release"
    if _literal(value):
        return f"{name} = {value!r}  # computed at release"
    raise KitError(f"the public checks need {name} (a {type(value).__name__}), computed from files "
                   "beside checks.py that a student kit does not ship; a kit can carry only "
                   "numbers, strings, arrays and lists, tuples or dicts of them: let the public "
                   "checks use such a value, or make them hidden")


def _literal(value: Any) -> bool:
    """Whether ``repr(value)`` reads back as the same value of the same types."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple, set, frozenset)) and type(value) in (list, tuple, set, frozenset):
        return all(_literal(v) for v in value)
    if type(value) is dict:
        return all(_literal(k) and _literal(v) for k, v in value.items())
    return False
