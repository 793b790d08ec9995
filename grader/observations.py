"""Observations: everything the grader learned by running one submission, as plain data.

The executor produces them, the scorer consumes them, and they are stored beside the
results (``observations.json`` + ``observations.npz``) so a submission can be re-scored
after a change of points or thresholds without running its code again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader import wire
from grader.files import atomic_write
from grader.forbidden import ForbiddenUse


@dataclass
class CellRecord:
    """What happened when one code cell ran."""

    index: int  # position among the notebook's code cells (0-based)
    status: str  # ok | error | syntax-error | timeout
    seconds: float = 0.0
    output: str = ""  # captured text output, capped
    dropped: int = 0  # characters of output beyond the cap, counted and discarded
    shell: list[str] = field(default_factory=list)  # shell escapes recorded, not executed
    ignored: list[str] = field(default_factory=list)  # magics with no meaning here (%matplotlib)
    error: dict[str, str] | None = None  # type, message, traceback (notebook frames only)


@dataclass
class ProbeRecord:
    """The answer to one probe: a value, or why there is none."""

    key: str
    status: str  # ok | error | timeout | undefined | not-run
    value: Any = None
    error: dict[str, str] | None = None
    seconds: float = 0.0


@dataclass
class Observations:
    """All observations of one submission; ``problem`` is set when it could not be run."""

    submission: str
    problem: str | None = None
    cells: list[CellRecord] = field(default_factory=list)
    probes: dict[str, ProbeRecord] = field(default_factory=dict)
    forbidden: list[ForbiddenUse] = field(default_factory=list)
    tainted: dict[str, list[str]] = field(default_factory=dict)  # name -> forbidden uses reached
    ending: str = "completed"  # how the child ended: completed | crashed ... | killed ...
    log_tail: str = ""  # end of the child's raw output when it did not complete (crash text)
    plan_id: str = ""  # which plan (spec fingerprint and seed) the probes answered
    timings: dict[str, float] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        """Write ``observations.json`` and ``observations.npz`` into ``folder``."""
        document, arrays = self.to_bytes()
        atomic_write(folder / "observations.npz", arrays)
        atomic_write(folder / "observations.json", document)

    @classmethod
    def load(cls, folder: Path) -> Observations:
        return cls.from_bytes((folder / "observations.json").read_bytes(),
                              (folder / "observations.npz").read_bytes())

    def to_bytes(self) -> tuple[bytes, bytes]:
        """The contents of ``observations.json`` and ``observations.npz``: how observations
        are stored, and how they travel back from a cluster's worker (plain data, no pickle)."""
        encoder = wire.Encoder()
        data = asdict(self)
        data["probes"] = {
            key: {**asdict(record), "value": encoder.encode(record.value)}
            for key, record in self.probes.items()
        }
        return json.dumps(data, indent=1).encode(), wire.save_arrays(encoder.arrays)

    @classmethod
    def from_bytes(cls, document: bytes, arrays: bytes) -> Observations:
        """Read what ``to_bytes`` wrote, validating the arrays and values as ``wire`` does."""
        data = json.loads(document.decode("utf-8"))
        loaded = wire.load_arrays(arrays)
        probes = {}
        for key, record in data.pop("probes").items():
            record["value"] = wire.decode(record["value"], loaded)
            probes[key] = ProbeRecord(**record)
        return cls(
            submission=data["submission"],
            problem=data["problem"],
            cells=[CellRecord(**c) for c in data["cells"]],
            probes=probes,
            forbidden=[ForbiddenUse(**f) for f in data["forbidden"]],
            tainted=data["tainted"],
            ending=data["ending"],
            log_tail=data.get("log_tail", ""),
            plan_id=data.get("plan_id", ""),
            timings=data["timings"],
        )

