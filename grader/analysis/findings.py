"""Static analysis of submitted code: forbidden APIs, and the names whose code reaches them.

Source is only parsed here, never run, so this happens in the grader's process. The
analyser in ``grader.analysis.forbidden`` finds each use of a forbidden API; this module decides what
a use costs: the top-level names (functions, classes, module-level bindings) whose *last*
binding reaches one, directly or through other names of the notebook.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Sequence

from grader.analysis.forbidden import find_forbidden_uses, tainted_scopes, undecided_cells
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
        last = _last_bindings(_python_sources(cells))
    result: dict[str, list[str]] = {}
    for name, (_, _, refers_to) in last.items():
        for other in sorted(refers_to & last.keys() - {name}):
            result.setdefault(other, []).append(name)
    return result


def _python_sources(cells: Sequence[CodeCell]) -> list[str]:
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


def _analyse(cells: Sequence[CodeCell], apis: Sequence[str]) -> tuple[list, dict]:
    sources = _python_sources(cells)
    uses = find_forbidden_uses(sources, apis)
    reached = _taint_module_level(sources, uses, tainted_scopes(sources, uses))
    tainted = {name: sorted({u.describe() for u in found}) for name, found in reached.items()}
    for number in undecided_cells(sources):  # where analysis cannot decide, nothing is earned
        why = (f"code cell {number + 1} could not be checked for forbidden APIs "
               f"(it is nested too deeply to analyse)")
        for name in _names_bound(sources[number]):
            tainted.setdefault(name, []).append(why)
    return uses, _spread(_last_bindings(sources), tainted)


def _spread(last: dict[str, tuple[int, ast.stmt, set[str]]],
            tainted: dict[str, list[str]]) -> dict[str, list[str]]:
    """The reasons of each tainted name, given also to every name whose last binding refers
    to it, until nothing changes."""
    result = {name: list(reasons) for name, reasons in tainted.items()}
    changed = True
    while changed:
        changed = False
        for name, (_, _, refers_to) in last.items():
            reached = [r for other in sorted(refers_to & result.keys() - {name}) for r in result[other]]
            if reached and not set(reached) <= set(result.get(name, [])):
                result[name] = sorted(set(result.get(name, [])) | set(reached))
                changed = True
    return result


#: Top-level definitions and assignments, for a cell too deep for ``ast``.
_BOUND_AT_TOP = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)",
                           re.MULTILINE)


def _names_bound(source: str) -> list[str]:
    """The top-level names a cell binds, by ``ast`` or, when it is too deep, by its lines."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return sorted({a or b for a, b in _BOUND_AT_TOP.findall(source)})
    return sorted({name for statement in module.body for name, _ in _bindings(statement)})


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


def _taint_module_level(sources: Sequence[str], uses: list, tainted: dict[str, list]) -> dict:
    """Refine the taint by what each top-level name is bound to *last*, as Python would.

    A name counts only by its last binding (a student who tried scipy in an early cell and
    then wrote ``conv2d`` by hand earns the points); names bound at module level
    (``conv2d = lambda a, k: correlate2d(a, k)``, ``X_FILTERS = tf.constant(...)``) are
    tainted by the uses in their own statement; and the taint spreads to every name whose
    last binding refers to a tainted name, until nothing changes.
    """
    last = _last_bindings(sources)
    result: dict[str, list] = {}
    for name, (cell, statement, _) in last.items():
        inside = [u for u in uses if u.cell == cell
                  and statement.lineno <= u.line <= (statement.end_lineno or u.line)
                  and (u.scope is None or u.scope == name)]
        if inside:
            result[name] = inside
    for name, found in tainted.items():  # names the analyser saw but cannot locate (rare)
        if name not in last:
            result[name] = list(found)
    changed = True
    while changed:
        changed = False
        for name, (_, _, refers_to) in last.items():
            reached = [u for other in refers_to & result.keys() - {name} for u in result[other]]
            if reached and not set(reached) <= set(result.get(name, [])):
                result[name] = list(dict.fromkeys(result.get(name, []) + reached))
                changed = True
    return result


def _last_bindings(sources: Sequence[str]) -> dict[str, tuple[int, ast.stmt, set[str]]]:
    """For each top-level name: the cell and statement that bind it last, and the names
    that statement refers to."""
    last: dict[str, tuple[int, ast.stmt, set[str]]] = {}
    for cell, source in enumerate(sources):
        try:
            module = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            continue
        for statement in module.body:
            for name, node in _bindings(statement):
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


def _bindings(statement: ast.stmt) -> list[tuple[str, ast.AST]]:
    """Top-level names a statement binds, each with the code that gives it its value."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [(statement.name, statement)]
    if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        value = statement.value if statement.value is not None else statement
        return [(n.id, value) for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []
