"""What a name may denote at a point of the notebook, and the namespaces that hold names.

A name denotes a set of ``Binding`` (a library object's dotted path, a def of the notebook, or an
opaque value of the student's); scopes keep every binding a name received, so that a function
body, which runs when called, sees what its names are bound to later too. These are the data
the analyser (``grader.analysis.analyzer``) works on; nothing here walks code.
"""

from __future__ import annotations

import ast
import sys
from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from grader.analysis.uses import Origin


@dataclass(frozen=True)
class Binding:
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
    origin: Origin | None = None
    depth: int = 0
    defn: str | None = None


Bindings = frozenset[Binding]
EMPTY: Bindings = frozenset()
OPAQUE: Bindings = frozenset({Binding()})
LATE = sys.maxsize  # sequence number of bindings made by inner functions at call time
STAR = "*"  # pseudo-name under which star imports are recorded


@dataclass(eq=False)
class History:
    """Every binding a name received in one scope, by sequence number.

    Lets a function body see bindings made after it was defined.
    """

    seqs: list[int] = field(default_factory=list)
    values: dict[int, Bindings] = field(default_factory=dict)
    _suffix: list[Bindings] | None = None

    def add(self, seq: int, bindings: Bindings) -> None:
        if seq in self.values:
            self.values[seq] |= bindings
        else:
            insort(self.seqs, seq)
            self.values[seq] = bindings
        self._suffix = None

    def after(self, seq: int) -> Bindings:
        if self._suffix is None:
            suffix = [EMPTY]
            for s in reversed(self.seqs):
                suffix.append(self.values[s] | suffix[-1])
            self._suffix = suffix[::-1]
        return self._suffix[bisect_right(self.seqs, seq)]


@dataclass(eq=False)
class Scope:
    """A namespace: the module, a function, a class body, a comprehension or lambda.

    ``local_names`` is the static set of local names of function-like scopes
    (Python decides locality at compile time); class and module namespaces
    are dynamic and leave it empty.
    """

    kind: str
    local_names: frozenset[str] = frozenset()
    global_names: frozenset[str] = frozenset()
    nonlocal_names: frozenset[str] = frozenset()
    env: dict[str, Bindings] = field(default_factory=dict)
    history: dict[str, History] = field(default_factory=dict)
    late: dict[str, Bindings] = field(default_factory=dict)

    def assign(self, name: str, bindings: Bindings, seq: int) -> None:
        self.env[name] = bindings
        self.history.setdefault(name, History()).add(seq, bindings)

    def assign_late(self, name: str, bindings: Bindings) -> None:
        """A binding made from an inner function (global/nonlocal): time unknown."""
        self.history.setdefault(name, History()).add(LATE, bindings)
        self.late[name] = self.late.get(name, EMPTY) | bindings

    def after(self, name: str, seq: int) -> Bindings:
        history = self.history.get(name)
        return history.after(seq) if history else EMPTY


@dataclass(frozen=True, eq=False)
class Frame:
    """A scope as seen from code: live, or as of a def plus anything bound later."""

    scope: Scope
    snapshot: dict[str, Bindings] | None = None
    seq: int = 0

    def bindings(self, name: str) -> Bindings | None:
        """None when the name is not bound in this frame at all."""
        if self.snapshot is None:
            return self.scope.env.get(name)
        found = self.snapshot.get(name, EMPTY) | self.scope.after(name, self.seq)
        return found or None


@dataclass(frozen=True, eq=False)
class Deferred:
    """A function body to analyse after its enclosing scope, as calls come later."""

    node: ast.FunctionDef | ast.AsyncFunctionDef
    top: str | None
    cell: int
    enclosing: tuple[Frame, ...]
    params: dict[str, Bindings]


@dataclass(frozen=True, eq=False)
class Ctx:
    """Where code is being analysed: the frame chain (innermost first) and reporting scope."""

    frames: tuple[Frame, ...]
    top: str | None
    cell: int
    pending: dict[int, Deferred]

    @property
    def scope(self) -> Scope:
        return self.frames[0].scope

    def inner(self, scope: Scope) -> Ctx:
        return replace(self, frames=(Frame(scope), *self.frames))


Stack = list[tuple[ast.AST, "Ctx"]]  # expression visitor's work list
Ops = list[tuple[str, str | None]]  # steps of a chain: ("attr", name), ("item", key), ("ns", None)


def merge_envs(envs: Iterable[dict[str, Bindings]]) -> dict[str, Bindings]:
    """Join environments from alternative paths: a name may denote anything it did on any path."""
    merged: dict[str, Bindings] = {}
    for env in envs:
        for name, bindings in env.items():
            merged[name] = merged.get(name, EMPTY) | bindings
    return merged


def apply_ops(base: Bindings, ops: Iterable[tuple[str, str | None]]) -> Bindings:
    """Follow attribute/item steps from each base binding; steps that lose track drop it."""
    ops = list(ops)
    result = set()
    for binding in base:
        if binding.path is None and binding.defn is None:
            continue
        followed = follow(binding, ops)
        if followed is not None:
            result.add(followed)
    return frozenset(result)


def follow(binding: Binding, ops: list[tuple[str, str | None]]) -> Binding | None:
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
    return Binding(path, binding.origin, depth)


def gained_traceable(before: dict[str, Bindings], after: dict[str, Bindings]) -> bool:
    """Whether some name can now denote a library object, def or container it could not before."""
    for name, bindings in after.items():
        old = before.get(name, EMPTY)
        if bindings != old and any(b.path or b.defn or b.depth for b in bindings - old):
            return True
    return False


def contain(parts: Iterable[Bindings]) -> Bindings:
    """Bindings of a literal container: its elements, one level deeper."""
    return frozenset(
        Binding(b.path, b.origin, b.depth + 1, b.defn)
        for part in parts
        for b in part
        if b.depth < 3
    )


def iterated(bindings: Bindings) -> Bindings:
    """What a for-loop variable may denote when iterating over ``bindings``."""
    return frozenset(
        Binding(b.path, b.origin, b.depth - 1, b.defn) for b in bindings if b.depth
    )


def outside_comprehensions(ctx: Ctx) -> Ctx:
    """Walrus targets inside comprehensions bind in the enclosing scope (PEP 572)."""
    frames = ctx.frames
    while frames[0].scope.kind == "comprehension" and len(frames) > 1:
        frames = frames[1:]
    return replace(ctx, frames=frames)
