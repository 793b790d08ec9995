"""Static analysis of submitted code: forbidden APIs, and the names whose code reaches them.

Source is only parsed here, never run, so this happens in the grader's process. The
analysis in ``grader.analysis.forbidden`` finds each use of a forbidden API; this module decides
what a use costs: the top-level names (functions, classes, module-level bindings) whose *last*
binding reaches one, directly or through other names of the notebook (spread by
``grader.analysis.taint``, as the analysis spreads uses over its defs).
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Mapping, Sequence

from grader.analysis.forbidden import analyse
from grader.analysis.magics import python_sources
from grader.analysis.taint import referrers as referred_by
from grader.analysis.taint import spread
from grader.analysis.uses import ForbiddenUse
from grader.spec.notebook import CodeCell

#: CPython 3.11's AST constructor is not thread-safe ("AST constructor recursion depth
#: mismatch" under concurrent ast.parse), so static analysis runs one notebook at a time, and
#: not while the grader's main thread scores and writes a submission (pytest, tracebacks and
#: loading an assignment's modules use ``ast`` there).
AST_LOCK = threading.RLock()
#: The analysis is a pure function of the source: when another thread's use of ``ast`` outside
#: the lock upsets it anyway (a SystemError), it is simply made again.
ANALYSIS_ATTEMPTS = 3


def forbidden_findings(cells: Sequence[CodeCell], apis: Sequence[str]) -> tuple[list, dict]:
    """Static uses of forbidden APIs (read from source, never run) and the names they taint."""
    if not apis:
        return [], {}
    with AST_LOCK:
        for attempt in range(ANALYSIS_ATTEMPTS):
            try:
                return _analyse(cells, apis)
            except SystemError as exc:  # CPython 3.11's AST state, upset by another thread
                if "AST constructor recursion depth" not in str(exc) or attempt + 1 == ANALYSIS_ATTEMPTS:
                    raise
    raise AssertionError("unreachable")


def referrers(cells: Sequence[CodeCell]) -> dict[str, list[str]]:
    """For each top-level name, the top-level names whose last binding refers to it (who
    calls ``conv2d``): a forbidden module loaded at run time by ``conv2d`` reaches them too."""
    with AST_LOCK:
        last = _last_bindings(python_sources(cells))
    return referred_by({name: refers_to & last.keys() for name, (_, _, refers_to) in last.items()})


_Last = dict[str, tuple[int, ast.stmt, set[str]]]


def _analyse(cells: Sequence[CodeCell], apis: Sequence[str]) -> tuple[list, dict]:
    sources = python_sources(cells)
    analysis = analyse(sources, apis)
    last = _last_bindings(sources)
    reached = _taint_module_level(last, analysis.uses, analysis.scopes)
    tainted = {name: sorted({u.describe() for u in found}) for name, found in reached.items()}
    undecided: dict[str, list[str]] = {}
    for number in analysis.undecided:  # where analysis cannot decide, nothing is earned
        why = (f"code cell {number + 1} could not be checked for forbidden APIs "
               f"(it is nested too deeply to analyse)")
        for name in names_bound(sources[number]):
            tainted.setdefault(name, []).append(why)
            undecided.setdefault(name, []).append(why)
    return analysis.uses, _spread(last, tainted, undecided)


def _spread(last: _Last, tainted: dict[str, list[str]],
            undecided: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The reasons of each tainted name, with the undecided cells' reasons given also to
    every name whose last binding refers to a name they void (the uses were spread already).
    A name's own reasons keep their order unless it gains others: then all are sorted."""
    result = {name: list(reasons) for name, reasons in tainted.items()}
    for name, reasons in spread(_refers_to(last), undecided, first=tainted).items():
        own = result.get(name, [])
        if not reasons <= set(own):
            result[name] = sorted(set(own) | reasons)
    return result


#: Top-level definitions and assignments, for a cell too deep for ``ast``.
_BOUND_AT_TOP = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)",
                           re.MULTILINE)


def names_bound(source: str) -> list[str]:
    """The top-level names a cell binds, by ``ast`` or, when it is too deep, by its lines."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return sorted({a or b for a, b in _BOUND_AT_TOP.findall(source)})
    return sorted({name for statement in module.body for name, _ in top_level_bindings(statement)})


def _taint_module_level(last: _Last, uses: list[ForbiddenUse],
                        tainted: Mapping[str, list[ForbiddenUse]]) -> dict[str, set[ForbiddenUse]]:
    """Refine the taint by what each top-level name is bound to *last*, as Python would.

    A name counts only by its last binding (a student who tried scipy in an early cell and
    then wrote ``conv2d`` by hand earns the points); names bound at module level
    (``conv2d = lambda a, k: correlate2d(a, k)``, ``X_FILTERS = tf.constant(...)``) are
    tainted by the uses in their own statement; and the taint spreads to every name whose
    last binding refers to a tainted name.
    """
    held: dict[str, list[ForbiddenUse]] = {}
    for name, (cell, statement, _) in last.items():
        inside = [u for u in uses if u.cell == cell
                  and statement.lineno <= u.line <= (statement.end_lineno or u.line)
                  and (u.scope is None or u.scope == name)]
        if inside:
            held[name] = inside
    for name, found in tainted.items():  # names the analyser saw but cannot locate (rare)
        if name not in last:
            held[name] = list(found)
    return spread(_refers_to(last), held)


def _refers_to(last: _Last) -> dict[str, set[str]]:
    return {name: refers_to for name, (_, _, refers_to) in last.items()}


def _last_bindings(sources: Sequence[str]) -> _Last:
    """For each top-level name: the cell and statement that bind it last, and the names
    that statement refers to."""
    last: _Last = {}
    for cell, source in enumerate(sources):
        try:
            module = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            continue
        for statement in module.body:
            for name, node in top_level_bindings(statement):
                last[name] = (cell, statement, _free_names(node))
    return last


def _free_names(node: ast.AST) -> set[str]:
    """Names read in ``node`` that it does not bind itself (parameters, local variables):
    a parameter called ``conv2d`` is not the notebook's ``conv2d``."""
    read = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
             and isinstance(n.ctx, (ast.Store, ast.Del))}
    bound |= {a.arg for n in ast.walk(node) if isinstance(n, ast.arguments)
              for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg) if a}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        bound.discard(node.name)
    return read - bound


def top_level_bindings(statement: ast.stmt) -> list[tuple[str, ast.AST]]:
    """Top-level names a statement binds, each with the code that gives it its value."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [(statement.name, statement)]
    if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        value = statement.value if statement.value is not None else statement
        return [(n.id, value) for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []
