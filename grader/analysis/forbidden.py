"""Find uses of forbidden APIs in a student's notebook code, statically.

Assignments such as "implement convolution by hand" forbid library routines
(``scipy.signal``, ``np.convolve``, ``tf.nn.conv2d`` ...). Students reach those
routines in many ways: aliased imports, ``from`` imports, attribute chains,
re-assignment (``f = np.convolve``), ``getattr`` with constant strings,
``importlib.import_module`` and friends. Grepping the source for names misses
most of these and flags harmless mentions in strings and comments, so this
module resolves every name to the dotted path of the object it denotes.

The analysis uses :mod:`ast` only and never executes student code. The code
cells are treated as one module, run top to bottom:

* Within a scope, assignments are followed in order; after ``if``/``try``/
  loops a name may denote any of the values it was given on some path
  ("may" analysis), so an alias made on one branch is not lost.
* A function body runs when it is called, which may be after later cells
  have re-bound the names it uses. So a function sees what its free names
  denoted when it was defined *plus* everything they are bound to later.
* A name that is bound nowhere in the notebook, is not a builtin, and
  follows ``from m import *`` is taken to come from ``m``.

See ``find_forbidden_uses`` and ``tainted_scopes`` for the public API.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
import warnings
from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

__all__ = ["ForbiddenUse", "find_forbidden_uses", "tainted_scopes", "undecided_cells"]


@dataclass(frozen=True)
class ForbiddenUse:
    """One place where the notebook reaches a forbidden API.

    ``api`` is the forbidden entry that matched (the most specific one when
    several do); ``resolved`` is the full dotted name the code used; ``cell``
    indexes the ``sources`` list; ``line`` is 1-based within that cell;
    ``scope`` is the enclosing top-level def/class, or None at module level.
    """

    api: str
    resolved: str
    cell: int
    line: int
    scope: str | None

    def describe(self) -> str:
        """Human-readable location, for feedback shown to students and graders."""
        where = f"in {self.scope}" if self.scope is not None else "at module level"
        return f"{self.resolved} (code cell {self.cell + 1}, line {self.line}, {where})"


def find_forbidden_uses(sources: Sequence[str], forbidden: Sequence[str]) -> list[ForbiddenUse]:
    """Return every use of a forbidden API in the notebook, in source order.

    sources: the code of each code cell, in order, already plain Python
    (IPython magics were turned into Python by the caller; a cell that does
    not parse is skipped silently). forbidden: dotted names; a name matches
    itself and everything under it ("scipy.signal" matches
    "scipy.signal.correlate2d"; "numpy.convolve" matches only that).

    A use is any reference to a forbidden object, called or not. An import
    of a forbidden name counts at the import site only when nothing it bound
    is used afterwards (so each violation is reported once), except
    ``from m import *`` of a forbidden module, which always counts because
    the names it brought in cannot all be traced.
    """
    matcher = _Matcher.build(forbidden)
    return _Analyzer(matcher).run(sources).uses()


def tainted_scopes(
    sources: Sequence[str], uses: Sequence[ForbiddenUse]
) -> dict[str, list[ForbiddenUse]]:
    """Which top-level functions/classes depend on a forbidden API.

    A scope is tainted if it contains a use, or if it references (calls or
    otherwise names) another top-level def of the notebook that is tainted,
    transitively (cycles safe). Maps scope name -> the uses that reach it,
    so a grader can withhold credit for ``conv_layer`` when it merely calls
    the student's ``conv2d`` which uses ``scipy.signal.correlate2d``.
    """
    analysis = _Analyzer(_Matcher.build(())).run(sources)
    graph = analysis.edges
    used_in = [use.scope for use in uses if use.scope is not None]
    order = list(dict.fromkeys([*analysis.top_defs, *used_in]))
    tainted: dict[str, list[ForbiddenUse]] = {}
    for scope in order:
        reached = _reachable(scope, graph)
        found = [use for use in uses if use.scope in reached]
        if found:
            tainted[scope] = found
    return tainted


def undecided_cells(sources: Sequence[str]) -> list[int]:
    """Cells the analysis had to give up on (nested too deeply for the parser or the
    analyser, or too big for memory): what they define cannot be known to be clean."""
    texts = [src if isinstance(src, str) else "" for src in sources]
    too_deep = [cell for cell, text in enumerate(texts) if _too_deep(text)]
    failed = _Analyzer(_Matcher.build(())).run(texts)._failed
    return sorted(set(too_deep) | failed)


def _too_deep(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source)
    except (RecursionError, MemoryError):
        return True
    except Exception:  # noqa: BLE001 - a syntax error: Python cannot run it either
        return False
    return False


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    """Scopes reachable from ``start``, itself included; iterative, so cycles are harmless."""
    seen = {start}
    stack = [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


# --------------------------------------------------------------------------
# Values: what a name or expression may denote.


_Origin = tuple[str, str, str | None]


@dataclass(frozen=True)
class _Binding:
    """One thing a name may denote.

    ``path``: dotted path of a library object (module, function, class).
    ``origin``: which import produced it (module imported, name bound,
    reporting scope), so that an import whose binding is used is not
    reported a second time at the import site. Identical imports repeated in
    several cells share an origin, which keeps binding sets small.
    ``depth``: 1 for a list/tuple/dict literal holding the object, so that
    ``ops = [np.convolve]; ops[0](x)`` is still traced.
    ``defn``: name of the notebook's own top-level def/class it denotes.
    A binding with neither path nor defn is an opaque student value.
    """

    path: str | None = None
    origin: _Origin | None = None
    depth: int = 0
    defn: str | None = None


_Bindings = frozenset[_Binding]
_EMPTY: _Bindings = frozenset()
_OPAQUE: _Bindings = frozenset({_Binding()})
_LATE = sys.maxsize  # sequence number of bindings made by inner functions at call time
_STAR = "*"  # pseudo-name under which star imports are recorded
_BUILTINS = frozenset(dir(builtins))
_IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "exit", "quit"})
_IPYTHON_HISTORY = re.compile(r"_+|_i+|_[io]?h|_d?h|_i?\d+")
_IMPORT_FUNCS = frozenset(
    {"builtins.__import__", "importlib.import_module", "importlib.__import__"}
)
_EVAL_FUNCS = frozenset({"builtins.eval", "builtins.exec"})
#: Functions that return the object a dotted name denotes, like an import does.
_RESOLVE_FUNCS = frozenset({"pkgutil.resolve_name", "importlib.util.find_spec",
                            "importlib.util.resolve_name"})
#: Functions returning what they were given, for this analysis (a spec is its module).
_PASS_FUNCS = frozenset({"functools.partial", "importlib.util.module_from_spec"})
#: The namespace dictionaries of the running code: ``globals()['np'].convolve``.
_NAMESPACE_FUNCS = frozenset({"builtins.globals", "builtins.locals", "builtins.vars"})
#: How IPython runs a magic, once ``TransformerManager`` has turned it into Python.
_MAGIC_RUNNERS = frozenset({"run_line_magic", "run_cell_magic"})
_MAGIC_OPTION = re.compile(r"\s*-\w+(?:\s+(?=[\d.]))?[\d.]*")
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_SCOPE_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_NEW_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda})
_BINDERS = frozenset(
    {*_NEW_SCOPES, ast.Import, ast.ImportFrom, ast.ExceptHandler}
    | {ast.MatchAs, ast.MatchStar, ast.MatchMapping}
)
_CHAINS = (ast.Name, ast.Attribute, ast.Subscript, ast.Call)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True)
class _Matcher:
    """The forbidden list, indexed so a path is checked in O(number of its dots)."""

    entries: frozenset[str]

    @classmethod
    def build(cls, forbidden: Iterable[str]) -> _Matcher:
        names = (name.strip().strip(".") for name in forbidden if isinstance(name, str))
        return cls(frozenset(name for name in names if name))

    def match(self, path: str) -> str | None:
        """The most specific forbidden entry equal to ``path`` or a dotted prefix of it."""
        if not self.entries:
            return None
        while True:
            if path in self.entries:
                return path
            cut = path.rfind(".")
            if cut < 0:
                return None
            path = path[:cut]


# --------------------------------------------------------------------------
# Scopes and frames.


@dataclass(eq=False)
class _History:
    """Every binding a name received in one scope, by sequence number.

    Lets a function body see bindings made after it was defined.
    """

    seqs: list[int] = field(default_factory=list)
    values: dict[int, _Bindings] = field(default_factory=dict)
    _suffix: list[_Bindings] | None = None

    def add(self, seq: int, bindings: _Bindings) -> None:
        if seq in self.values:
            self.values[seq] |= bindings
        else:
            insort(self.seqs, seq)
            self.values[seq] = bindings
        self._suffix = None

    def after(self, seq: int) -> _Bindings:
        if self._suffix is None:
            suffix = [_EMPTY]
            for s in reversed(self.seqs):
                suffix.append(self.values[s] | suffix[-1])
            self._suffix = suffix[::-1]
        return self._suffix[bisect_right(self.seqs, seq)]


@dataclass(eq=False)
class _Scope:
    """A namespace: the module, a function, a class body, a comprehension or lambda.

    ``local_names`` is the static set of local names of function-like scopes
    (Python decides locality at compile time); class and module namespaces
    are dynamic and leave it empty.
    """

    kind: str
    local_names: frozenset[str] = frozenset()
    global_names: frozenset[str] = frozenset()
    nonlocal_names: frozenset[str] = frozenset()
    env: dict[str, _Bindings] = field(default_factory=dict)
    history: dict[str, _History] = field(default_factory=dict)
    late: dict[str, _Bindings] = field(default_factory=dict)

    def assign(self, name: str, bindings: _Bindings, seq: int) -> None:
        self.env[name] = bindings
        self.history.setdefault(name, _History()).add(seq, bindings)

    def assign_late(self, name: str, bindings: _Bindings) -> None:
        """A binding made from an inner function (global/nonlocal): time unknown."""
        self.history.setdefault(name, _History()).add(_LATE, bindings)
        self.late[name] = self.late.get(name, _EMPTY) | bindings

    def after(self, name: str, seq: int) -> _Bindings:
        history = self.history.get(name)
        return history.after(seq) if history else _EMPTY


@dataclass(frozen=True, eq=False)
class _Frame:
    """A scope as seen from code: live, or as of a def plus anything bound later."""

    scope: _Scope
    snapshot: dict[str, _Bindings] | None = None
    seq: int = 0

    def bindings(self, name: str) -> _Bindings | None:
        """None when the name is not bound in this frame at all."""
        if self.snapshot is None:
            return self.scope.env.get(name)
        found = self.snapshot.get(name, _EMPTY) | self.scope.after(name, self.seq)
        return found or None


@dataclass(frozen=True, eq=False)
class _Deferred:
    """A function body to analyse after its enclosing scope, as calls come later."""

    node: ast.FunctionDef | ast.AsyncFunctionDef
    top: str | None
    cell: int
    enclosing: tuple[_Frame, ...]
    params: dict[str, _Bindings]


@dataclass(frozen=True, eq=False)
class _Ctx:
    """Where code is being analysed: the frame chain (innermost first) and reporting scope."""

    frames: tuple[_Frame, ...]
    top: str | None
    cell: int
    pending: dict[int, _Deferred]

    @property
    def scope(self) -> _Scope:
        return self.frames[0].scope

    def inner(self, scope: _Scope) -> _Ctx:
        return replace(self, frames=(_Frame(scope), *self.frames))


_Stack = list[tuple[ast.AST, "_Ctx"]]  # expression visitor's work list
_Ops = list[tuple[str, str | None]]  # steps of a chain: ("attr", name), ("item", key), ("ns", None)


@dataclass(frozen=True)
class _ImportSite:
    imported: str
    api: str
    cell: int
    line: int
    col: int
    scope: str | None
    always: bool


# --------------------------------------------------------------------------
# Small pure helpers.


def _parse(source: str) -> ast.Module | None:
    """Parse a cell; None for anything the parser rejects (or cannot nest deep enough for)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d" in student strings
            return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError):
        return None


def _const_str(node: ast.AST | None) -> str | None:
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


def _merge(envs: Iterable[dict[str, _Bindings]]) -> dict[str, _Bindings]:
    """Join environments from alternative paths: a name may denote anything it did on any path."""
    merged: dict[str, _Bindings] = {}
    for env in envs:
        for name, bindings in env.items():
            merged[name] = merged.get(name, _EMPTY) | bindings
    return merged


def _pattern_names(pattern: ast.AST) -> list[str]:
    """Names captured by a ``match`` pattern."""
    names = []
    for node in ast.walk(pattern):
        if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.append(node.rest)
    return names


def _arg_nodes(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


def _bound_names(node: ast.AST) -> list[str]:
    """Names a single node binds in the scope it appears in."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, (*_SCOPE_DEFS,)):
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


_Names = frozenset[str]


def _function_locals(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
) -> tuple[_Names, _Names, _Names]:
    """(locals, globals, nonlocals) of a function, as the compiler decides them."""
    names = {a.arg for a in _arg_nodes(node.args)}
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
        if kind in _BINDERS:
            names.update(_bound_names(cur))
        if kind is ast.Global:
            declared_global.update(cur.names)  # type: ignore[attr-defined]
        elif kind is ast.Nonlocal:
            declared_nonlocal.update(cur.names)  # type: ignore[attr-defined]
        if kind in _COMPREHENSIONS:
            # Only walrus targets inside a comprehension leak into the function.
            names.update(n.target.id for n in ast.walk(cur) if isinstance(n, ast.NamedExpr))
        elif kind not in _NEW_SCOPES:
            stack.extend(_children(cur))
    local = frozenset(names - declared_global - declared_nonlocal)
    return local, frozenset(declared_global), frozenset(declared_nonlocal)


def _notebook_names(trees: Iterable[ast.AST], broken: Iterable[str]) -> frozenset[str]:
    """Every name the notebook may define anywhere; such names never come from a star import.

    Identifiers in cells that do not parse are included too, to err on the
    side of not blaming a star import for them.
    """
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            names.update(_bound_names(node))
            if isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                names.update(node.names)
    for source in broken:
        names.update(re.findall(r"[A-Za-z_]\w*", source))
    return frozenset(names)


def _is_ipython_name(name: str) -> bool:
    return name in _IPYTHON_NAMES or _IPYTHON_HISTORY.fullmatch(name) is not None


# --------------------------------------------------------------------------
# The analysis.


class _Analyzer:
    """Walks the notebook once, resolving names; collects uses, import sites and def references."""

    def __init__(self, matcher: _Matcher) -> None:
        self.matcher = matcher
        self.edges: dict[str, set[str]] = {}
        self.top_defs: list[str] = []
        self._found: dict[tuple[int, int, str], tuple[int, ForbiddenUse]] = {}
        self._sites: dict[int, tuple[_Origin, _ImportSite]] = {}  # by id of the import node
        self._used_origins: set[_Origin] = set()
        self._failed: set[int] = set()
        self._seq = 0
        self._loop_depth = 0
        self._defined: frozenset[str] | None = None  # computed on first need (star imports)
        self._broken: list[str] = []
        self._keep: list[ast.AST] = []  # keeps nodes alive so their id()s stay unique
        # Resolutions within one expression visit; emptied whenever bindings may change.
        self._memo: dict[int, _Bindings] = {}
        self._strings: dict[int, ast.Module | None] = {}  # eval/exec code, parsed once per call

    # ---- driver ---------------------------------------------------------

    def run(self, sources: Sequence[str]) -> _Analyzer:
        texts = [src if isinstance(src, str) else "" for src in sources]
        parsed = [(cell, _parse(src)) for cell, src in enumerate(texts)]
        trees = [(cell, tree) for cell, tree in parsed if tree is not None]
        broken = [texts[cell] for cell, tree in parsed if tree is None]
        self._keep.extend(tree for _, tree in trees)
        self._broken = broken
        module = _Scope("module")
        pending: dict[int, _Deferred] = {}
        for cell, tree in trees:
            ctx = _Ctx((_Frame(module),), None, cell, pending)
            self._guarded(cell, self._exec_block, tree.body, ctx)
        self._run_module_functions(module, pending)
        return self

    def _run_module_functions(self, module: _Scope, pending: dict[int, _Deferred]) -> None:
        """Analyse top-level function bodies; again if they set globals that others may read."""
        for _ in range(3):
            before = dict(module.late)
            for record in list(pending.values()):
                if record.cell not in self._failed:
                    self._guarded(record.cell, self._run_deferred, record)
            if module.late == before:
                return

    def _guarded(self, cell: int, work: Callable[..., None], *args: object) -> None:
        """Run analysis of part of a cell; absurdly deep code makes the whole cell be skipped."""
        try:
            work(*args)
        except (RecursionError, MemoryError):
            self._failed.add(cell)

    def uses(self) -> list[ForbiddenUse]:
        """All uses found, plus import sites whose bindings were never used, in source order."""
        found = [(use.cell, use.line, col, use.resolved, use) for col, use in self._found.values()]
        reached = {(use.scope, use.resolved) for _, use in self._found.values()}
        for origin, site in self._sites.values():
            if site.always or not (origin in self._used_origins or _covered(site, reached)):
                use = ForbiddenUse(site.api, site.imported, site.cell, site.line, site.scope)
                found.append((site.cell, site.line, site.col, site.imported, use))
        found.sort(key=lambda item: item[:4])
        return [item[4] for item in found if item[0] not in self._failed]

    # ---- statements -----------------------------------------------------

    def _exec_block(self, stmts: Iterable[ast.stmt], ctx: _Ctx) -> None:
        for stmt in stmts:
            self._exec_stmt(stmt, ctx)

    def _exec_stmt(self, stmt: ast.stmt, ctx: _Ctx) -> None:
        self._memo.clear()  # branches and loops may have changed the environment
        handler = _STMT_HANDLERS.get(type(stmt))
        if handler is not None:
            handler(self, stmt, ctx)
            return
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                self._exec_stmt(child, ctx)
            else:
                self._visit(child, ctx)

    def _exec_import(self, stmt: ast.Import, ctx: _Ctx) -> None:
        for alias in stmt.names:
            name = alias.asname or alias.name.split(".")[0]
            origin = self._add_site(alias.name, name, alias, ctx)
            path = alias.name if alias.asname else name
            self._bind(ctx, name, frozenset({_Binding(path, origin)}))

    def _exec_import_from(self, stmt: ast.ImportFrom, ctx: _Ctx) -> None:
        for alias in stmt.names:
            if stmt.level or not stmt.module:  # relative: the student's own modules
                if alias.name != "*":
                    self._bind(ctx, alias.asname or alias.name, _OPAQUE)
            elif alias.name == "*":
                origin = self._add_site(stmt.module, _STAR, alias, ctx, always=True)
                stars = ctx.frames[-1].scope.env.get(_STAR, _EMPTY)
                self._bind(ctx, _STAR, stars | {_Binding(stmt.module, origin)})
            else:
                full = f"{stmt.module}.{alias.name}"
                name = alias.asname or alias.name
                origin = self._add_site(full, name, alias, ctx)
                self._bind(ctx, name, frozenset({_Binding(full, origin)}))

    def _exec_assign(self, stmt: ast.Assign | ast.AnnAssign, ctx: _Ctx) -> None:
        if isinstance(stmt, ast.AnnAssign):
            self._visit(stmt.annotation, ctx)
            if stmt.value is None:
                self._visit(stmt.target, ctx)
                return
            targets = [stmt.target]
        else:
            targets = stmt.targets
        self._visit(stmt.value, ctx)
        for target in targets:
            self._assign_target(target, stmt.value, ctx)
            self._visit(target, ctx)

    def _assign_target(self, target: ast.expr, value: ast.expr, ctx: _Ctx) -> None:
        """Bind ``target = value``, pairing up ``a, b = x, y`` element by element."""
        pairable = (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
        )
        if pairable:
            for sub_target, sub_value in zip(target.elts, value.elts, strict=True):
                self._assign_target(sub_target, sub_value, ctx)
        else:
            self._bind_target(target, self._resolve(value, ctx), ctx)

    def _bind_target(self, target: ast.expr, bindings: _Bindings, ctx: _Ctx) -> None:
        if isinstance(target, ast.Name):
            self._bind(ctx, target.id, bindings or _OPAQUE)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_target(elt, _OPAQUE, ctx)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, _OPAQUE, ctx)

    def _exec_aug_assign(self, stmt: ast.AugAssign, ctx: _Ctx) -> None:
        self._visit(stmt.value, ctx)
        self._visit(stmt.target, ctx)
        if isinstance(stmt.target, ast.Name):
            old = self._lookup(ctx, stmt.target.id)
            containers = frozenset(b for b in old | self._resolve(stmt.value, ctx) if b.depth)
            self._bind(ctx, stmt.target.id, containers | _OPAQUE)

    def _exec_delete(self, stmt: ast.Delete, ctx: _Ctx) -> None:
        for target in stmt.targets:
            self._visit(target, ctx)
            if isinstance(target, ast.Name):
                self._bind(ctx, target.id, _OPAQUE)

    def _exec_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: _Ctx) -> None:
        top = self._top_for(node.name, ctx)
        header = replace(ctx, top=top)
        args = node.args
        for expr in (*node.decorator_list, *args.defaults, *args.kw_defaults, node.returns):
            if expr is not None:
                self._visit(expr, header)
        for arg in _arg_nodes(node.args):
            if arg.annotation is not None:
                self._visit(arg.annotation, header)
        params = self._param_defaults(node.args, header)
        enclosing = tuple(self._snapshot(f) for f in ctx.frames if f.scope.kind != "class")
        ctx.pending[id(node)] = _Deferred(node, top, ctx.cell, enclosing, params)
        self._bind_def(node.name, ctx)

    def _exec_class(self, node: ast.ClassDef, ctx: _Ctx) -> None:
        top = self._top_for(node.name, ctx)
        header = replace(ctx, top=top)
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self._visit(expr, header)
        self._exec_block(node.body, header.inner(_Scope("class")))
        self._bind_def(node.name, ctx)

    def _top_for(self, name: str, ctx: _Ctx) -> str | None:
        """Reporting scope for a def: its own name when it is top-level."""
        if ctx.scope.kind == "module":
            self.top_defs.append(name)
            return name
        return ctx.top

    def _bind_def(self, name: str, ctx: _Ctx) -> None:
        own = frozenset({_Binding(defn=name)}) if ctx.scope.kind == "module" else _OPAQUE
        self._bind(ctx, name, own)

    def _param_defaults(self, args: ast.arguments, ctx: _Ctx) -> dict[str, _Bindings]:
        """Parameters default to their default values (``def f(x, op=np.convolve)``)."""
        positional = [*args.posonlyargs, *args.args]
        with_default = positional[len(positional) - len(args.defaults) :]
        pairs = list(zip(with_default, args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
        return {arg.arg: self._resolve(default, ctx) for arg, default in pairs}

    def _run_deferred(self, record: _Deferred) -> None:
        local, declared_global, declared_nonlocal = _function_locals(record.node)
        scope = _Scope("function", local, declared_global, declared_nonlocal)
        pending: dict[int, _Deferred] = {}
        ctx = _Ctx((_Frame(scope), *record.enclosing), record.top, record.cell, pending)
        for arg in _arg_nodes(record.node.args):
            self._bind(ctx, arg.arg, record.params.get(arg.arg, _EMPTY) | _OPAQUE)
        self._exec_block(record.node.body, ctx)
        for nested in list(pending.values()):
            self._run_deferred(nested)

    # ---- control flow ---------------------------------------------------

    def _branches(self, ctx: _Ctx, runs: Iterable[Callable[[], None]], keep_before: bool) -> None:
        """Run alternative paths from the same state, then join their results."""
        scope = ctx.scope
        before = dict(scope.env)
        results = [before] if keep_before else []
        for run in runs:
            scope.env = dict(before)
            run()
            results.append(scope.env)
        scope.env = _merge(results)

    def _loop(self, ctx: _Ctx, body: Callable[[], None]) -> None:
        """Run a loop body; a second pass catches aliases made late in the body and used early.

        The second pass is only made when the first one gave some name a new
        traceable value, and only for the outer two loop levels, so nested
        loops cannot blow up the running time.
        """
        scope = ctx.scope
        self._loop_depth += 1
        try:
            before = dict(scope.env)
            body()
            scope.env = _merge([before, scope.env])
            if self._loop_depth <= 2 and _gained_traceable(before, scope.env):
                body()
                scope.env = _merge([before, scope.env])
        finally:
            self._loop_depth -= 1

    def _exec_if(self, stmt: ast.If, ctx: _Ctx) -> None:
        self._visit(stmt.test, ctx)
        runs = [partial(self._exec_block, block, ctx) for block in (stmt.body, stmt.orelse)]
        self._branches(ctx, runs, False)

    def _exec_while(self, stmt: ast.While, ctx: _Ctx) -> None:
        self._visit(stmt.test, ctx)

        def body() -> None:
            self._exec_block(stmt.body, ctx)
            self._visit(stmt.test, ctx)

        self._loop(ctx, body)
        self._exec_block(stmt.orelse, ctx)

    def _exec_for(self, stmt: ast.For | ast.AsyncFor, ctx: _Ctx) -> None:
        self._visit(stmt.iter, ctx)
        items = self._iterate(self._resolve(stmt.iter, ctx))

        def body() -> None:
            self._bind_target(stmt.target, items, ctx)
            self._visit(stmt.target, ctx)
            self._exec_block(stmt.body, ctx)

        self._loop(ctx, body)
        self._exec_block(stmt.orelse, ctx)

    def _exec_try(self, stmt: ast.Try | ast.TryStar, ctx: _Ctx) -> None:
        scope = ctx.scope
        before = dict(scope.env)
        self._exec_block(stmt.body, ctx)
        after_body = scope.env
        results = []
        for handler in stmt.handlers:
            scope.env = _merge([before, after_body])
            if handler.type is not None:
                self._visit(handler.type, ctx)
            if handler.name:
                self._bind(ctx, handler.name, _OPAQUE)
            self._exec_block(handler.body, ctx)
            results.append(scope.env)
        scope.env = dict(after_body)
        self._exec_block(stmt.orelse, ctx)
        results.append(scope.env)
        scope.env = _merge(results)
        self._exec_block(stmt.finalbody, ctx)

    def _exec_with(self, stmt: ast.With | ast.AsyncWith, ctx: _Ctx) -> None:
        for item in stmt.items:
            self._visit(item.context_expr, ctx)
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, _OPAQUE, ctx)
                self._visit(item.optional_vars, ctx)
        self._exec_block(stmt.body, ctx)

    def _exec_match(self, stmt: ast.Match, ctx: _Ctx) -> None:
        self._visit(stmt.subject, ctx)

        def case_runner(case: ast.match_case) -> Callable[[], None]:
            def run() -> None:
                self._visit(case.pattern, ctx)
                for name in _pattern_names(case.pattern):
                    self._bind(ctx, name, _OPAQUE)
                if case.guard is not None:
                    self._visit(case.guard, ctx)
                self._exec_block(case.body, ctx)

            return run

        self._branches(ctx, [case_runner(case) for case in stmt.cases], True)

    # ---- names ----------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _snapshot(self, frame: _Frame) -> _Frame:
        if frame.snapshot is not None:
            return frame
        return _Frame(frame.scope, dict(frame.scope.env), self._seq)

    def _bind(self, ctx: _Ctx, name: str, bindings: _Bindings) -> None:
        self._memo.clear()
        scope = ctx.scope
        if name in scope.global_names:
            ctx.frames[-1].scope.assign_late(name, bindings)
        elif name in scope.nonlocal_names:
            for frame in ctx.frames[1:]:
                if frame.scope.kind == "function" and name in frame.scope.local_names:
                    frame.scope.assign_late(name, bindings)
                    return
        else:
            scope.assign(name, bindings, self._next_seq())

    def _lookup(self, ctx: _Ctx, name: str) -> _Bindings:
        """What ``name`` may denote here, following Python's LEGB rules."""
        first = ctx.scope
        if name in first.global_names:
            return self._module_lookup(ctx.frames[-1], name)
        for index, frame in enumerate(ctx.frames):
            scope = frame.scope
            if scope.kind == "module":
                return self._module_lookup(frame, name)
            if index == 0 and name in scope.nonlocal_names:
                continue
            if scope.kind == "class":
                found = frame.bindings(name) if index == 0 else None
                if found is not None:
                    return found
            elif name in scope.local_names:
                return frame.bindings(name) or _EMPTY
        return _EMPTY

    def _notebook_names(self) -> frozenset[str]:
        if self._defined is None:
            self._defined = _notebook_names(self._keep, self._broken)
        return self._defined

    def _module_lookup(self, frame: _Frame, name: str) -> _Bindings:
        found = frame.bindings(name)
        if found is not None:
            return found
        if name in _BUILTINS:
            return frozenset({_Binding(f"builtins.{name}")})
        stars = frame.bindings(_STAR)
        if not stars or _is_ipython_name(name) or name in self._notebook_names():
            return _EMPTY
        return frozenset(_Binding(f"{s.path}.{name}", s.origin) for s in stars if s.path)

    # ---- resolving expressions -----------------------------------------

    def _resolve(self, node: ast.AST, ctx: _Ctx, spine: list[ast.AST] | None = None) -> _Bindings:
        """What an expression may denote, following attribute/getattr/subscript chains.

        ``spine`` (if given) receives the nodes on the chain, so the caller
        can visit the other sub-expressions (call arguments, indices).
        Without it the result is memoised for the current expression visit.
        """
        if spine is None:
            known = self._memo.get(id(node))
            if known is None:
                known = self._memo[id(node)] = self._resolve(node, ctx, [])
            return known
        self._warm_calls(node, ctx)
        ops: _Ops = []  # collected outermost first; applied innermost first
        cur = node
        base: _Bindings = _EMPTY
        while True:
            spine.append(cur)
            step = self._resolve_step(cur, ctx, ops)
            if isinstance(step, ast.AST):
                cur = step
                continue
            base = step
            break
        return _apply_ops(base, reversed(ops))

    def _warm_calls(self, node: ast.AST, ctx: _Ctx) -> None:
        """Resolve the calls inside a chain innermost first (memoised).

        Resolving a call needs its callee resolved first; doing the inner
        ones up front keeps that recursion one level deep even for method
        chains hundreds of calls long.
        """
        calls: list[ast.Call] = []
        stack = [node]
        while stack:
            cur = stack.pop()
            if isinstance(cur, (ast.Attribute, ast.Subscript, ast.NamedExpr)):
                stack.append(cur.value)
            elif isinstance(cur, ast.Call):
                if cur is not node and id(cur) not in self._memo:
                    calls.append(cur)
                stack += [cur.func, *cur.args[:1]]
        for call in reversed(calls):
            self._resolve(call, ctx)

    def _resolve_step(self, cur: ast.AST, ctx: _Ctx, ops: _Ops) -> ast.AST | _Bindings:
        """One step down a chain: the next node to follow, or the bindings at its base."""
        if isinstance(cur, ast.Name):
            return self._lookup(ctx, cur.id)
        if isinstance(cur, ast.Attribute):
            ops.append(("ns", None) if cur.attr == "__dict__" else ("attr", cur.attr))
            return cur.value
        if isinstance(cur, ast.Subscript):
            ops.append(("item", _const_str(cur.slice)))
            return cur.value
        if isinstance(cur, ast.Call):
            return self._resolve_call(cur, ctx, ops)
        if isinstance(cur, ast.NamedExpr):
            return cur.value
        return self._resolve_value(cur, ctx)

    def _resolve_value(self, cur: ast.AST, ctx: _Ctx) -> _Bindings:
        """Bases that are not names: literals holding objects, ``a if c else b``, ``a or b``."""
        if isinstance(cur, (ast.List, ast.Tuple, ast.Set)):
            return _contain(self._resolve(elt, ctx) for elt in cur.elts)
        if isinstance(cur, ast.Dict):
            return _contain(self._resolve(value, ctx) for value in cur.values)
        if isinstance(cur, ast.IfExp):
            return self._resolve(cur.body, ctx) | self._resolve(cur.orelse, ctx)
        if isinstance(cur, ast.BoolOp):
            return frozenset().union(*(self._resolve(value, ctx) for value in cur.values))
        return _EMPTY

    def _resolve_call(self, call: ast.Call, ctx: _Ctx, ops: _Ops) -> ast.AST | _Bindings:
        """Calls whose result is known: getattr, vars, functools.partial, imports, ``.get``."""
        func, args = call.func, call.args
        if not args:
            return self._namespace_item(call, ctx, ops)
        if isinstance(func, ast.Attribute) and func.attr == "get":
            ops.append(("item", _const_str(args[0])))
            return func.value
        paths = self._callee_paths(call, ctx)
        imported = _import_target(call, paths)
        if imported is not None:
            module, value = imported
            return frozenset({_Binding(value, (module, f"{value}()", ctx.top))})
        if "builtins.getattr" in paths and len(args) in (2, 3):
            ops.append(("attr", _const_str(args[1])))
            return args[0]
        if "builtins.vars" in paths and len(args) == 1:
            ops.append(("ns", None))
            return args[0]
        if paths & _PASS_FUNCS:
            return args[0]
        name = _const_str(args[0])
        if name and paths & _RESOLVE_FUNCS:
            return frozenset({_Binding(name.replace(":", "."))})
        getter = self._attrgetter(func, ctx)
        if getter is not None and len(args) == 1:
            ops.extend(("attr", part) for part in reversed(getter.split(".")))
            return args[0]
        return _EMPTY

    def _namespace_item(self, call: ast.Call, ctx: _Ctx, ops: _Ops) -> _Bindings:
        """``globals()['np']``, ``vars().get('np')``, ``locals()['np']``: the name itself."""
        if not ops or ops[-1][0] != "item" or not ops[-1][1]:
            return _EMPTY
        if not self._callee_paths(call, ctx) & _NAMESPACE_FUNCS:
            return _EMPTY
        name = ops.pop()[1]
        assert name is not None
        return self._lookup(ctx, name)

    def _attrgetter(self, func: ast.AST, ctx: _Ctx) -> str | None:
        """The dotted name of ``operator.attrgetter('a.b')``, when ``func`` is that call."""
        if not isinstance(func, ast.Call) or len(func.args) != 1:
            return None
        name = _const_str(func.args[0])
        if name and "operator.attrgetter" in self._callee_paths(func, ctx):
            return name
        return None

    def _callee_paths(self, call: ast.Call, ctx: _Ctx) -> set[str]:
        """Library paths the called expression may denote (``builtins.getattr`` ...)."""
        return {b.path for b in self._resolve(call.func, ctx) if b.path and not b.depth}

    def _dynamic_import(self, call: ast.Call, ctx: _Ctx) -> tuple[str, str] | None:
        """(module imported, value returned) for ``__import__``/``import_module`` of a constant."""
        if not call.args or not _const_str(call.args[0]):
            return None
        return _import_target(call, self._callee_paths(call, ctx))

    def _iterate(self, bindings: _Bindings) -> _Bindings:
        """What a for-loop variable may denote when iterating over ``bindings``."""
        return frozenset(
            _Binding(b.path, b.origin, b.depth - 1, b.defn) for b in bindings if b.depth
        )

    # ---- visiting expressions ------------------------------------------

    def _visit(self, root: ast.AST, ctx: _Ctx) -> None:
        """Report forbidden references in an expression tree; iterative, so depth is harmless."""
        self._memo.clear()
        stack: _Stack = [(root, ctx)]
        while stack:
            node, here = stack.pop()
            kind = type(node)
            if kind is ast.Constant:
                continue
            if kind is ast.Lambda:
                self._enter_lambda(node, here, stack)  # type: ignore[arg-type]
            elif kind in _COMPREHENSIONS:
                self._enter_comprehension(node, here, stack)
            elif kind in _CHAINS:
                self._visit_chain(node, here, stack)
            else:
                if kind is ast.NamedExpr:
                    self._visit_walrus(node, here)  # type: ignore[arg-type]
                stack.extend((child, here) for child in reversed(_children(node)))

    def _visit_walrus(self, node: ast.NamedExpr, ctx: _Ctx) -> None:
        if isinstance(node.target, ast.Name):
            value = self._resolve(node.value, ctx) or _OPAQUE
            self._bind(_outside_comprehensions(ctx), node.target.id, value)

    def _visit_chain(self, node: ast.AST, ctx: _Ctx, stack: _Stack) -> None:
        """A name, attribute, subscript or call: resolve it whole, then visit what it leaves out.

        Once ``a.b.c`` resolves, its prefixes ``a.b`` and ``a`` need no visit:
        a prefix of a path that is not forbidden is not forbidden either, and
        a forbidden path must be reported once, not once per prefix.
        """
        is_import = isinstance(node, ast.Call) and self._note_call(node, ctx)
        storing = isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))
        spine: list[ast.AST] = []
        bindings = _EMPTY if is_import or storing else self._resolve(node, ctx, spine)
        if not bindings:
            stack.extend((child, ctx) for child in reversed(_children(node)))
            return
        self._report(bindings, node, ctx)
        base = spine[-1]
        if isinstance(base, ast.Name):
            self._note_reference(self._lookup(ctx, base.id), ctx)
        elif isinstance(base, ast.Call) and base is not node:  # starts at __import__(...) or so
            stack.append((base, ctx))
            spine.pop()
        on_spine = {id(n) for n in spine}
        on_spine.add(id(base))
        sides = (c for n in spine for c in _children(n) if id(c) not in on_spine)
        stack.extend((child, ctx) for child in sides)

    def _report(self, bindings: _Bindings, node: ast.AST, ctx: _Ctx) -> None:
        """Record a use for each forbidden object ``node`` may denote."""
        for binding in bindings:
            if binding.path is None or binding.depth:
                continue
            api = self.matcher.match(binding.path)
            if api is not None:
                self._add_use(api, binding.path, node, ctx)
                if binding.origin is not None:
                    self._used_origins.add(binding.origin)

    def _note_call(self, call: ast.Call, ctx: _Ctx) -> bool:
        """Register a dynamic import as an import site (True); analyse eval/exec of constants."""
        imported = self._dynamic_import(call, ctx)
        if imported is not None:
            module, value = imported
            self._add_site(module, f"{value}()", call, ctx)
            return True
        code = _const_str(call.args[0]) if call.args else None
        if code is not None:
            paths = {b.path for b in self._resolve(call.func, ctx) if b.path}
            if paths & _EVAL_FUNCS:
                self._analyse_string(code, call, ctx)
        if isinstance(call.func, ast.Attribute) and call.func.attr in _MAGIC_RUNNERS:
            self._analyse_magic(call, ctx)
        return False

    def _analyse_magic(self, call: ast.Call, ctx: _Ctx) -> None:
        """``%time stmt``, ``%%timeit setup`` + body, ``%%capture`` + body: the Python a magic
        runs is analysed at the magic's line, whatever the magic (a student can register one
        that runs its body); text that is not Python is no code to analyse."""
        texts = [_const_str(arg) for arg in call.args[1:3]]
        code = "\n".join(_magic_code(text) for text in texts if text)
        if code.strip():
            self._analyse_string(code, call, ctx)

    def _analyse_string(self, code: str, call: ast.Call, ctx: _Ctx) -> None:
        """``eval("np.convolve(a, b)")`` is code, not a string: analyse it at the call's line."""
        if id(call) not in self._strings:
            tree = _parse(code)
            if tree is not None:
                for node in ast.walk(tree):
                    if hasattr(node, "lineno"):
                        node.lineno, node.col_offset = call.lineno, call.col_offset
            self._strings[id(call)] = tree
        tree = self._strings[id(call)]
        if tree is not None:
            self._exec_block(tree.body, ctx)

    def _note_reference(self, bindings: _Bindings, ctx: _Ctx) -> None:
        """Record that the current top-level scope names another top-level def."""
        if ctx.top is None:
            return
        for binding in bindings:
            if binding.defn is not None:
                self.edges.setdefault(ctx.top, set()).add(binding.defn)

    def _enter_lambda(self, node: ast.Lambda, ctx: _Ctx, stack: _Stack) -> None:
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                stack.append((default, ctx))
        local, _, _ = _function_locals(node)
        inner = ctx.inner(_Scope("lambda", local))
        params = self._param_defaults(node.args, ctx)
        for arg in _arg_nodes(node.args):
            self._bind(inner, arg.arg, params.get(arg.arg, _EMPTY) | _OPAQUE)
        stack.append((node.body, inner))

    def _enter_comprehension(self, node: ast.AST, ctx: _Ctx, stack: _Stack) -> None:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        targets = frozenset(
            n.id for g in generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        )
        inner = ctx.inner(_Scope("comprehension", targets))
        for index, generator in enumerate(generators):
            outer = ctx if index == 0 else inner
            stack.append((generator.iter, outer))
            items = self._iterate(self._resolve(generator.iter, outer))
            self._bind_target(generator.target, items, inner)
            stack.extend((cond, inner) for cond in generator.ifs)
        if isinstance(node, ast.DictComp):
            stack += [(node.key, inner), (node.value, inner)]
        else:
            stack.append((node.elt, inner))  # type: ignore[attr-defined]

    # ---- recording ------------------------------------------------------

    def _add_use(self, api: str, path: str, node: ast.AST, ctx: _Ctx) -> None:
        key = (ctx.cell, id(node), path)
        if key not in self._found:
            use = ForbiddenUse(api, path, ctx.cell, getattr(node, "lineno", 1), ctx.top)
            self._found[key] = (getattr(node, "col_offset", 0), use)

    def _add_site(
        self, imported: str, bound: str, node: ast.AST, ctx: _Ctx, always: bool = False
    ) -> _Origin:
        """Remember an import of a forbidden name; returns the origin its bindings carry."""
        origin = (imported, bound, ctx.top)
        api = self.matcher.match(imported)
        if api is not None:
            line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
            site = _ImportSite(imported, api, ctx.cell, line, col, ctx.top, always)
            self._sites[id(node)] = (origin, site)
        return origin


def _covered(site: _ImportSite, reached: set[tuple[str | None, str]]) -> bool:
    """Whether a use in the import's scope already reports what it imported.

    ``import scipy.signal; import scipy; scipy.signal.correlate2d(...)``
    reaches the submodule through the second import's binding, but the
    first import is what loaded it: one report is enough.
    """
    prefix = site.imported + "."
    return any(
        scope == site.scope and (path == site.imported or path.startswith(prefix))
        for scope, path in reached
    )


def _apply_ops(base: _Bindings, ops: Iterable[tuple[str, str | None]]) -> _Bindings:
    """Follow attribute/item steps from each base binding; steps that lose track drop it."""
    ops = list(ops)
    result = set()
    for binding in base:
        if binding.path is None and binding.defn is None:
            continue
        followed = _follow(binding, ops)
        if followed is not None:
            result.add(followed)
    return frozenset(result)


def _follow(binding: _Binding, ops: list[tuple[str, str | None]]) -> _Binding | None:
    """One binding through a chain of steps: ``.attr``, ``.__dict__``/``vars()``, ``[key]``."""
    if not ops:
        return binding
    if binding.defn is not None:
        return None
    path, depth, namespace = binding.path, binding.depth, False
    for kind, name in ops:
        if kind == "item" and depth:
            depth -= 1
        elif kind == "item" and name and (namespace or path == "sys.modules"):
            path = name if path == "sys.modules" and not namespace else f"{path}.{name}"
            namespace = False
        elif kind == "attr" and name and not depth and not namespace and path:
            path = f"{path}.{name}"
        elif kind == "ns" and not depth and not namespace and path:
            namespace = True
        else:
            return None
    if namespace:
        return None
    return _Binding(path, binding.origin, depth)


def _gained_traceable(before: dict[str, _Bindings], after: dict[str, _Bindings]) -> bool:
    """Whether some name can now denote a library object, def or container it could not before."""
    for name, bindings in after.items():
        old = before.get(name, _EMPTY)
        if bindings != old and any(b.path or b.defn or b.depth for b in bindings - old):
            return True
    return False


def _contain(parts: Iterable[_Bindings]) -> _Bindings:
    """Bindings of a literal container: its elements, one level deeper."""
    return frozenset(
        _Binding(b.path, b.origin, b.depth + 1, b.defn)
        for part in parts
        for b in part
        if b.depth < 3
    )


def _magic_code(text: str) -> str:
    """The Python in a magic's line or body: as it is, or without leading options
    (``-n1 -r 3 stmt``); empty when neither parses."""
    candidates = [text]
    rest = text
    while (option := _MAGIC_OPTION.match(rest)) is not None and option.end() > 0:
        rest = rest[option.end():]
        candidates.append(rest.lstrip(" \t"))
    for candidate in candidates:
        if _parse(candidate) is not None:
            return candidate
    return ""


def _import_target(call: ast.Call, callee: set[str]) -> tuple[str, str] | None:
    """(module imported, value returned) when ``call`` imports a constant module name."""
    name = _const_str(call.args[0]) if call.args else None
    if not name or name.startswith(".") or not callee & _IMPORT_FUNCS:
        return None
    if callee & {"builtins.__import__", "importlib.__import__"} and not _has_fromlist(call):
        return name, name.split(".")[0]
    return name, name


def _has_fromlist(call: ast.Call) -> bool:
    """Whether ``__import__(..., fromlist=...)`` asks for the submodule itself."""
    fromlist = call.args[3] if len(call.args) > 3 else None
    for keyword in call.keywords:
        if keyword.arg == "fromlist":
            fromlist = keyword.value
    if fromlist is None:
        return False
    if isinstance(fromlist, ast.Constant):
        return bool(fromlist.value)
    if isinstance(fromlist, (ast.List, ast.Tuple)):
        return bool(fromlist.elts)
    return True


def _children(node: ast.AST) -> list[ast.AST]:
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


def _outside_comprehensions(ctx: _Ctx) -> _Ctx:
    """Walrus targets inside comprehensions bind in the enclosing scope (PEP 572)."""
    frames = ctx.frames
    while frames[0].scope.kind == "comprehension" and len(frames) > 1:
        frames = frames[1:]
    return replace(ctx, frames=frames)


_STMT_HANDLERS: dict[type, Callable[[_Analyzer, ast.stmt, _Ctx], None]] = {
    ast.Import: _Analyzer._exec_import,
    ast.ImportFrom: _Analyzer._exec_import_from,
    ast.Assign: _Analyzer._exec_assign,
    ast.AnnAssign: _Analyzer._exec_assign,
    ast.AugAssign: _Analyzer._exec_aug_assign,
    ast.Delete: _Analyzer._exec_delete,
    ast.FunctionDef: _Analyzer._exec_function,
    ast.AsyncFunctionDef: _Analyzer._exec_function,
    ast.ClassDef: _Analyzer._exec_class,
    ast.If: _Analyzer._exec_if,
    ast.While: _Analyzer._exec_while,
    ast.For: _Analyzer._exec_for,
    ast.AsyncFor: _Analyzer._exec_for,
    ast.Try: _Analyzer._exec_try,
    ast.TryStar: _Analyzer._exec_try,
    ast.With: _Analyzer._exec_with,
    ast.AsyncWith: _Analyzer._exec_with,
    ast.Match: _Analyzer._exec_match,
}  # type: ignore[dict-item]
