"""Making mutants: the reference's solution regions changed the way students get them wrong,
one change per mutant (see ``OPERATORS``), as verified text edits of the smallest span; and
sampling them. Part of ``grader mutate`` (``grader.tools.mutate``)."""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import io
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from grader.errors import SpecError
from grader.spec import Assignment
from grader.spec.release import BEGIN, END, strip_solutions

UNMUTATED = "unmutated"  # the reference without markers, graded in the same batch as a baseline

#: operator id -> what it does; the order is the order of generation (a later operator that
#: produces a cell already produced by an earlier one is dropped as a duplicate).
OPERATORS: dict[str, str] = {
    "aor": "arithmetic operator replaced: + -, * /, / //, // /, % //, ** *, @ * (mutmut, cosmic-ray)",
    "aug": "augmented assignment changed: += to = (overwrite, not accumulate), += to -= ...",
    "ror": "comparison replaced by its boundary neighbour or negation: < <=, == !=, in / not in",
    "bool": "and <-> or, `not x` -> x, True <-> False (keepdims=True -> False...)",
    "unary": "unary minus dropped: -x -> x",
    "aod": "an operand deleted: a + b -> a, a * b -> a and -> b, a / b -> a (exp(0.5 * x) -> exp(x))",
    "number": "a constant changed by one (n -> n + 1, n - 1; shape[0] -> shape[1]); in a table of "
              "numbers, one entry negated",
    "range": "off-by-one in range(): range(n) -> range(n - 1), range(n + 1); each argument",
    "slice": "off-by-one in a slice bound: a[i:j] -> a[i + 1:j], a[i:j - 1] ...",
    "axis": "axis= changed to another axis (-1 -> 0, 1; (0, 1) -> 0, 1)",
    "arg-swap": "two neighbouring positional arguments swapped: np.dot(a, b) -> np.dot(b, a)",
    "arg-drop": "a keyword argument or the last positional argument left out "
                "(conv2d(x, k, stride) -> conv2d(x, k); np.sum(x, axis=-1) -> np.sum(x))",
    "call": "a function swapped for its usual confusion: max <-> min, max -> mean, sum <-> mean, "
            "reduce_sum <-> reduce_mean, argmax <-> argmin, relu <-> sigmoid, MaxPool2D -> "
            "AveragePooling2D ...",
    "unwrap": "a one-argument math function or activation dropped: np.exp(x) -> x, relu(x) -> x",
    "activation": "activation= changed: 'relu' -> 'sigmoid', 'softmax' -> 'sigmoid' ...",
    "name": "a name confused with its sibling: kh <-> kw, out_h <-> out_w, i <-> j (nested loops)",
    "return-zeros": "return value replaced by zeros of the same shape: return x -> "
                    "return np.zeros_like(x)",
    "stmt-del": "a statement deleted (replaced by pass); return statements excepted",
}

_BINOP_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Div,), ast.Div: (ast.Mult, ast.FloorDiv),
    ast.FloorDiv: (ast.Div,), ast.Mod: (ast.FloorDiv,), ast.Pow: (ast.Mult,), ast.MatMult: (ast.Mult,),
}
_SYMBOLS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitXor: "^", ast.BitAnd: "&",
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
    ast.And: "and", ast.Or: "or",
}
_COMPARE_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_CALL_SWAPS: dict[str, tuple[str, ...]] = {
    "max": ("min", "mean"), "min": ("max",), "amax": ("amin",), "amin": ("amax",),
    "maximum": ("minimum",), "minimum": ("maximum",), "sum": ("mean",), "mean": ("sum",),
    "nansum": ("nanmean",), "nanmean": ("nansum",), "argmax": ("argmin",), "argmin": ("argmax",),
    "reduce_sum": ("reduce_mean",), "reduce_mean": ("reduce_sum",),
    "reduce_max": ("reduce_min", "reduce_mean"), "reduce_min": ("reduce_max",),
    "relu": ("sigmoid",), "sigmoid": ("relu",), "tanh": ("sigmoid",), "softmax": ("sigmoid",),
    "floor": ("ceil",), "ceil": ("floor",), "exp": ("log",), "log": ("exp",),
    "MaxPool2D": ("AveragePooling2D",), "MaxPooling2D": ("AveragePooling2D",),
    "AveragePooling2D": ("MaxPool2D",), "AvgPool2D": ("MaxPool2D",),
}
_UNWRAP = {"exp", "log", "sqrt", "abs", "absolute", "square", "relu", "sigmoid", "tanh", "softmax",
           "log_softmax", "elu", "leaky_relu"}
_ACTIVATIONS: dict[str, str] = {"relu": "sigmoid", "sigmoid": "relu", "softmax": "sigmoid",
                                "tanh": "relu", "linear": "relu", "elu": "relu", "selu": "relu",
                                "gelu": "relu", "swish": "relu", "leaky_relu": "sigmoid"}
#: keyword arguments that change what is printed or how things are named, never a result
_INERT_KEYWORDS = {"verbose", "name", "end", "sep", "flush", "file"}
#: argument order cannot matter for these, so swapping their arguments is no mutant at all
_COMMUTATIVE = {"maximum", "minimum", "add", "multiply", "fmax", "fmin", "hypot", "logical_and",
                "logical_or", "logical_xor", "max", "min"}
#: ``dtype=`` of these defaults to float64: dropping ``dtype=float64`` changes nothing
_FLOAT_DEFAULT = {"zeros", "ones", "empty", "full"}
_FLOAT64 = {"float", "float64", "np.float64", "numpy.float64", "'float64'", '"float64"', "np.double"}


# --- mutants -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mutant:
    """One wrong variant of the reference: a single edit of one code cell."""

    id: str  # stable: scope, operator, code before and after, occurrence
    question: str | None  # the question whose code changed (None: no question owns it)
    scope: str  # the top-level name the code belongs to (function, variable), or "module"
    operator: str
    original: str  # the changed node's code before ...
    replacement: str  # ... and after (whitespace collapsed)
    cell: int  # index of the cell among all the notebook's cells (0-based)
    code_cell: int  # 1-based number among code cells, as in grading feedback
    line: int  # 1-based line in the reference cell (markers included)
    source: str  # the whole mutated cell, markers removed
    diff: str  # unified diff of the cell, reference (markers removed) -> mutant

    shown: tuple[str, str] = ("", "")  # the edited text before and after, for long nodes

    @property
    def description(self) -> str:
        operator_only = not re.search(r"\w", self.shown[0])  # "+=" -> "=": the node says more
        before, after = (self.original, self.replacement) \
            if len(self.original) <= 60 or operator_only else self.shown
        return f"{_short(before)} -> {_short(after) or '(deleted)'}"


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class _Cell:
    index: int  # among all cells
    code_index: int  # among code cells, 0-based
    text: str  # markers removed: what the mutant notebook holds
    parse_text: str  # what is parsed (IPython syntax transformed when needed)
    regions: list[tuple[int, int]]  # 1-based inclusive line ranges in ``text``
    original_lines: list[int]  # line in ``text`` (index) -> line in the reference cell (1-based)


def _prepare(source: str, where: str) -> tuple[str, list[tuple[int, int]], list[int]]:
    """The cell without marker lines, its regions' line ranges, and a map to original lines."""
    strip_solutions(source, where)  # raises ReleaseError on unbalanced or nested markers
    kept: list[str] = []
    original: list[int] = []
    regions: list[tuple[int, int]] = []
    start = None
    for number, line in enumerate(_lines(source), start=1):
        if BEGIN.match(line.rstrip("\r\n")):
            start = len(kept) + 1
        elif END.match(line.rstrip("\r\n")):
            if start is not None and len(kept) >= start:
                regions.append((start, len(kept)))
            start = None
        else:
            kept.append(line)
            original.append(number)
    return "".join(kept), regions, original


def _lines(text: str) -> list[str]:
    """Lines as Python numbers them (\\n, \\r\\n, \\r; not str.splitlines' \\f or \\u2028)."""
    return io.StringIO(text, newline="").readlines()


def _cells(reference: Path) -> list[_Cell]:
    notebook = nbformat.read(str(reference), as_version=4)
    cells, code_index = [], 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        text, regions, original = _prepare(cell.source, f"{reference.name} cell {index + 1}")
        cells.append(_Cell(index, code_index, text, _parseable(text), regions, original))
        code_index += 1
    return cells


def _parseable(text: str) -> str:
    """``text``, or its IPython-transformed form (magics, shell lines) when that has as many lines."""
    try:
        ast.parse(text)
        return text
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        transformed = TransformerManager().transform_cell(text)
    except Exception:  # noqa: BLE001 - a cell IPython cannot read either is simply not mutated
        return text
    return transformed if transformed.count("\n") == text.count("\n") else text


@dataclass
class _Candidate:
    operator: str
    node: ast.AST  # the node replaced
    new_node: ast.AST  # what the mutated cell must parse to at that place
    start: tuple[int, int]  # (line, char column) of the edited span
    end: tuple[int, int]
    text: str  # the span's new text
    parenthesize: bool = False  # may retry as ``(text)`` if precedence requires it


class _Source:
    """Positions and segments of one parsed cell (AST columns are UTF-8 byte offsets)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = _lines(text) or [""]
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def char_col(self, line: int, byte_col: int) -> int:
        return len(self.lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def begin(self, node: Any) -> tuple[int, int]:
        return node.lineno, self.char_col(node.lineno, node.col_offset)

    def finish(self, node: Any) -> tuple[int, int]:
        return node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset)

    def offset(self, position: tuple[int, int]) -> int:
        return self.starts[position[0] - 1] + position[1]

    def between(self, start: tuple[int, int], end: tuple[int, int]) -> str:
        return self.text[self.offset(start):self.offset(end)]

    def segment(self, node: ast.AST) -> str:
        return self.between(self.begin(node), self.finish(node))


def _parents(tree: ast.AST) -> dict[int, tuple[ast.AST, str, int | None]]:
    parents: dict[int, tuple[ast.AST, str, int | None]] = {}
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        parents[id(child)] = (parent, name, i)
            elif isinstance(value, ast.AST):
                parents[id(value)] = (parent, name, None)
    return parents


def _final_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool))


def _ends_in_number(node: ast.AST) -> bool:
    """``x + 1``, ``n - k - 1``: its off-by-one variants are the number and operand deletion
    operators' mutants already."""
    return isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)) \
        and _is_number(node.right)


def _number_value(node: Any) -> int | float:
    if isinstance(node, ast.UnaryOp):
        value = _number_value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    return node.value


def _expr(text: str) -> ast.expr:
    return ast.parse(text, mode="eval").body


class _Generator:
    """Every candidate mutation of one cell's solution regions."""

    def __init__(self, cell: _Cell, numpy_alias: str | None) -> None:
        self.cell = cell
        self.src = _Source(cell.parse_text)
        self.tree = ast.parse(cell.parse_text)
        self.parents = _parents(self.tree)
        self.numpy = numpy_alias
        self.skip: set[int] = set()  # ids of nodes another operator handles (axis values, tables)
        self.table_entries: set[int] = set()  # numbers in a table of numbers (matrix rows)
        self.siblings = self._sibling_names()

    # -- what may be mutated ---------------------------------------------------------------

    def inside(self, node: Any) -> bool:
        if not hasattr(node, "lineno") or getattr(node, "end_lineno", None) is None:
            return False
        return any(a <= node.lineno and node.end_lineno <= b for a, b in self.cell.regions)

    def nodes(self) -> list[Any]:
        """Nodes inside solution regions, in source order; never printing, docstrings, f-strings,
        parameter lists or inert keywords (``verbose=``)."""
        excluded: set[int] = set()
        for node in ast.walk(self.tree):
            if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                    and _final_name(node.value.func) == "print"):
                excluded.update(id(n) for n in ast.walk(node))
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                excluded.update(id(n) for n in ast.walk(node))  # docstrings and bare strings
            if isinstance(node, (ast.JoinedStr, ast.arguments)) \
                    or isinstance(node, ast.keyword) and node.arg in _INERT_KEYWORDS:
                excluded.update(id(n) for n in ast.walk(node))
        found = [n for n in ast.walk(self.tree) if id(n) not in excluded and self.inside(n)]
        return sorted(found, key=lambda n: (n.lineno, n.col_offset, -n.end_lineno, -n.end_col_offset))

    def candidates(self) -> Iterator[_Candidate]:
        nodes = self.nodes()
        for node in nodes:  # mark first: which nodes belong to the axis and table operators
            self._mark(node)
        for operator in OPERATORS:
            method = getattr(self, "op_" + operator.replace("-", "_"))
            for node in nodes:
                yield from method(node)

    def _mark(self, node: ast.AST) -> None:
        if isinstance(node, ast.keyword) and node.arg == "axis":
            self.skip.update(id(n) for n in ast.walk(node.value))
        if isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) >= 2 \
                and all(_is_number(e) for e in node.elts) and self._in_table(node):
            for element in node.elts:
                self.skip.update(id(n) for n in ast.walk(element))
                self.table_entries.add(id(element))

    def _in_table(self, node: ast.AST) -> bool:
        parent = self.parents.get(id(node))
        return parent is not None and isinstance(parent[0], (ast.List, ast.Tuple))

    # -- helpers ---------------------------------------------------------------------------

    def replace(self, operator: str, node: ast.AST, text: str) -> _Candidate:
        """Replace an expression node's whole span by ``text`` (parsed for the expected tree)."""
        return _Candidate(operator, node, _expr(text), self.src.begin(node), self.src.finish(node),
                          text, parenthesize=True)

    def gap_swap(self, operator: str, node: ast.AST, before: ast.AST, after: ast.AST,
                 old: str, new: str, new_node: ast.AST) -> _Candidate | None:
        """Change the operator token between two operands, leaving the operands' text as it is."""
        start, end = self.src.finish(before), self.src.begin(after)
        gap = self.src.between(start, end)
        pattern = re.compile(r"(?<![\w=<>!*/])" + re.escape(old) + r"(?![\w=*/])" if old.isalpha()
                             or " " in old else re.escape(old))
        matches = list(pattern.finditer(gap.split("#")[0]))
        if len(matches) != 1:
            return None
        hit = matches[0]
        text = gap[:hit.start()] + new + gap[hit.end():]
        return _Candidate(operator, node, new_node, start, end, text)

    @staticmethod
    def with_fields(node: ast.AST, **fields: Any) -> ast.AST:
        clone = copy.copy(node)
        for name, value in fields.items():
            setattr(clone, name, value)
        return clone

    # -- operators -------------------------------------------------------------------------

    def op_aor(self, node: ast.AST) -> Iterator[_Candidate]:
        if isinstance(node, ast.BinOp):
            for new in _BINOP_SWAPS.get(type(node.op), ()):
                candidate = self.gap_swap("aor", node, node.left, node.right, _SYMBOLS[type(node.op)],
                                          _SYMBOLS[new], self.with_fields(node, op=new()))
                if candidate:
                    yield candidate

    def op_aug(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.AugAssign):
            return
        old = _SYMBOLS[type(node.op)] + "="
        plain = ast.Assign(targets=[node.target], value=node.value, type_comment=None)
        options: list[tuple[str, ast.AST]] = [("=", plain)]
        options += [(_SYMBOLS[new] + "=", self.with_fields(node, op=new()))
                    for new in _BINOP_SWAPS.get(type(node.op), ())[:1]]
        for text, new_node in options:
            candidate = self.gap_swap("aug", node, node.target, node.value, old, text, new_node)
            if candidate:
                yield candidate

    def op_ror(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Compare):
            return
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            new = _COMPARE_SWAPS.get(type(op))
            if new is None:
                continue
            ops = list(node.ops)
            ops[i] = new()
            candidate = self.gap_swap("ror", node, operands[i], operands[i + 1], _SYMBOLS[type(op)],
                                      _SYMBOLS[new], self.with_fields(node, ops=ops))
            if candidate:
                yield candidate

    def op_bool(self, node: ast.AST) -> Iterator[_Candidate]:
        if isinstance(node, ast.BoolOp) and len(node.values) == 2:
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            candidate = self.gap_swap("bool", node, node.values[0], node.values[1],
                                      _SYMBOLS[type(node.op)], _SYMBOLS[new],
                                      self.with_fields(node, op=new()))
            if candidate:
                yield candidate
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield self.replace("bool", node, self.src.segment(node.operand))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield self.replace("bool", node, str(not node.value))

    def op_unary(self, node: ast.AST) -> Iterator[_Candidate]:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not _is_number(node):
            yield self.replace("unary", node, self.src.segment(node.operand))

    def op_aod(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.BinOp):
            return
        keep: list[ast.AST] = []
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Div, ast.FloorDiv)):
            keep = [node.left]
        elif isinstance(node.op, ast.Mult):
            keep = [node.left, node.right]
        for operand in keep:
            if not _is_number(operand):
                yield self.replace("aod", node, self.src.segment(operand))

    def op_number(self, node: ast.AST) -> Iterator[_Candidate]:
        if not _is_number(node) or id(node) in self.skip and id(node) not in self.table_entries:
            return
        if isinstance(node, ast.Constant) and isinstance(self.parents.get(id(node), (None,))[0],
                                                         ast.UnaryOp):
            return  # -1 is mutated as a whole
        value = _number_value(node)
        if id(node) in self.table_entries:
            values = [-value] if value else [1]
        else:
            values = [value + 1, value - 1]
            parent = self.parents.get(id(node))
            if parent and isinstance(parent[0], ast.BinOp) and parent[1] == "right" \
                    and isinstance(parent[0].op, (ast.Add, ast.Sub)):
                values = [v for v in values if v != 0]  # "+ 0" is the operand deletion's mutant
        for new in values:
            text = repr(new) if not isinstance(new, float) or new == int(new) or "e" in repr(new) \
                else repr(round(new, 12))
            yield self.replace("number", node, text)

    def op_range(self, node: ast.AST) -> Iterator[_Candidate]:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "range" and not node.keywords):
            return
        for argument in node.args[:2]:
            if isinstance(argument, ast.Starred) or _is_number(argument) or _ends_in_number(argument):
                continue
            for delta in (" - 1", " + 1"):
                yield self.replace("range", argument, _wrap(self.src.segment(argument)) + delta)

    def op_slice(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Slice):
            return
        for bound in (node.lower, node.upper):
            if bound is None or _is_number(bound) or _ends_in_number(bound):
                continue
            for delta in (" + 1", " - 1"):
                yield self.replace("slice", bound, _wrap(self.src.segment(bound)) + delta)

    def op_axis(self, node: ast.AST) -> Iterator[_Candidate]:
        if not (isinstance(node, ast.keyword) and node.arg == "axis"):
            return
        value = node.value
        if _is_number(value):
            current = _number_value(value)
            options = [str(a) for a in (0, 1, -1) if a != current][:2]
        elif isinstance(value, ast.Tuple) and all(_is_number(e) for e in value.elts):
            options = [self.src.segment(e) for e in value.elts]
        else:
            return
        for text in options:
            yield self.replace("axis", value, text)

    def op_arg_swap(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Call) or _final_name(node.func) in _COMMUTATIVE:
            return
        args = node.args
        for i in range(len(args) - 1):
            a, b = args[i], args[i + 1]
            if isinstance(a, ast.Starred) or isinstance(b, ast.Starred):
                continue
            if ast.dump(a) == ast.dump(b) or (isinstance(a, ast.Constant) and isinstance(b, ast.Constant)):
                continue
            swapped = list(args)
            swapped[i], swapped[i + 1] = b, a
            text = self.src.segment(b) + self.src.between(self.src.finish(a), self.src.begin(b)) \
                + self.src.segment(a)
            yield _Candidate("arg-swap", node, self.with_fields(node, args=swapped),
                             self.src.begin(a), self.src.finish(b), text)

    def op_arg_drop(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args):
            return
        ordered: list[Any] = sorted([*node.args, *node.keywords], key=lambda n: (n.lineno, n.col_offset))
        droppable: list[ast.AST] = [k for k in node.keywords
                                    if k.arg is not None and k.arg not in _INERT_KEYWORDS
                                    and not self._default_dtype(node, k)]
        if len(node.args) >= 2:
            droppable.insert(0, node.args[-1])
        for item in droppable:
            k = ordered.index(item)
            if k > 0:
                start, end = self.src.finish(ordered[k - 1]), self.src.finish(item)
            elif len(ordered) > 1:
                start, end = self.src.begin(item), self.src.begin(ordered[1])
            else:
                start, end = self.src.begin(item), self.src.finish(item)
            new_node = self.with_fields(node, args=[a for a in node.args if a is not item],
                                        keywords=[w for w in node.keywords if w is not item])
            yield _Candidate("arg-drop", node, new_node, start, end, "")

    def _default_dtype(self, call: ast.Call, keyword: ast.keyword) -> bool:
        return (keyword.arg == "dtype" and _final_name(call.func) in _FLOAT_DEFAULT
                and self.src.segment(keyword.value).replace(" ", "") in _FLOAT64)

    def op_call(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Call):
            return
        func = node.func
        for new in _CALL_SWAPS.get(_final_name(func) or "", ()):
            if isinstance(func, ast.Name):
                yield self.replace("call", func, new)
            elif isinstance(func, ast.Attribute):
                line, column = self.src.finish(func)
                yield _Candidate("call", func, self.with_fields(func, attr=new),
                                 (line, column - len(func.attr)), (line, column), new)

    def op_unwrap(self, node: ast.AST) -> Iterator[_Candidate]:
        if (isinstance(node, ast.Call) and _final_name(node.func) in _UNWRAP and len(node.args) == 1
                and not node.keywords and not isinstance(node.args[0], ast.Starred)):
            yield self.replace("unwrap", node, self.src.segment(node.args[0]))

    def op_activation(self, node: ast.AST) -> Iterator[_Candidate]:
        if not (isinstance(node, ast.keyword) and node.arg == "activation"):
            return
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str) \
                and value.value in _ACTIVATIONS:
            quote = self.src.segment(value)[0]  # keep the notebook's quotes
            yield self.replace("activation", value, f"{quote}{_ACTIVATIONS[value.value]}{quote}")
        elif isinstance(value, ast.Attribute) and value.attr in _ACTIVATIONS:
            line, column = self.src.finish(value)
            new = _ACTIVATIONS[value.attr]
            yield _Candidate("activation", value, self.with_fields(value, attr=new),
                             (line, column - len(value.attr)), (line, column), new)

    def op_name(self, node: ast.AST) -> Iterator[_Candidate]:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            scope = self._scope_node(node)
            for other in sorted(self.siblings.get((id(scope), node.id), ())):
                yield self.replace("name", node, other)

    def op_return_zeros(self, node: ast.AST) -> Iterator[_Candidate]:
        if (isinstance(node, ast.Return) and node.value is not None and self.numpy
                and not isinstance(node.value, ast.Constant)):
            yield self.replace("return-zeros", node.value,
                               f"{self.numpy}.zeros_like({self.src.segment(node.value)})")

    def op_stmt_del(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.stmt) or isinstance(node, (ast.Return, ast.Pass)):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return
        parent = self.parents.get(id(node))
        if parent is None or parent[2] is None:
            return
        yield _Candidate("stmt-del", node, ast.Pass(), self.src.begin(node), self.src.finish(node),
                         "pass")

    # -- sibling names ---------------------------------------------------------------------

    def _scope_node(self, node: ast.AST) -> ast.AST:
        current = node
        while id(current) in self.parents:
            current = self.parents[id(current)][0]
            if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return current
        return self.tree

    def _sibling_names(self) -> dict[tuple[int, str], set[str]]:
        """Per scope, the names a student confuses: bound together (``kh, kw = ...``, nested
        loop variables ``i``/``j``) and alike, or any two bound names differing in one letter."""
        bound: dict[int, set[str]] = {}
        together: dict[int, list[tuple[str, ...]]] = {}
        for node in ast.walk(self.tree):
            scope = id(self._scope_node(node)) if not isinstance(node, ast.Module) else id(self.tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.setdefault(scope, set()).add(node.id)
            if isinstance(node, ast.Tuple) and isinstance(node.ctx, ast.Store):
                names = tuple(e.id for e in node.elts if isinstance(e, ast.Name))
                together.setdefault(scope, []).append(names)
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                for inner in ast.walk(node):
                    if inner is not node and isinstance(inner, ast.For) \
                            and isinstance(inner.target, ast.Name):
                        together.setdefault(scope, []).append((node.target.id, inner.target.id))
        siblings: dict[tuple[int, str], set[str]] = {}

        def pair(scope: int, a: str, b: str) -> None:
            if a != b:
                siblings.setdefault((scope, a), set()).add(b)
                siblings.setdefault((scope, b), set()).add(a)

        for scope, bound_names in bound.items():
            for a in bound_names:
                for b in bound_names:
                    if a < b and len(a) == len(b) >= 2 and _letters_apart(a, b) == 1:
                        pair(scope, a, b)
        for scope, groups in together.items():
            for names in groups:
                for a in names:
                    for b in names:
                        if a < b and _alike(a, b):
                            pair(scope, a, b)
        return siblings


def _letters_apart(a: str, b: str) -> int:
    """How many positions two names of the same length differ in."""
    return sum(x != y for x, y in zip(a, b, strict=True))


def _alike(a: str, b: str) -> bool:
    if len(a) == len(b) and _letters_apart(a, b) <= 1:
        return True
    prefix = len(_common(a, b))
    suffix = len(_common(a[::-1], b[::-1]))
    return max(prefix, suffix) >= 2


def _common(a: str, b: str) -> str:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return "".join(out)


def _wrap(text: str) -> str:
    """``text`` as an operand of ``+``/``-``: parenthesized unless it is already atomic."""
    try:
        node = _expr(text)
    except SyntaxError:
        return f"({text})"
    atomic = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Call)
    if isinstance(node, atomic) or isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return text
    return f"({text})"


def _apply(cell: _Cell, src: _Source, candidate: _Candidate, expected: str) -> tuple[str, str] | None:
    """The mutated (notebook text, parse text), if the edit parses to exactly the intended tree."""
    texts = [candidate.text] + ([f"({candidate.text})"] if candidate.parenthesize else [])
    start, end = src.offset(candidate.start), src.offset(candidate.end)
    for text in texts:
        parsed = src.text[:start] + text + src.text[end:]
        try:
            if ast.dump(ast.parse(parsed)) != expected:
                continue
        except (SyntaxError, ValueError, RecursionError):
            continue
        if cell.parse_text == cell.text:
            return parsed, parsed
        notebook = _Source(cell.text)
        lines = range(candidate.start[0] - 1, candidate.end[0])
        if all(notebook.lines[i] == src.lines[i] for i in lines):
            return (cell.text[:notebook.offset(candidate.start)] + text
                    + cell.text[notebook.offset(candidate.end):], parsed)
    return None


def _expected_dump(tree: ast.Module, parents: dict, node: ast.AST, new_node: ast.AST) -> str:
    parent, name, index = parents[id(node)]
    if index is None:
        setattr(parent, name, new_node)
        try:
            return ast.dump(tree)
        finally:
            setattr(parent, name, node)
    children = getattr(parent, name)
    children[index] = new_node
    try:
        return ast.dump(tree)
    finally:
        children[index] = node


def _numpy_alias(cells: Sequence[_Cell]) -> str | None:
    for cell in cells:
        try:
            tree = ast.parse(cell.parse_text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "numpy":
                        return alias.asname or "numpy"
    return None


def _owner(tree: ast.Module, node: Any, questions: dict[str, str]) -> tuple[str, str | None]:
    """The top-level name a node's code belongs to, and the question whose names include it."""
    statement = next((s for s in tree.body if s.lineno <= node.lineno <= (s.end_lineno or s.lineno)),
                     None)
    if statement is None:
        return "module", None
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names = [statement.name]
    else:
        names = []
        if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        names += [n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and n.id in questions
                  and n.id not in names]
    for name in names:
        if name in questions:
            return name, questions[name]
    return (names[0] if names else "module"), None


def generate_mutants(assignment: Assignment) -> list[Mutant]:
    """Every mutant of the reference's solution regions, in notebook order, duplicates dropped."""
    cells = _cells(assignment.reference)
    questions = {name: q.id for q in assignment.questions for name in q.names}
    numpy_alias = _numpy_alias(cells)
    mutants: list[Mutant] = []
    occurrences: dict[tuple[str, str, str, str], int] = {}
    for cell in cells:
        if not cell.regions:
            continue
        try:
            generator = _Generator(cell, numpy_alias)
        except SyntaxError as exc:
            raise SpecError(assignment.name, f"reference code cell {cell.code_index + 1} does not "
                            f"parse, so it cannot be mutated: {exc}") from exc
        seen = {cell.text}
        for candidate in generator.candidates():
            expected = _expected_dump(generator.tree, generator.parents, candidate.node,
                                      candidate.new_node)
            applied = _apply(cell, generator.src, candidate, expected)
            if applied is None or applied[0] in seen:
                continue
            seen.add(applied[0])
            mutants.append(_mutant(cell, generator, candidate, applied, questions, occurrences))
    return mutants


def _mutant(cell: _Cell, generator: _Generator, candidate: _Candidate,
            applied: tuple[str, str], questions: dict[str, str],
            occurrences: dict[tuple[str, str, str, str], int]) -> Mutant:
    text, parsed = applied
    src = generator.src
    node: Any = candidate.node
    before = src.segment(node) if hasattr(node, "lineno") else ""
    delta = len(parsed) - len(src.text)
    after = parsed[src.offset(src.begin(node)):src.offset(src.finish(node)) + delta]
    original, replacement = _collapse(before), _collapse(after)
    edited = (_collapse(src.between(candidate.start, candidate.end)), _collapse(candidate.text))
    scope, question = _owner(generator.tree, node, questions)
    key = (scope, candidate.operator, original, replacement)
    occurrence = occurrences.get(key, 0)
    occurrences[key] = occurrence + 1
    digest = hashlib.sha256("\x1f".join([*key, str(occurrence)]).encode()).hexdigest()[:10]
    diff = "".join(difflib.unified_diff(
        cell.text.splitlines(keepends=True), text.splitlines(keepends=True),
        f"reference code cell {cell.code_index + 1}", f"mutant {scope}-{candidate.operator}-{digest}",
        n=2))
    return Mutant(
        id=f"{scope}-{candidate.operator}-{digest}", question=question, scope=scope,
        operator=candidate.operator, original=original, replacement=replacement, cell=cell.index,
        code_cell=cell.code_index + 1, line=cell.original_lines[node.lineno - 1], source=text,
        diff=diff if diff.endswith("\n") else diff + "\n", shown=edited,
    )


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def sample(mutants: Sequence[Mutant], limit: int | None, seed: int) -> list[Mutant]:
    """At most ``limit`` mutants, chosen at random but reproducibly for ``seed``.

    The choice depends only on the seed and the mutants' ids (never on their order), and a
    larger limit keeps every mutant a smaller one chose. The result is in notebook order.
    """
    if limit is None or limit >= len(mutants):
        return list(mutants)
    ids = sorted(m.id for m in mutants)
    random.Random(seed).shuffle(ids)
    chosen = set(ids[:max(0, limit)])
    return [m for m in mutants if m.id in chosen]


