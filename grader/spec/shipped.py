"""An assignment shipped without its reference: a Gradescope bundle, a student kit.

What is shipped was made on the instructor's machine, where the reference ran: the plan,
found by the fingerprint recorded then (``ShippedAssignment``). A placeholder notebook
stands at the reference's path. A student kit carries its spec as plain data rather than
``assignment.toml`` (``spec_to_data``, ``spec_from_data``), so that nothing else of the
instructor's folder (comments, data builders, the reference's path) travels with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from grader.spec.assignment import Alternatives, Assignment, Forbidden, Group, Limits, Question

#: Stands at the reference's path: the reference itself is not shipped.
PLACEHOLDER = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "markdown", "id": "not-shipped", "metadata": {},
     "source": "The reference is not shipped in a Gradescope bundle: its plan is."}]}


@dataclass(frozen=True)
class ShippedAssignment(Assignment):
    """An assignment as a bundle or kit ships it, without its reference: its fingerprint
    (which names its plan) is the one recorded when it was built."""

    shipped_fingerprint: str = ""

    def fingerprint(self) -> str:
        return self.shipped_fingerprint


def write_placeholder(path: Path) -> None:
    """The notebook at a shipped assignment's reference path."""
    path.write_text(json.dumps(PLACEHOLDER, indent=1), encoding="utf-8")


#: The fields a student kit's spec carries (paths and [[provide]] are the kit's own).
SPEC_FIELDS = ("name", "title", "questions", "limits", "forbidden", "parameters", "preload",
               "alternatives")


def spec_to_data(assignment: Assignment) -> dict[str, Any]:
    """The spec's settings as JSON-able data: everything but paths and provided files."""
    data = {name: getattr(assignment, name) for name in SPEC_FIELDS}
    data["questions"] = [asdict(q) for q in assignment.questions]
    data["limits"], data["forbidden"] = asdict(assignment.limits), asdict(assignment.forbidden)
    data["alternatives"] = [asdict(a) for a in assignment.alternatives]
    data["preload"] = list(assignment.preload)
    return json.loads(json.dumps(data))


def spec_from_data(data: dict[str, Any], folder: Path, fingerprint: str) -> ShippedAssignment:
    """The shipped assignment whose files are in ``folder``: checks.py, and probes.py and
    prelude.py when shipped, and the placeholder reference."""
    forbidden = data["forbidden"]
    return ShippedAssignment(
        name=data["name"], title=data["title"], folder=folder,
        notebook=folder / f"{data['name']}.ipynb", reference=folder / "reference.ipynb",
        checks=folder / "checks.py",
        probes=folder / "probes.py" if (folder / "probes.py").is_file() else None,
        prelude=folder / "prelude.py" if (folder / "prelude.py").is_file() else None,
        questions=tuple(Question(**{**q, "names": tuple(q["names"])}) for q in data["questions"]),
        limits=Limits(**data["limits"]),
        forbidden=Forbidden(apis=tuple(forbidden["apis"]), reason=forbidden["reason"]),
        parameters=dict(data["parameters"]), preload=tuple(data["preload"]),
        alternatives=tuple(Alternatives(a["title"], tuple(
            Group(g["name"], tuple(g["questions"])) for g in a["groups"]))
            for a in data["alternatives"]),
        shipped_fingerprint=fingerprint,
    )
