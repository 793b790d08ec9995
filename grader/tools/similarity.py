"""Similarity of the code students wrote (``grader similarity ASSIGNMENT PATH...``).

Ranks pairs of submissions by how much code they share, the way MOSS does, on what each
student wrote rather than on what they were given:

1. **Units.** Each code cell is parsed (IPython magics turned into Python first). Every
   top-level function or class is a unit; the cell's other top-level statements are one
   more unit. Units are compared as an unordered collection, so reordered cells (or
   functions moved between cells) change nothing.
2. **Normalised tokens.** A unit becomes the pre-order sequence of its AST node types, with
   identifiers canonicalised by first use within the unit (``v1``, ``v2``...; builtins,
   attribute names and keyword-argument names kept as they are, since they are API), string
   constants as ``STR`` and docstrings and comments gone. Renaming variables and
   reformatting change nothing.
3. **Given code removed.** Tokens on lines identical (ignoring surrounding whitespace) to a
   line of the released student notebook are dropped, and every k-gram that also occurs in
   the reference or the released notebook is discarded: the template and the reference's
   solution make nobody similar.
4. **Fingerprints.** Hashes of k-grams of tokens (k = ``K``), winnowed (the minimum of each
   window of ``W`` consecutive hashes), so any shared run of at least ``K + W - 1`` tokens is
   found. Fingerprints present in very many submissions (common idioms) are ignored.
5. **Score.** shared fingerprints / fingerprints of the smaller submission (at least
   ``FLOOR``, so two nearly empty notebooks do not come out identical).

Statically read only; nothing of a submission runs.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import html
import io
import keyword
import tokenize
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from grader.errors import NotebookError
from grader.files import atomic_write
from grader.report import spreadsheet
from grader.report.formats import terminal_text
from grader.spec import Assignment
from grader.spec.notebook import CodeCell, read_code_cells

K = 12  # tokens per k-gram: about one statement
W = 6  # winnowing window: shared runs of K + W - 1 = 17 tokens are always found
FLOOR = 20  # the score's denominator is at least this many fingerprints
MAX_NOTEBOOK_BYTES = 50 * 2**20
BUILTINS = frozenset(dir(builtins))


@dataclass
class Unit:
    """A function, a class, or the rest of a cell: what fingerprints point back to."""

    label: str  # "def conv2d (code cell 6)", "code cell 3"
    cell: int  # code cell number from 1
    first_line: int  # line of the unit's first line within its cell (1-based)
    lines: list[str]  # the unit's source lines


@dataclass
class Fingerprints:
    """One submission's winnowed fingerprints: hash -> places (unit index, first line, last line)."""

    name: str
    path: Path
    units: list[Unit] = field(default_factory=list)
    places: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    problem: str = ""  # why it could not be read (then it has no fingerprints)

    @property
    def hashes(self) -> set[int]:
        return set(self.places)


@dataclass
class Pair:
    a: Fingerprints
    b: Fingerprints
    shared: set[int]

    @property
    def score(self) -> float:
        smaller = min(len(self.a.places), len(self.b.places))
        return len(self.shared) / max(smaller, FLOOR) if self.shared else 0.0

    @property
    def jaccard(self) -> float:
        union = len(self.a.hashes | self.b.hashes)
        return len(self.shared) / union if union else 0.0


@dataclass
class SimilarityReport:
    assignment: str
    submissions: list[Fingerprints]
    pairs: list[Pair]  # most similar first; only pairs sharing a fingerprint
    ignored_common: int  # fingerprints ignored because too many submissions have them
    max_share: int


# --- tokens -------------------------------------------------------------------------------

def _hash(tokens: Sequence[str]) -> int:
    digest = hashlib.blake2b("\x1f".join(tokens).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class _Tokens(ast.NodeVisitor):
    """Pre-order AST tokens of one unit, each with its line number."""

    def __init__(self) -> None:
        self.tokens: list[tuple[str, int]] = []
        self.names: dict[str, str] = {}
        self.line = 1

    def canonical(self, name: str) -> str:
        if name in BUILTINS:
            return name
        if name not in self.names:
            self.names[name] = f"v{len(self.names) + 1}"
        return self.names[name]

    def emit(self, token: str) -> None:
        self.tokens.append((token, self.line))

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.expr_context):
            return
        line = getattr(node, "lineno", None)
        previous = self.line
        if line is not None:
            self.line = line
        self.emit(type(node).__name__)
        if isinstance(node, ast.Name):
            self.emit(self.canonical(node.id))
        elif isinstance(node, ast.arg):
            self.emit(self.canonical(node.arg))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.emit(self.canonical(node.name))
        elif isinstance(node, ast.Attribute):
            self.emit("." + node.attr)
        elif isinstance(node, ast.keyword):
            self.emit(f"{node.arg}=")
        elif isinstance(node, ast.alias):
            self.emit(node.name)
            if node.asname:
                self.emit(self.canonical(node.asname))
        elif isinstance(node, ast.Constant):
            self.emit("STR" if isinstance(node.value, (str, bytes)) else repr(node.value))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                self.emit(self.canonical(name))
        docstring = _docstring(node)
        for child in ast.iter_child_nodes(node):
            if child is not docstring:
                self.visit(child)
        self.line = previous


def _docstring(node: ast.AST) -> ast.AST | None:
    """The docstring statement of a function or class, which is not code."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not node.body:
        return None
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        return first
    return None


def _statement_tokens(statements: Sequence[ast.stmt]) -> list[tuple[str, int]]:
    visitor = _Tokens()
    for statement in statements:
        visitor.visit(statement)
    return visitor.tokens


def _fallback_tokens(source: str) -> list[tuple[str, int]]:
    """Tokens of a cell that does not parse: names canonicalised, strings as STR."""
    names: dict[str, str] = {}
    tokens: list[tuple[str, int]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind, text, (line, _) = token.type, token.string, token.start
            if kind == tokenize.NAME:
                if text not in BUILTINS and not keyword.iskeyword(text):
                    text = names.setdefault(text, f"v{len(names) + 1}")
                tokens.append((text, line))
            elif kind == tokenize.STRING:
                tokens.append(("STR", line))
            elif kind in (tokenize.OP, tokenize.NUMBER):
                tokens.append((text, line))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return tokens


def _python_source(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - keep the raw text; the fallback tokenizer copes
        return source


def cell_units(cell: CodeCell) -> tuple[list[tuple[Unit, list[tuple[str, int]]]], list[str]]:
    """The units of one code cell with their tokens, and the cell's lines (as Python: magics
    transformed); token line numbers count within the cell from 1."""
    source = _python_source(cell.source)
    lines = source.splitlines()
    number = cell.index + 1
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        unit = Unit(f"code cell {number} (does not parse)", number, 1, lines)
        return [(unit, _fallback_tokens(source))], lines
    units = []
    rest: list[ast.stmt] = []
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "class" if isinstance(statement, ast.ClassDef) else "def"
            start = min([statement.lineno] + [d.lineno for d in statement.decorator_list])
            end = statement.end_lineno or statement.lineno
            units.append((Unit(f"{kind} {statement.name} (code cell {number})", number, start,
                               lines[start - 1:end]), _statement_tokens([statement])))
        else:
            rest.append(statement)
    if rest:
        units.append((Unit(f"code cell {number}", number, 1, lines), _statement_tokens(rest)))
    return units, lines


def normalised_tokens(source: str) -> list[str]:
    """The normalised tokens of some code, unit after unit (to inspect the normalisation)."""
    units, _ = cell_units(CodeCell(index=0, notebook_index=0, source=source))
    return [token for _, tokens in units for token, _ in tokens]


# --- fingerprints -------------------------------------------------------------------------

def kgrams(tokens: Sequence[tuple[str, int]], k: int = K) -> list[tuple[int, int, int]]:
    """(hash, first line, last line) of every run of ``k`` tokens."""
    return [(_hash([t for t, _ in tokens[i:i + k]]), tokens[i][1], max(line for _, line in tokens[i:i + k]))
            for i in range(len(tokens) - k + 1)]


def winnow(grams: Sequence[tuple[int, int, int]], w: int = W) -> list[tuple[int, int, int]]:
    """The minimum hash of every window of ``w`` k-grams (the rightmost on ties), once each."""
    if len(grams) <= w:
        return list({g[0]: g for g in grams}.values()) if grams else []
    chosen: dict[int, tuple[int, int, int]] = {}
    last = -1
    for start in range(len(grams) - w + 1):
        window = grams[start:start + w]
        low = min(h for h, _, _ in window)
        position = start + max(i for i, (h, _, _) in enumerate(window) if h == low)
        if position != last:
            chosen[position] = grams[position]
            last = position
    return list(chosen.values())


def template_lines(cells: Iterable[CodeCell]) -> set[str]:
    """The stripped non-empty lines of the given code (the released notebook)."""
    return {line.strip() for cell in cells for line in _python_source(cell.source).splitlines()
            if line.strip()}


def base_kgrams(cells: Iterable[CodeCell]) -> set[int]:
    """Every k-gram hash of given code (template or reference): never evidence of copying."""
    found: set[int] = set()
    for cell in cells:
        for _, tokens in cell_units(cell)[0]:
            found.update(h for h, _, _ in kgrams(tokens))
    return found


def fingerprint(name: str, path: Path, given_lines: set[str], given: set[int]) -> Fingerprints:
    """The fingerprints of the code a submission wrote (given code removed)."""
    result = Fingerprints(name, path)
    try:
        cells = read_code_cells(path, MAX_NOTEBOOK_BYTES)
    except NotebookError as exc:
        result.problem = str(exc)
        return result
    for cell in cells:
        units, lines = cell_units(cell)
        for unit, tokens in units:
            own = [(t, line) for t, line in tokens
                   if not (0 < line <= len(lines) and lines[line - 1].strip() in given_lines)]
            index = len(result.units)
            result.units.append(unit)
            for digest, first, last in winnow(kgrams(own)):
                if digest not in given:
                    result.places.setdefault(digest, []).append((index, first, last))
    return result


# --- comparing ----------------------------------------------------------------------------

def compare(assignment: Assignment, paths: Sequence[Path], max_share: int | None = None) -> SimilarityReport:
    """Fingerprint every notebook under ``paths`` and rank all pairs that share code."""
    from grader.execution.submission import discover
    from grader.spec.release import release_notebook

    template_cells = _given_cells(assignment.notebook) if assignment.notebook.is_file() else \
        _cells_of(release_notebook(assignment.reference))
    reference_cells = _given_cells(assignment.reference)
    given_lines = template_lines(template_cells)
    given = base_kgrams(template_cells) | base_kgrams(reference_cells)
    submissions = [fingerprint(s.name, s.path, given_lines, given) for s in discover(paths)]
    return rank(assignment.name, submissions, max_share)


def rank(assignment: str, submissions: list[Fingerprints], max_share: int | None = None) -> SimilarityReport:
    """All pairs sharing a fingerprint, most similar first; a fingerprint held by more than
    ``max_share`` submissions (default: 10, or a tenth of the class if more) is ignored."""
    limit = max_share if max_share is not None else max(10, len(submissions) // 10)
    holders: dict[int, list[int]] = defaultdict(list)
    for i, submission in enumerate(submissions):
        for digest in submission.places:
            holders[digest].append(i)
    common = {d for d, who in holders.items() if len(who) > limit}
    shared: dict[tuple[int, int], set[int]] = defaultdict(set)
    for digest, who in holders.items():
        if digest in common:
            continue
        for i, j in combinations(who, 2):
            shared[(i, j)].add(digest)
    for submission in submissions:  # common code is neither shared nor counted
        for digest in common & submission.hashes:
            del submission.places[digest]
    pairs = [Pair(submissions[i], submissions[j], digests) for (i, j), digests in shared.items()]
    pairs.sort(key=lambda p: (-p.score, -len(p.shared), p.a.name, p.b.name))
    return SimilarityReport(assignment, submissions, pairs, len(common), limit)


def _cells_of(notebook: Any) -> list[CodeCell]:
    import nbformat

    return _given_cells_text(nbformat.writes(notebook).encode())


def _given_cells(path: Path) -> list[CodeCell]:
    return _given_cells_text(path.read_bytes())


def _given_cells_text(data: bytes) -> list[CodeCell]:
    from grader.spec.notebook import parse_code_cells

    return parse_code_cells(data, "given notebook")


# --- shared code, side by side ------------------------------------------------------------

@dataclass
class Match:
    """A unit of each submission and the lines (within the unit) their shared fingerprints cover."""

    a_unit: Unit
    b_unit: Unit
    a_lines: set[int]
    b_lines: set[int]
    fingerprints: int


def matches(pair: Pair) -> list[Match]:
    """Unit pairs holding shared fingerprints, most shared first."""
    found: dict[tuple[int, int], Match] = {}
    for digest in pair.shared:
        for ai, a_first, a_last in pair.a.places.get(digest, []):
            for bi, b_first, b_last in pair.b.places.get(digest, []):
                a_unit, b_unit = pair.a.units[ai], pair.b.units[bi]
                match = found.setdefault((ai, bi), Match(a_unit, b_unit, set(), set(), 0))
                match.fingerprints += 1
                match.a_lines.update(range(a_first - a_unit.first_line, a_last - a_unit.first_line + 1))
                match.b_lines.update(range(b_first - b_unit.first_line, b_last - b_unit.first_line + 1))
    return sorted(found.values(), key=lambda m: (-m.fingerprints, m.a_unit.label))


# --- output -------------------------------------------------------------------------------

CSV_COLUMNS = ["rank", "a", "b", "similarity", "shared", "a_fingerprints", "b_fingerprints",
               "jaccard", "a_path", "b_path"]


def csv_text(report: SimilarityReport) -> str:
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    for rank_number, pair in enumerate(report.pairs, start=1):
        rows.append([rank_number, pair.a.name, pair.b.name, f"{pair.score:.4f}", len(pair.shared),
                         len(pair.a.places), len(pair.b.places), f"{pair.jaccard:.4f}", pair.a.path,
                     pair.b.path])
    return spreadsheet.csv_text(rows)


def write(report: SimilarityReport, out: Path, top: int = 10) -> list[Path]:
    """``similarity.csv`` (every pair sharing code) and ``similarity.html`` (the top pairs'
    shared code side by side) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "similarity.csv", csv_text(report).encode())
    atomic_write(out / "similarity.html", pairs_page(report, top).encode())
    return [out / "similarity.csv", out / "similarity.html"]


def table(report: SimilarityReport, top: int = 10) -> Any:
    """The most similar pairs as a rich Table (names are file names: shown as text, never
    read as rich markup)."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    result = Table(title=f"{report.assignment}: most similar pairs of {len(report.submissions)} "
                         "submissions (given code excluded)")
    for name, justify in (("#", "right"), ("a", "left"), ("b", "left"), ("similarity", "right"),
                          ("shared", "right"), ("fingerprints a/b", "right")):
        result.add_column(name, justify=justify)  # type: ignore[arg-type]
    for number, pair in enumerate(report.pairs[:top], start=1):
        result.add_row(str(number), Text(terminal_text(pair.a.name)), Text(terminal_text(pair.b.name)),
                       f"{100 * pair.score:.0f}%",
                       str(len(pair.shared)), f"{len(pair.a.places)}/{len(pair.b.places)}")
    if not report.pairs:
        result.caption = "no two submissions share code beyond the given code"
    unread = [s for s in report.submissions if s.problem]
    if unread:
        result.caption = (result.caption or "") + " not read: " + ", ".join(
            escape(terminal_text(f"{s.name} ({s.problem})")) for s in unread)
    return result


def side_by_side(pair: Pair, limit: int = 3) -> list[Any]:
    """rich tables, one per matching unit pair: both units, shared lines marked with >."""
    from rich.table import Table
    from rich.text import Text

    tables = []
    for match in matches(pair)[:limit]:
        shown = Table(title=Text(f"{pair.a.name} / {pair.b.name}: {match.fingerprints} shared "
                                 f"fingerprint(s)"), show_lines=False, expand=True)
        shown.add_column(Text(f"{pair.a.name}: {match.a_unit.label}"), overflow="fold", ratio=1)
        shown.add_column(Text(f"{pair.b.name}: {match.b_unit.label}"), overflow="fold", ratio=1)
        shown.add_row(_marked(match.a_unit, match.a_lines, Text), _marked(match.b_unit, match.b_lines, Text))
        tables.append(shown)
    return tables


def excerpt(unit: Unit, lines: set[int], context: int = 2) -> list[tuple[int, str] | None]:
    """The unit's first line, then the shared lines with ``context`` lines around them;
    None where lines are left out."""
    keep = {0} | {i + d for i in lines for d in range(-context, context + 1)}
    shown: list[tuple[int, str] | None] = []
    for i, line in enumerate(unit.lines):
        if i in keep:
            if shown and shown[-1] is not None and shown[-1][0] != i - 1:
                shown.append(None)
            shown.append((i, line))
    if len(unit.lines) - 1 not in keep and shown:
        shown.append(None)
    return shown


def _marked(unit: Unit, lines: set[int], text_type: Any) -> Any:
    text = text_type()
    for item in excerpt(unit, lines):
        if item is None:
            text.append("  ...\n", style="dim")
            continue
        i, line = item
        marked = i in lines
        text.append(("> " if marked else "  ") + line + "\n", style="bold yellow" if marked else "dim")
    return text


PAIRS_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1d2329; }
table { border-collapse: collapse; } th, td { padding: .3em .6em; border-bottom: 1px solid #e3e7ea;
  text-align: left; vertical-align: top; } td.num { text-align: right; }
.side { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1em; margin-bottom: 1.5em; }
pre { background: #f5f7f8; padding: .5em; overflow-x: auto; font-size: 12px; margin: 0; }
mark { background: #fdebd0; display: inline-block; width: 100%; }
h3 { margin-bottom: .3em; } .unit { font-weight: 600; font-size: 13px; }
"""


def pairs_page(report: SimilarityReport, top: int = 10) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', '<head><meta charset="utf-8">',
             f"<title>{e(report.assignment)}: similarity</title><style>{PAIRS_STYLE}</style></head><body>",
             f"<h1>{e(report.assignment)}: similar submissions</h1>",
             f"<p>{len(report.submissions)} submissions, {len(report.pairs)} pair(s) sharing code. The "
             "released notebook's lines and every k-gram of the template and the reference are "
             f"excluded; {report.ignored_common} fingerprint(s) held by more than {report.max_share} "
             "submissions were ignored as common code. Similarity: shared fingerprints over those of "
             f"the smaller submission (at least {FLOOR}).</p>",
             "<table><tr><th>#</th><th>a</th><th>b</th><th>similarity</th><th>shared</th>"
             "<th>fingerprints a / b</th></tr>"]
    for number, pair in enumerate(report.pairs[:top], start=1):
        parts.append(f'<tr><td class="num"><a href="#pair{number}">{number}</a></td><td>{e(pair.a.name)}</td>'
                     f'<td>{e(pair.b.name)}</td><td class="num">{100 * pair.score:.0f}%</td>'
                     f'<td class="num">{len(pair.shared)}</td>'
                     f'<td class="num">{len(pair.a.places)} / {len(pair.b.places)}</td></tr>')
    parts.append("</table>")
    for number, pair in enumerate(report.pairs[:top], start=1):
        parts.append(f'<h2 id="pair{number}">{number}. {e(pair.a.name)} and {e(pair.b.name)}: '
                     f"{100 * pair.score:.0f}%</h2>")
        for match in matches(pair)[:6]:
            parts.append(f"<h3>{match.fingerprints} shared fingerprint(s)</h3><div class=\"side\">")
            for name, unit, lines in ((pair.a.name, match.a_unit, match.a_lines),
                                      (pair.b.name, match.b_unit, match.b_lines)):
                body = "\n".join("\u22ee" if item is None else f"<mark>{e(item[1]) or ' '}</mark>"
                                 if item[0] in lines else e(item[1]) for item in excerpt(unit, lines))
                parts.append(f'<div><div class="unit">{e(name)}: {e(unit.label)}</div>'
                             f"<pre>{body}</pre></div>")
            parts.append("</div>")
    parts += ["</body></html>", ""]
    return "\n".join(parts)
