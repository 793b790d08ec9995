"""Name resolution: what a name or an expression denotes at a point of the notebook.

Follows Python's rules (local, enclosing, global, builtins; ``global``/``nonlocal``; class
bodies not enclosing their methods; star imports) and chains of attributes, subscripts and
calls whose result is known (``getattr``, ``vars``, ``globals()['np']``, imports by name).
``Resolver`` is the half of the analyser that answers "what is this?"; the walk over
statements and expressions that asks it is ``grader.analysis.analyzer``.
"""

from __future__ import annotations

import ast

from grader.analysis.magics import is_ipython_name
from grader.analysis.names import (
    EMPTY,
    OPAQUE,
    STAR,
    Binding,
    Bindings,
    Ctx,
    Frame,
    Ops,
    apply_ops,
    contain,
)
from grader.analysis.resolvers import (
    BUILTINS,
    NAMESPACE_FUNCS,
    PASS_FUNCS,
    RESOLVE_FUNCS,
    import_target,
)
from grader.analysis.syntax import const_str, names_defined


class Resolver:
    """What names and expressions denote, as the analysis goes; memoised per expression."""

    def __init__(self) -> None:
        self._seq = 0
        self._defined: frozenset[str] | None = None  # computed on first need (star imports)
        self._broken: list[str] = []
        self._keep: list[ast.AST] = []  # keeps nodes alive so their id()s stay unique
        # Resolutions within one expression visit; emptied whenever bindings may change.
        self._memo: dict[int, Bindings] = {}

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _snapshot(self, frame: Frame) -> Frame:
        if frame.snapshot is not None:
            return frame
        return Frame(frame.scope, dict(frame.scope.env), self._seq)

    def _bind(self, ctx: Ctx, name: str, bindings: Bindings) -> None:
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

    def _lookup(self, ctx: Ctx, name: str) -> Bindings:
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
                return frame.bindings(name) or EMPTY
        return EMPTY

    def _notebook_names(self) -> frozenset[str]:
        if self._defined is None:
            self._defined = names_defined(self._keep, self._broken)
        return self._defined

    def _module_lookup(self, frame: Frame, name: str) -> Bindings:
        found = frame.bindings(name)
        if found is not None:
            return found
        if name in BUILTINS:
            return frozenset({Binding(f"builtins.{name}")})
        stars = frame.bindings(STAR)
        if not stars or is_ipython_name(name) or name in self._notebook_names():
            return EMPTY
        return frozenset(Binding(f"{s.path}.{name}", s.origin) for s in stars if s.path)

    def _bind_target(self, target: ast.expr, bindings: Bindings, ctx: Ctx) -> None:
        if isinstance(target, ast.Name):
            self._bind(ctx, target.id, bindings or OPAQUE)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_target(elt, OPAQUE, ctx)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, OPAQUE, ctx)

    def _param_defaults(self, args: ast.arguments, ctx: Ctx) -> dict[str, Bindings]:
        """Parameters default to their default values (``def f(x, op=np.convolve)``)."""
        positional = [*args.posonlyargs, *args.args]
        with_default = positional[len(positional) - len(args.defaults) :]
        pairs = list(zip(with_default, args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
        return {arg.arg: self._resolve(default, ctx) for arg, default in pairs}

    # ---- resolving expressions -----------------------------------------

    def _resolve(self, node: ast.AST, ctx: Ctx, spine: list[ast.AST] | None = None) -> Bindings:
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
        ops: Ops = []  # collected outermost first; applied innermost first
        cur = node
        base: Bindings = EMPTY
        while True:
            spine.append(cur)
            step = self._resolve_step(cur, ctx, ops)
            if isinstance(step, ast.AST):
                cur = step
                continue
            base = step
            break
        return apply_ops(base, reversed(ops))

    def _warm_calls(self, node: ast.AST, ctx: Ctx) -> None:
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

    def _resolve_step(self, cur: ast.AST, ctx: Ctx, ops: Ops) -> ast.AST | Bindings:
        """One step down a chain: the next node to follow, or the bindings at its base."""
        if isinstance(cur, ast.Name):
            return self._lookup(ctx, cur.id)
        if isinstance(cur, ast.Attribute):
            ops.append(("ns", None) if cur.attr == "__dict__" else ("attr", cur.attr))
            return cur.value
        if isinstance(cur, ast.Subscript):
            ops.append(("item", const_str(cur.slice)))
            return cur.value
        if isinstance(cur, ast.Call):
            return self._resolve_call(cur, ctx, ops)
        if isinstance(cur, ast.NamedExpr):
            return cur.value
        return self._resolve_value(cur, ctx)

    def _resolve_value(self, cur: ast.AST, ctx: Ctx) -> Bindings:
        """Bases that are not names: literals holding objects, ``a if c else b``, ``a or b``."""
        if isinstance(cur, (ast.List, ast.Tuple, ast.Set)):
            return contain(self._resolve(elt, ctx) for elt in cur.elts)
        if isinstance(cur, ast.Dict):
            return contain(self._resolve(value, ctx) for value in cur.values)
        if isinstance(cur, ast.IfExp):
            return self._resolve(cur.body, ctx) | self._resolve(cur.orelse, ctx)
        if isinstance(cur, ast.BoolOp):
            return frozenset().union(*(self._resolve(value, ctx) for value in cur.values))
        return EMPTY

    def _resolve_call(self, call: ast.Call, ctx: Ctx, ops: Ops) -> ast.AST | Bindings:
        """Calls whose result is known: getattr, vars, functools.partial, imports, ``.get``."""
        func, args = call.func, call.args
        if not args:
            return self._namespace_item(call, ctx, ops)
        if isinstance(func, ast.Attribute) and func.attr == "get":
            ops.append(("item", const_str(args[0])))
            return func.value
        paths = self._callee_paths(call, ctx)
        imported = import_target(call, paths)
        if imported is not None:
            module, value = imported
            return frozenset({Binding(value, (module, f"{value}()", ctx.top))})
        if "builtins.getattr" in paths and len(args) in (2, 3):
            ops.append(("attr", const_str(args[1])))
            return args[0]
        if "builtins.vars" in paths and len(args) == 1:
            ops.append(("ns", None))
            return args[0]
        if paths & PASS_FUNCS:
            return args[0]
        name = const_str(args[0])
        if name and paths & RESOLVE_FUNCS:
            return frozenset({Binding(name.replace(":", "."))})
        getter = self._attrgetter(func, ctx)
        if getter is not None and len(args) == 1:
            ops.extend(("attr", part) for part in reversed(getter.split(".")))
            return args[0]
        return EMPTY

    def _namespace_item(self, call: ast.Call, ctx: Ctx, ops: Ops) -> Bindings:
        """``globals()['np']``, ``vars().get('np')``, ``locals()['np']``: the name itself."""
        if not ops or ops[-1][0] != "item" or not ops[-1][1]:
            return EMPTY
        if not self._callee_paths(call, ctx) & NAMESPACE_FUNCS:
            return EMPTY
        name = ops.pop()[1]
        assert name is not None
        return self._lookup(ctx, name)

    def _attrgetter(self, func: ast.AST, ctx: Ctx) -> str | None:
        """The dotted name of ``operator.attrgetter('a.b')``, when ``func`` is that call."""
        if not isinstance(func, ast.Call) or len(func.args) != 1:
            return None
        name = const_str(func.args[0])
        if name and "operator.attrgetter" in self._callee_paths(func, ctx):
            return name
        return None

    def _callee_paths(self, call: ast.Call, ctx: Ctx) -> set[str]:
        """Library paths the called expression may denote (``builtins.getattr`` ...)."""
        return {b.path for b in self._resolve(call.func, ctx) if b.path and not b.depth}

    def _dynamic_import(self, call: ast.Call, ctx: Ctx) -> tuple[str, str] | None:
        """(module imported, value returned) for ``__import__``/``import_module`` of a constant."""
        if not call.args or not const_str(call.args[0]):
            return None
        return import_target(call, self._callee_paths(call, ctx))
