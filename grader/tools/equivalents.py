"""Equivalent mutants: listed by id with a written reason in the assignment's
``equivalent-mutants.toml`` (or ``[[equivalent]]`` tables in ``assignment.toml``), excluded
from the kill rate and reported as excluded. Part of ``grader mutate``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from grader.errors import SpecError
from grader.spec import SPEC_FILE, Assignment

EQUIVALENTS_FILE = "equivalent-mutants.toml"


# --- equivalent mutants --------------------------------------------------------------------

@dataclass(frozen=True)
class Equivalent:
    id: str
    reason: str


def load_equivalents(assignment: Assignment) -> dict[str, Equivalent]:
    """Equivalent mutants the instructor listed, each with its written reason.

    Read from ``[[equivalent]]`` tables in ``EQUIVALENTS_FILE`` next to the spec and, once the
    spec accepts them, in ``assignment.toml`` itself. An entry without a reason is an error:
    a mutant is never excluded just to raise the number.
    """
    entries: list[dict] = []
    for path in (assignment.folder / SPEC_FILE, assignment.folder / EQUIVALENTS_FILE):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(assignment.name, f"{path.name} is not valid TOML: {exc}") from exc
        unknown = set(data) - {"equivalent"} if path.name == EQUIVALENTS_FILE else set()
        if unknown:
            raise SpecError(assignment.name, f"unknown table(s) {sorted(unknown)} in {path.name}")
        listed = data.get("equivalent", [])
        if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
            raise SpecError(assignment.name, f"[[equivalent]] in {path.name} must be an array of tables")
        entries += [dict(e, _file=path.name) for e in listed]
    found: dict[str, Equivalent] = {}
    for entry in entries:
        if not isinstance(entry.get("id"), str) or set(entry) - {"id", "reason", "_file"}:
            raise SpecError(assignment.name, f"[[equivalent]] in {entry['_file']} takes exactly an "
                            f"id and a reason, got {sorted(set(entry) - {'_file'})}")
        reason = entry.get("reason")
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            raise SpecError(assignment.name, f"equivalent mutant {entry['id']!r} needs a written "
                            "reason (why it behaves exactly like the reference)")
        if entry["id"] in found:
            raise SpecError(assignment.name, f"equivalent mutant {entry['id']!r} is listed twice")
        found[entry["id"]] = Equivalent(entry["id"], reason.strip())
    return found


