"""What a use of a forbidden API is, how the forbidden list matches a dotted path, and which of
the uses found are reported (an import is reported at its own line only when nothing it bound
is used afterwards, so each violation is reported once).

Kept apart from the walk over the code (``grader.analysis.analyzer``) because these are what
the rest of the grader sees: ``ForbiddenUse`` travels in observations and feedback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Which import produced a binding: (module imported, name bound, reporting scope).
Origin = tuple[str, str, str | None]


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



@dataclass(frozen=True)
class Matcher:
    """The forbidden list, indexed so a path is checked in O(number of its dots)."""

    entries: frozenset[str]

    @classmethod
    def build(cls, forbidden: Iterable[str]) -> Matcher:
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


@dataclass(frozen=True)
class ImportSite:
    """An import of a forbidden name, reported at its own line unless what it bound is used."""

    imported: str
    api: str
    cell: int
    line: int
    col: int
    scope: str | None
    always: bool


def covered(site: ImportSite, reached: set[tuple[str | None, str]]) -> bool:
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


def reported(found: Iterable[tuple[int, ForbiddenUse]], sites: Iterable[tuple[Origin, ImportSite]],
             used_origins: set[Origin], failed: set[int]) -> list[ForbiddenUse]:
    """The uses found (with their column), plus the import sites whose bindings were never
    used, in source order; nothing from a cell the analysis gave up on."""
    found = list(found)
    rows = [(use.cell, use.line, col, use.resolved, use) for col, use in found]
    reached = {(use.scope, use.resolved) for _, use in found}
    for origin, site in sites:
        if site.always or not (origin in used_origins or covered(site, reached)):
            use = ForbiddenUse(site.api, site.imported, site.cell, site.line, site.scope)
            rows.append((site.cell, site.line, site.col, site.imported, use))
    rows.sort(key=lambda item: item[:4])
    return [item[4] for item in rows if item[0] not in failed]
