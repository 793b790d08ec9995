"""What every submission's child receives besides its own cells: the probes to answer
(hidden inputs only), and the assignment's instructor-written extras."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.notebook import CodeCell


@dataclass(frozen=True)
class Probe:
    """One question to ask the child: call a function, read a value, or run a custom probe."""

    key: str
    kind: str  # call | value | custom
    name: str
    args: Any  # wire tree
    kwargs: Any  # wire tree


@dataclass
class ProbePlan:
    """The probes every submission answers, with the arrays their arguments refer to."""

    probes: list[Probe] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Harness:
    """What every submission's child gets besides its own cells (all instructor-made)."""

    plan: ProbePlan = field(default_factory=ProbePlan)
    custom_probes: str = ""  # source of the assignment's probe functions
    prelude: str = ""  # source run before the first cell (e.g. capping training for grading)
    home_files: dict[str, Path] = field(default_factory=dict)  # path under $HOME -> source file
    parameters: dict[str, Any] = field(default_factory=dict)  # the grading profile's values


def parameters_injection(cells: list[CodeCell], parameters: dict[str, Any]) -> dict | None:
    """Where and what to inject: after the cell tagged "parameters", else before the first
    cell (papermill's rule), so the grading profile overrides the notebook's defaults."""
    if not parameters:
        return None
    tagged = next((c.index for c in cells if "parameters" in c.tags), None)
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    return {"after": tagged, "source": f"# injected by the grader (grading profile)\n{source}"}
