"""Find uses of forbidden APIs in a student's notebook code, statically.

Assignments such as "implement convolution by hand" forbid library routines
(``scipy.signal``, ``np.convolve``, ``tf.nn.conv2d`` ...). Students reach those
routines in many ways: aliased imports, ``from`` imports, attribute chains,
re-assignment (``f = np.convolve``), ``getattr`` with constant strings,
``importlib.import_module`` and friends. Grepping the source for names misses
most of these and flags harmless mentions in strings and comments, so the
analysis resolves every name to the dotted path of the object it denotes.

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

This module is the analysis's public face. Its parts, in ``grader.analysis``: ``analyzer``
(the walk over statements) and ``expressions`` (over expressions), ``resolve`` and ``names``
(what names denote), ``resolvers`` (library calls that hand back objects by name), ``magics``
(IPython), ``syntax`` (the syntax tree), ``uses`` (what is reported) and ``taint`` (what
reaches a use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grader.analysis.analyzer import Analyzer
from grader.analysis.taint import spread
from grader.analysis.uses import ForbiddenUse, Matcher

__all__ = ["Analysis", "ForbiddenUse", "analyse", "find_forbidden_uses", "tainted_scopes",
           "undecided_cells"]


@dataclass(frozen=True)
class Analysis:
    """Everything one walk over the notebook found (see ``analyse``)."""

    uses: list[ForbiddenUse]
    scopes: dict[str, list[ForbiddenUse]]  # tainted top-level defs: see ``tainted_scopes``
    undecided: list[int]  # cells that could not be analysed: see ``undecided_cells``


def analyse(sources: Sequence[str], forbidden: Sequence[str]) -> Analysis:
    """``find_forbidden_uses``, ``tainted_scopes`` and ``undecided_cells`` at once, from one
    walk over the notebook."""
    analyzer = Analyzer(Matcher.build(forbidden)).run(sources)
    uses = analyzer.uses()
    return Analysis(uses, _tainted(analyzer, uses), analyzer.undecided())


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
    return Analyzer(Matcher.build(forbidden)).run(sources).uses()


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
    return _tainted(Analyzer(Matcher.build(())).run(sources), uses)


def undecided_cells(sources: Sequence[str]) -> list[int]:
    """Cells the analysis had to give up on (nested too deeply for the parser or the
    analyser, or too big for memory): what they define cannot be known to be clean."""
    return Analyzer(Matcher.build(())).run(sources).undecided()


def _tainted(analyzer: Analyzer, uses: Sequence[ForbiddenUse]) -> dict[str, list[ForbiddenUse]]:
    """The uses each top-level def reaches through the defs it names, in source order."""
    used_in = [use.scope for use in uses if use.scope is not None]
    reached = spread(analyzer.edges, {scope: [scope] for scope in used_in})  # scopes with uses
    tainted = {}
    for scope in dict.fromkeys([*analyzer.top_defs, *used_in]):
        found = [use for use in uses if use.scope in reached.get(scope, ())]
        if found:
            tainted[scope] = found
    return tainted
