"""The walk over a notebook's code that finds forbidden APIs: the cells' statements run in
order, as Python would run them (branches and loops joined as "may" analysis, function bodies
when they may be called), each expression in them handed to ``grader.analysis.expressions``.

One walk gives everything the rest of the analysis needs: the uses, the import sites, which
top-level def refers to which (for the taint, ``grader.analysis.taint``), and the cells it
had to give up on. See ``grader.analysis.forbidden`` for the model it follows.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial

from grader.analysis.expressions import ExpressionVisitor
from grader.analysis.names import (
    EMPTY,
    OPAQUE,
    STAR,
    Binding,
    Ctx,
    Deferred,
    Frame,
    Scope,
    gained_traceable,
    iterated,
    merge_envs,
)
from grader.analysis.syntax import (
    arg_nodes,
    function_locals,
    parse_cell,
    pattern_names,
    too_deep,
)
from grader.analysis.uses import ForbiddenUse, Matcher, reported


class Analyzer(ExpressionVisitor):
    """Walks the notebook once, resolving names; collects uses, import sites and def references."""

    def __init__(self, matcher: Matcher) -> None:
        super().__init__(matcher)
        self.top_defs: list[str] = []
        self.too_deep: set[int] = set()  # cells nested too deeply for the parser
        self._failed: set[int] = set()
        self._loop_depth = 0

    # ---- driver ---------------------------------------------------------

    def run(self, sources: Sequence[str]) -> Analyzer:
        texts = [src if isinstance(src, str) else "" for src in sources]
        parsed = [(cell, self._parse(cell, src)) for cell, src in enumerate(texts)]
        trees = [(cell, tree) for cell, tree in parsed if tree is not None]
        broken = [texts[cell] for cell, tree in parsed if tree is None]
        self._keep.extend(tree for _, tree in trees)
        self._broken = broken
        module = Scope("module")
        pending: dict[int, Deferred] = {}
        for cell, tree in trees:
            ctx = Ctx((Frame(module),), None, cell, pending)
            self._guarded(cell, self._exec_block, tree.body, ctx)
        self._run_module_functions(module, pending)
        return self

    def _run_module_functions(self, module: Scope, pending: dict[int, Deferred]) -> None:
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

    def _parse(self, cell: int, source: str) -> ast.Module | None:
        """A cell's tree; None when it does not parse, noting a cell too deep for the parser."""
        tree = parse_cell(source)
        if tree is None and too_deep(source):
            self.too_deep.add(cell)
        return tree

    def uses(self) -> list[ForbiddenUse]:
        """All uses found, plus import sites whose bindings were never used, in source order."""
        return reported(self._found.values(), self._sites.values(), self._used_origins, self._failed)

    def undecided(self) -> list[int]:
        """Cells the analysis had to give up on (nested too deeply for the parser or the
        analyser, or too big for memory): what they define cannot be known to be clean."""
        return sorted(self.too_deep | self._failed)

    # ---- statements -----------------------------------------------------

    def _exec_block(self, stmts: Iterable[ast.stmt], ctx: Ctx) -> None:
        for stmt in stmts:
            self._exec_stmt(stmt, ctx)

    def _exec_stmt(self, stmt: ast.stmt, ctx: Ctx) -> None:
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

    def _exec_import(self, stmt: ast.Import, ctx: Ctx) -> None:
        for alias in stmt.names:
            name = alias.asname or alias.name.split(".")[0]
            origin = self._add_site(alias.name, name, alias, ctx)
            path = alias.name if alias.asname else name
            self._bind(ctx, name, frozenset({Binding(path, origin)}))

    def _exec_import_from(self, stmt: ast.ImportFrom, ctx: Ctx) -> None:
        for alias in stmt.names:
            if stmt.level or not stmt.module:  # relative: the student's own modules
                if alias.name != "*":
                    self._bind(ctx, alias.asname or alias.name, OPAQUE)
            elif alias.name == "*":
                origin = self._add_site(stmt.module, STAR, alias, ctx, always=True)
                stars = ctx.frames[-1].scope.env.get(STAR, EMPTY)
                self._bind(ctx, STAR, stars | {Binding(stmt.module, origin)})
            else:
                full = f"{stmt.module}.{alias.name}"
                name = alias.asname or alias.name
                origin = self._add_site(full, name, alias, ctx)
                self._bind(ctx, name, frozenset({Binding(full, origin)}))

    def _exec_assign(self, stmt: ast.Assign | ast.AnnAssign, ctx: Ctx) -> None:
        if isinstance(stmt, ast.AnnAssign):
            self._visit(stmt.annotation, ctx)
        targets = [stmt.target] if isinstance(stmt, ast.AnnAssign) else stmt.targets
        value = stmt.value
        if value is None:  # an annotation alone binds nothing
            self._visit(targets[0], ctx)
            return
        self._visit(value, ctx)
        for target in targets:
            self._assign_target(target, value, ctx)
            self._visit(target, ctx)

    def _assign_target(self, target: ast.expr, value: ast.expr, ctx: Ctx) -> None:
        """Bind ``target = value``, pairing up ``a, b = x, y`` element by element."""
        if (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
        ):
            for sub_target, sub_value in zip(target.elts, value.elts, strict=True):
                self._assign_target(sub_target, sub_value, ctx)
        else:
            self._bind_target(target, self._resolve(value, ctx), ctx)

    def _exec_aug_assign(self, stmt: ast.AugAssign, ctx: Ctx) -> None:
        self._visit(stmt.value, ctx)
        self._visit(stmt.target, ctx)
        if isinstance(stmt.target, ast.Name):
            old = self._lookup(ctx, stmt.target.id)
            containers = frozenset(b for b in old | self._resolve(stmt.value, ctx) if b.depth)
            self._bind(ctx, stmt.target.id, containers | OPAQUE)

    def _exec_delete(self, stmt: ast.Delete, ctx: Ctx) -> None:
        for target in stmt.targets:
            self._visit(target, ctx)
            if isinstance(target, ast.Name):
                self._bind(ctx, target.id, OPAQUE)

    def _exec_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: Ctx) -> None:
        top = self._top_for(node.name, ctx)
        header = replace(ctx, top=top)
        args = node.args
        for expr in (*node.decorator_list, *args.defaults, *args.kw_defaults, node.returns):
            if expr is not None:
                self._visit(expr, header)
        for arg in arg_nodes(node.args):
            if arg.annotation is not None:
                self._visit(arg.annotation, header)
        params = self._param_defaults(node.args, header)
        enclosing = tuple(self._snapshot(f) for f in ctx.frames if f.scope.kind != "class")
        ctx.pending[id(node)] = Deferred(node, top, ctx.cell, enclosing, params)
        self._bind_def(node.name, ctx)

    def _exec_class(self, node: ast.ClassDef, ctx: Ctx) -> None:
        top = self._top_for(node.name, ctx)
        header = replace(ctx, top=top)
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self._visit(expr, header)
        self._exec_block(node.body, header.inner(Scope("class")))
        self._bind_def(node.name, ctx)

    def _top_for(self, name: str, ctx: Ctx) -> str | None:
        """Reporting scope for a def: its own name when it is top-level."""
        if ctx.scope.kind == "module":
            self.top_defs.append(name)
            return name
        return ctx.top

    def _bind_def(self, name: str, ctx: Ctx) -> None:
        own = frozenset({Binding(defn=name)}) if ctx.scope.kind == "module" else OPAQUE
        self._bind(ctx, name, own)

    def _run_deferred(self, record: Deferred) -> None:
        local, declared_global, declared_nonlocal = function_locals(record.node)
        scope = Scope("function", local, declared_global, declared_nonlocal)
        pending: dict[int, Deferred] = {}
        ctx = Ctx((Frame(scope), *record.enclosing), record.top, record.cell, pending)
        for arg in arg_nodes(record.node.args):
            self._bind(ctx, arg.arg, record.params.get(arg.arg, EMPTY) | OPAQUE)
        self._exec_block(record.node.body, ctx)
        for nested in list(pending.values()):
            self._run_deferred(nested)

    # ---- control flow ---------------------------------------------------

    def _branches(self, ctx: Ctx, runs: Iterable[Callable[[], None]], keep_before: bool) -> None:
        """Run alternative paths from the same state, then join their results."""
        scope = ctx.scope
        before = dict(scope.env)
        results = [before] if keep_before else []
        for run in runs:
            scope.env = dict(before)
            run()
            results.append(scope.env)
        scope.env = merge_envs(results)

    def _loop(self, ctx: Ctx, body: Callable[[], None]) -> None:
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
            scope.env = merge_envs([before, scope.env])
            if self._loop_depth <= 2 and gained_traceable(before, scope.env):
                body()
                scope.env = merge_envs([before, scope.env])
        finally:
            self._loop_depth -= 1

    def _exec_if(self, stmt: ast.If, ctx: Ctx) -> None:
        self._visit(stmt.test, ctx)
        runs = [partial(self._exec_block, block, ctx) for block in (stmt.body, stmt.orelse)]
        self._branches(ctx, runs, False)

    def _exec_while(self, stmt: ast.While, ctx: Ctx) -> None:
        self._visit(stmt.test, ctx)

        def body() -> None:
            self._exec_block(stmt.body, ctx)
            self._visit(stmt.test, ctx)

        self._loop(ctx, body)
        self._exec_block(stmt.orelse, ctx)

    def _exec_for(self, stmt: ast.For | ast.AsyncFor, ctx: Ctx) -> None:
        self._visit(stmt.iter, ctx)
        items = iterated(self._resolve(stmt.iter, ctx))

        def body() -> None:
            self._bind_target(stmt.target, items, ctx)
            self._visit(stmt.target, ctx)
            self._exec_block(stmt.body, ctx)

        self._loop(ctx, body)
        self._exec_block(stmt.orelse, ctx)

    def _exec_try(self, stmt: ast.Try | ast.TryStar, ctx: Ctx) -> None:
        scope = ctx.scope
        before = dict(scope.env)
        self._exec_block(stmt.body, ctx)
        after_body = scope.env
        results = []
        for handler in stmt.handlers:
            scope.env = merge_envs([before, after_body])
            if handler.type is not None:
                self._visit(handler.type, ctx)
            if handler.name:
                self._bind(ctx, handler.name, OPAQUE)
            self._exec_block(handler.body, ctx)
            results.append(scope.env)
        scope.env = dict(after_body)
        self._exec_block(stmt.orelse, ctx)
        results.append(scope.env)
        scope.env = merge_envs(results)
        self._exec_block(stmt.finalbody, ctx)

    def _exec_with(self, stmt: ast.With | ast.AsyncWith, ctx: Ctx) -> None:
        for item in stmt.items:
            self._visit(item.context_expr, ctx)
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, OPAQUE, ctx)
                self._visit(item.optional_vars, ctx)
        self._exec_block(stmt.body, ctx)

    def _exec_match(self, stmt: ast.Match, ctx: Ctx) -> None:
        self._visit(stmt.subject, ctx)

        def case_runner(case: ast.match_case) -> Callable[[], None]:
            def run() -> None:
                self._visit(case.pattern, ctx)
                for name in pattern_names(case.pattern):
                    self._bind(ctx, name, OPAQUE)
                if case.guard is not None:
                    self._visit(case.guard, ctx)
                self._exec_block(case.body, ctx)

            return run

        self._branches(ctx, [case_runner(case) for case in stmt.cases], True)


#: Each kind of statement's method (its node's own type, which the table cannot say to mypy).
_STMT_HANDLERS: dict[type[ast.stmt], Callable[..., None]] = {
    ast.Import: Analyzer._exec_import,
    ast.ImportFrom: Analyzer._exec_import_from,
    ast.Assign: Analyzer._exec_assign,
    ast.AnnAssign: Analyzer._exec_assign,
    ast.AugAssign: Analyzer._exec_aug_assign,
    ast.Delete: Analyzer._exec_delete,
    ast.FunctionDef: Analyzer._exec_function,
    ast.AsyncFunctionDef: Analyzer._exec_function,
    ast.ClassDef: Analyzer._exec_class,
    ast.If: Analyzer._exec_if,
    ast.While: Analyzer._exec_while,
    ast.For: Analyzer._exec_for,
    ast.AsyncFor: Analyzer._exec_for,
    ast.Try: Analyzer._exec_try,
    ast.TryStar: Analyzer._exec_try,
    ast.With: Analyzer._exec_with,
    ast.AsyncWith: Analyzer._exec_with,
    ast.Match: Analyzer._exec_match,
}
