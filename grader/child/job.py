"""The job: everything one child process is given, as one typed object (the child boundary).

The grader builds a ``Job`` (``grader.execution.executor``) and writes ``to_job()`` as the
child's ``job.json``; the child reads it back with ``Job.from_job`` (``grader.child.runner``).
A Dask worker builds its jobs the same way, from the harness it was sent
(``grader.plan.harness.Harness.to_data``). The probes' argument arrays travel beside the job,
in ``args.npz``.

Kept to the standard library: the child imports it before any student code runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

#: What a probe asks: call a function, read a variable, or run one of the assignment's probes.
ProbeKind = Literal["call", "value", "custom"]


@dataclass(frozen=True)
class Probe:
    """One question to ask the child: call a function, read a value, or run a custom probe."""

    key: str
    kind: ProbeKind
    name: str
    args: Any  # wire tree
    kwargs: Any  # wire tree


@dataclass
class ProbePlan:
    """The probes every submission answers, with the arrays their arguments refer to: made
    by the planner (``grader.checks.namespaces.LiveNamespace``), sent to every child."""

    probes: list[Probe] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Injection:
    """The grading profile's assignments (``[parameters]``), run after the code cell ``after``
    (the one tagged "parameters"), or before the first cell when ``after`` is None."""

    after: int | None
    source: str


@dataclass(frozen=True)
class JobCell:
    index: int  # position among the notebook's code cells
    source: str


@dataclass(frozen=True)
class JobLimits:
    cell_timeout: float
    probe_timeout: float
    max_output_chars: int


@dataclass
class Job:
    """One run of one notebook: its cells, then the planned probes, with the assignment's
    extras; ``skip_cells`` and ``skip_probes`` crashed the process in an earlier attempt."""

    out: str  # the scratch folder (the child's working folder and $HOME)
    events_fd: int  # inherited descriptors of the event log and the result-array log
    arrays_fd: int
    cells: list[JobCell]
    probes: list[Probe]
    limits: JobLimits
    custom_probes: str = ""  # source of the assignment's probe functions
    prelude: str = ""  # source run before the first cell
    parameters: Injection | None = None
    skip_cells: list[int] = field(default_factory=list)
    skip_probes: list[int] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)  # APIs: loading their modules is recorded

    def to_job(self) -> dict[str, Any]:
        """The job as plain data (``job.json``)."""
        return {
            "out": self.out,
            "events_fd": self.events_fd,
            "arrays_fd": self.arrays_fd,
            "skip_cells": list(self.skip_cells),
            "skip_probes": list(self.skip_probes),
            "forbidden": list(self.forbidden),
            "cells": [{"index": c.index, "source": c.source} for c in self.cells],
            "probes": [{"key": p.key, "kind": p.kind, "name": p.name, "args": p.args,
                        "kwargs": p.kwargs} for p in self.probes],
            "limits": {"cell_timeout": self.limits.cell_timeout,
                       "probe_timeout": self.limits.probe_timeout,
                       "max_output_chars": self.limits.max_output_chars},
            "custom_probes": self.custom_probes,
            "prelude": self.prelude,
            "parameters": ({"after": self.parameters.after, "source": self.parameters.source}
                           if self.parameters else None),
        }

    @classmethod
    def from_job(cls, data: dict[str, Any]) -> Job:
        """Read what ``to_job`` wrote."""
        limits = data["limits"]
        parameters = data.get("parameters")
        return cls(
            out=str(data["out"]),
            events_fd=int(data["events_fd"]),
            arrays_fd=int(data["arrays_fd"]),
            cells=[JobCell(int(c["index"]), str(c["source"])) for c in data["cells"]],
            probes=[Probe(**p) for p in data["probes"]],
            limits=JobLimits(float(limits["cell_timeout"]), float(limits["probe_timeout"]),
                             int(limits["max_output_chars"])),
            custom_probes=data.get("custom_probes", ""),
            prelude=data.get("prelude", ""),
            parameters=Injection(parameters["after"], parameters["source"]) if parameters else None,
            skip_cells=list(data.get("skip_cells", ())),
            skip_probes=list(data.get("skip_probes", ())),
            forbidden=[str(api) for api in data.get("forbidden", ())],
        )
