"""What every submission's child receives besides its own cells: the probes to answer
(hidden inputs only), and the assignment's instructor-written extras."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader import wire
from grader.child.job import Injection, Probe, ProbePlan
from grader.spec.notebook import CodeCell

__all__ = ["Harness", "Injection", "Probe", "ProbePlan", "parameters_injection"]


@dataclass
class Harness:
    """What every submission's child gets besides its own cells (all instructor-made)."""

    plan: ProbePlan = field(default_factory=ProbePlan)
    custom_probes: str = ""  # source of the assignment's probe functions
    prelude: str = ""  # source run before the first cell (e.g. capping training for grading)
    home_files: dict[str, Path] = field(default_factory=dict)  # path under $HOME -> source file
    parameters: dict[str, Any] = field(default_factory=dict)  # the grading profile's values
    forbidden: list[str] = field(default_factory=list)  # APIs whose modules the child watches

    def to_data(self) -> dict[str, Any]:
        """Everything but the provided files, as plain data (sent once to a cluster's workers)."""
        return {
            "probes": [asdict(p) for p in self.plan.probes],
            "arrays": wire.save_arrays(self.plan.arrays),
            "custom_probes": self.custom_probes,
            "prelude": self.prelude,
            "parameters": self.parameters,
            "forbidden": self.forbidden,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any], home_files: dict[str, Path]) -> Harness:
        """Read what ``to_data`` wrote; the provided files are where ``home_files`` says."""
        plan = ProbePlan([Probe(**p) for p in data["probes"]], wire.load_arrays(data["arrays"]))
        return cls(plan=plan, custom_probes=data["custom_probes"], prelude=data["prelude"],
                   home_files=home_files, parameters=data["parameters"],
                   forbidden=list(data.get("forbidden", ())))


def parameters_injection(cells: list[CodeCell], parameters: dict[str, Any]) -> Injection | None:
    """Where and what to inject: after the cell tagged "parameters", else before the first
    cell (papermill's rule), so the grading profile overrides the notebook's defaults."""
    if not parameters:
        return None
    tagged = next((c.index for c in cells if "parameters" in c.tags), None)
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    return Injection(after=tagged, source=f"# injected by the grader (grading profile)\n{source}")
