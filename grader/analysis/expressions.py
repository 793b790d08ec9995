"""The walk over expressions: every name, attribute chain, subscript and call resolved whole
(by ``grader.analysis.resolve``) and checked against the forbidden list; lambdas and
comprehensions entered as the scopes they are; code in ``eval``/``exec`` strings and in magics'
arguments analysed where it runs. What it finds is recorded here: uses, import sites of
forbidden names, and which top-level def names which. The statements around expressions are
``grader.analysis.analyzer``'s.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from grader.analysis.magics import MAGIC_RUNNERS, magic_code
from grader.analysis.names import EMPTY, OPAQUE, Bindings, Ctx, Scope, Stack, iterated, outside_comprehensions
from grader.analysis.resolve import Resolver
from grader.analysis.resolvers import EVAL_FUNCS
from grader.analysis.syntax import (
    CHAINS,
    COMPREHENSIONS,
    arg_nodes,
    child_nodes,
    const_str,
    function_locals,
    parse_cell,
)
from grader.analysis.uses import ForbiddenUse, ImportSite, Matcher, Origin


class ExpressionVisitor(Resolver):
    """Visits expressions, recording what they reach; the statements are a subclass's."""

    def __init__(self, matcher: Matcher) -> None:
        super().__init__()
        self.matcher = matcher
        self.edges: dict[str, set[str]] = {}  # top-level def -> the top-level defs it names
        self._found: dict[tuple[int, int, str], tuple[int, ForbiddenUse]] = {}
        self._sites: dict[int, tuple[Origin, ImportSite]] = {}  # by id of the import node
        self._used_origins: set[Origin] = set()
        self._strings: dict[int, ast.Module | None] = {}  # eval/exec code, parsed once per call

    def _exec_block(self, stmts: Iterable[ast.stmt], ctx: Ctx) -> None:
        """Run statements in ``ctx`` (code in strings is statements): the analyser's."""
        raise NotImplementedError

    def _visit(self, root: ast.AST, ctx: Ctx) -> None:
        """Report forbidden references in an expression tree; iterative, so depth is harmless."""
        self._memo.clear()
        stack: Stack = [(root, ctx)]
        while stack:
            node, here = stack.pop()
            kind = type(node)
            if kind is ast.Constant:
                continue
            if kind is ast.Lambda:
                self._enter_lambda(node, here, stack)  # type: ignore[arg-type]
            elif kind in COMPREHENSIONS:
                self._enter_comprehension(node, here, stack)
            elif kind in CHAINS:
                self._visit_chain(node, here, stack)
            else:
                if kind is ast.NamedExpr:
                    self._visit_walrus(node, here)  # type: ignore[arg-type]
                stack.extend((child, here) for child in reversed(child_nodes(node)))

    def _visit_walrus(self, node: ast.NamedExpr, ctx: Ctx) -> None:
        if isinstance(node.target, ast.Name):
            value = self._resolve(node.value, ctx) or OPAQUE
            self._bind(outside_comprehensions(ctx), node.target.id, value)

    def _visit_chain(self, node: ast.AST, ctx: Ctx, stack: Stack) -> None:
        """A name, attribute, subscript or call: resolve it whole, then visit what it leaves out.

        Once ``a.b.c`` resolves, its prefixes ``a.b`` and ``a`` need no visit:
        a prefix of a path that is not forbidden is not forbidden either, and
        a forbidden path must be reported once, not once per prefix.
        """
        is_import = isinstance(node, ast.Call) and self._note_call(node, ctx)
        storing = isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))
        spine: list[ast.AST] = []
        bindings = EMPTY if is_import or storing else self._resolve(node, ctx, spine)
        if not bindings:
            stack.extend((child, ctx) for child in reversed(child_nodes(node)))
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
        sides = (c for n in spine for c in child_nodes(n) if id(c) not in on_spine)
        stack.extend((child, ctx) for child in sides)

    def _report(self, bindings: Bindings, node: ast.AST, ctx: Ctx) -> None:
        """Record a use for each forbidden object ``node`` may denote."""
        for binding in bindings:
            if binding.path is None or binding.depth:
                continue
            api = self.matcher.match(binding.path)
            if api is not None:
                self._add_use(api, binding.path, node, ctx)
                if binding.origin is not None:
                    self._used_origins.add(binding.origin)

    def _note_call(self, call: ast.Call, ctx: Ctx) -> bool:
        """Register a dynamic import as an import site (True); analyse eval/exec of constants."""
        imported = self._dynamic_import(call, ctx)
        if imported is not None:
            module, value = imported
            self._add_site(module, f"{value}()", call, ctx)
            return True
        code = const_str(call.args[0]) if call.args else None
        if code is not None:
            paths = {b.path for b in self._resolve(call.func, ctx) if b.path}
            if paths & EVAL_FUNCS:
                self._analyse_string(code, call, ctx)
        if isinstance(call.func, ast.Attribute) and call.func.attr in MAGIC_RUNNERS:
            self._analyse_magic(call, ctx)
        return False

    def _analyse_magic(self, call: ast.Call, ctx: Ctx) -> None:
        """``%time stmt``, ``%%timeit setup`` + body, ``%%capture`` + body: the Python a magic
        runs is analysed at the magic's line, whatever the magic (a student can register one
        that runs its body); text that is not Python is no code to analyse."""
        texts = [const_str(arg) for arg in call.args[1:3]]
        code = "\n".join(magic_code(text) for text in texts if text)
        if code.strip():
            self._analyse_string(code, call, ctx)

    def _analyse_string(self, code: str, call: ast.Call, ctx: Ctx) -> None:
        """``eval("np.convolve(a, b)")`` is code, not a string: analyse it at the call's line."""
        if id(call) not in self._strings:
            tree = parse_cell(code)
            if tree is not None:
                for node in ast.walk(tree):
                    if hasattr(node, "lineno"):
                        node.lineno, node.col_offset = call.lineno, call.col_offset  # type: ignore[attr-defined]
            self._strings[id(call)] = tree
        tree = self._strings[id(call)]
        if tree is not None:
            self._exec_block(tree.body, ctx)

    def _note_reference(self, bindings: Bindings, ctx: Ctx) -> None:
        """Record that the current top-level scope names another top-level def."""
        if ctx.top is None:
            return
        for binding in bindings:
            if binding.defn is not None:
                self.edges.setdefault(ctx.top, set()).add(binding.defn)

    def _enter_lambda(self, node: ast.Lambda, ctx: Ctx, stack: Stack) -> None:
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                stack.append((default, ctx))
        local, _, _ = function_locals(node)
        inner = ctx.inner(Scope("lambda", local))
        params = self._param_defaults(node.args, ctx)
        for arg in arg_nodes(node.args):
            self._bind(inner, arg.arg, params.get(arg.arg, EMPTY) | OPAQUE)
        stack.append((node.body, inner))

    def _enter_comprehension(self, node: ast.AST, ctx: Ctx, stack: Stack) -> None:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        targets = frozenset(
            n.id for g in generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        )
        inner = ctx.inner(Scope("comprehension", targets))
        for index, generator in enumerate(generators):
            outer = ctx if index == 0 else inner
            stack.append((generator.iter, outer))
            items = iterated(self._resolve(generator.iter, outer))
            self._bind_target(generator.target, items, inner)
            stack.extend((cond, inner) for cond in generator.ifs)
        if isinstance(node, ast.DictComp):
            stack += [(node.key, inner), (node.value, inner)]
        else:
            stack.append((node.elt, inner))  # type: ignore[attr-defined]

    # ---- recording ------------------------------------------------------

    def _add_use(self, api: str, path: str, node: ast.AST, ctx: Ctx) -> None:
        key = (ctx.cell, id(node), path)
        if key not in self._found:
            use = ForbiddenUse(api, path, ctx.cell, getattr(node, "lineno", 1), ctx.top)
            self._found[key] = (getattr(node, "col_offset", 0), use)

    def _add_site(
        self, imported: str, bound: str, node: ast.AST, ctx: Ctx, always: bool = False
    ) -> Origin:
        """Remember an import of a forbidden name; returns the origin its bindings carry."""
        origin = (imported, bound, ctx.top)
        api = self.matcher.match(imported)
        if api is not None:
            line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
            site = ImportSite(imported, api, ctx.cell, line, col, ctx.top, always)
            self._sites[id(node)] = (origin, site)
        return origin
