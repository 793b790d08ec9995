"""Facts about Python's syntax tree that need no analysis state: parsing a cell, the value of a
string built from literals, the child nodes worth visiting, and which names a node or a
function binds (as the compiler decides locality).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
SCOPE_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
NEW_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda})
BINDERS = frozenset(
    {*NEW_SCOPES, ast.Import, ast.ImportFrom, ast.ExceptHandler}
    | {ast.MatchAs, ast.MatchStar, ast.MatchMapping}
)
CHAINS = (ast.Name, ast.Attribute, ast.Subscript, ast.Call)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _parse_quietly(source: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d" in student strings
        return ast.parse(source)


def parse_cell(source: str) -> ast.Module | None:
    """Parse a cell; None for anything the parser rejects (or cannot nest deep enough for)."""
    try:
        return _parse_quietly(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError):
        return None


def too_deep(source: str) -> bool:
    """Whether the parser gives up on ``source`` for its depth or size (not a syntax error,
    which Python cannot run either)."""
    try:
        _parse_quietly(source)
    except (RecursionError, MemoryError):
        return True
    except Exception:  # noqa: BLE001 - a syntax error: Python cannot run it either
        return False
    return False


def const_str(node: ast.AST | None) -> str | None:
    """Value of a string built only from literals ("con" + "volve", f"{'x'}"), else None."""
    parts: list[str] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, ast.Constant) and isinstance(cur.value, str):
            parts.append(cur.value)
        elif isinstance(cur, ast.BinOp) and isinstance(cur.op, ast.Add):
            stack += [cur.right, cur.left]
        elif isinstance(cur, ast.JoinedStr):
            stack += reversed(cur.values)
        elif isinstance(cur, ast.FormattedValue) and cur.conversion == -1:
            stack.append(None if cur.format_spec else cur.value)
        else:
            return None
    return "".join(parts)


def pattern_names(pattern: ast.AST) -> list[str]:
    """Names captured by a ``match`` pattern."""
    names = []
    for node in ast.walk(pattern):
        if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.append(node.rest)
    return names


def arg_nodes(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


def bound_names(node: ast.AST) -> list[str]:
    """Names a single node binds in the scope it appears in."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, (*SCOPE_DEFS,)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return [node.name]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [node.rest]
    return []


Names = frozenset[str]


def function_locals(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
) -> tuple[Names, Names, Names]:
    """(locals, globals, nonlocals) of a function, as the compiler decides them."""
    names = {a.arg for a in arg_nodes(node.args)}
    declared_global: set[str] = set()
    declared_nonlocal: set[str] = set()
    stack: list[ast.AST] = list(node.body) if isinstance(node.body, list) else [node.body]
    while stack:
        cur = stack.pop()
        kind = type(cur)
        if kind is ast.Name:
            if type(cur.ctx) is not ast.Load:  # type: ignore[attr-defined]
                names.add(cur.id)  # type: ignore[attr-defined]
            continue
        if kind in BINDERS:
            names.update(bound_names(cur))
        if kind is ast.Global:
            declared_global.update(cur.names)  # type: ignore[attr-defined]
        elif kind is ast.Nonlocal:
            declared_nonlocal.update(cur.names)  # type: ignore[attr-defined]
        if kind in COMPREHENSIONS:
            # Only walrus targets inside a comprehension leak into the function.
            names.update(n.target.id for n in ast.walk(cur) if isinstance(n, ast.NamedExpr))
        elif kind not in NEW_SCOPES:
            stack.extend(child_nodes(cur))
    local = frozenset(names - declared_global - declared_nonlocal)
    return local, frozenset(declared_global), frozenset(declared_nonlocal)


def names_defined(trees: Iterable[ast.AST], broken: Iterable[str]) -> frozenset[str]:
    """Every name the notebook may define anywhere; such names never come from a star import.

    Identifiers in cells that do not parse are included too, to err on the
    side of not blaming a star import for them.
    """
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            names.update(bound_names(node))
            if isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                names.update(node.names)
    for source in broken:
        names.update(re.findall(r"[A-Za-z_]\w*", source))
    return frozenset(names)


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """Child nodes worth visiting (``ast.iter_child_nodes`` minus contexts and operators)."""
    fields = _CHILD_FIELDS.get(type(node))
    if fields is None:
        fields = tuple(f for f in node._fields if f not in ("ctx", "op", "ops"))
        _CHILD_FIELDS[type(node)] = fields
    children: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            children.append(value)
        elif isinstance(value, list):
            children.extend(item for item in value if isinstance(item, ast.AST))
    return children
