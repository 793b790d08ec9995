"""Observations: everything the grader learned by running one submission, as plain data.

The executor produces them, the scorer consumes them, and they are stored beside the
results (``observations.json`` + ``observations.npz``) so a submission can be re-scored
after a change of points or thresholds without running its code again. This module is the
format's one writer (``save``, ``to_bytes``) and one reader (``load``, ``from_bytes``).

Statuses are typed (``CellStatus``, ``ProbeStatus``); the ending, stored as one sentence
("crashed: the notebook's process was killed by SIGSEGV"), is made by ``ended`` and read
back by ``ending_kind``, so no other module matches its words.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict, get_args

from grader import wire
from grader.analysis.uses import ForbiddenUse
from grader.files import atomic_write

#: How a code cell ended ("crashed": it killed the process, and was skipped in a rerun).
CellStatus = Literal["ok", "error", "syntax-error", "timeout", "crashed"]
#: How a probe ended ("not-run": the process ended before it was asked).
ProbeStatus = Literal["ok", "error", "timeout", "undefined", "not-run"]
CELL_STATUSES: tuple[str, ...] = get_args(CellStatus)
PROBE_STATUSES: tuple[str, ...] = get_args(ProbeStatus)
#: How the notebook's process ended; the stored ending is the kind, then ": " and the detail
#: ("completed" and "not run" have none).
EndingKind = Literal["completed", "crashed", "killed", "not run"]
COMPLETED: str = "completed"
NOT_RUN: str = "not run"
#: ``Observations.problem`` of a submission the grader failed on (a rerun tries it again).
INTERNAL_ERROR = "internal grader error"


def ended(kind: Literal["crashed", "killed"], detail: str) -> str:
    """The stored ending of a process that did not complete: ``kind: detail``."""
    return f"{kind}: {detail}"


def ending_kind(ending: str) -> EndingKind:
    """The kind of a stored ending (the inverse of ``ended``)."""
    if ending in (COMPLETED, NOT_RUN):
        return "completed" if ending == COMPLETED else "not run"
    return "killed" if ending.startswith("killed") else "crashed"


def ending_detail(ending: str) -> str:
    """What ``ended`` was given as the detail (the whole ending if it has none)."""
    kind, separator, detail = ending.partition(": ")
    return detail if separator and kind in ("crashed", "killed") else ending


class ErrorInfo(TypedDict, total=False):
    """An error as stored (a cell's, or a probe's): what the student and the scorer see."""

    type: str
    message: str
    traceback: str  # the notebook's own frames only; absent in a few grader-made errors


@dataclass
class CellRecord:
    """What happened when one code cell ran."""

    index: int  # position among the notebook's code cells (0-based)
    status: CellStatus
    seconds: float = 0.0
    output: str = ""  # captured text output, capped
    dropped: int = 0  # characters of output beyond the cap, counted and discarded
    shell: list[str] = field(default_factory=list)  # shell escapes recorded, not executed
    ignored: list[str] = field(default_factory=list)  # magics with no meaning here (%matplotlib)
    error: ErrorInfo | None = None


@dataclass
class ProbeRecord:
    """The answer to one probe: a value, or why there is none."""

    key: str
    status: ProbeStatus
    value: Any = None
    error: ErrorInfo | None = None
    seconds: float = 0.0


@dataclass
class ForbiddenLoad:
    """A forbidden module the notebook's code loaded at run time (the child's import guard):
    in code cell ``cell`` or while ``probe`` was asked, inside the notebook's ``functions``
    (outermost first; none: at the cell's top level, which bound ``binds``)."""

    module: str
    cell: int | None = None
    probe: str | None = None
    functions: list[str] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)
    #: "load": the module was loaded; "call": its code was called while a probe ran;
    #: "unchecked": the probed code escaped the guard (``module`` says how: a new thread...)
    kind: str = "load"

    def charged(self) -> list[str]:
        """The notebook's names that reach it: the functions that loaded it, the name probed,
        and what the cell that loaded it bound (its values went through it)."""
        return list(dict.fromkeys(self.functions + ([self.probe] if self.probe else [])
                                  + self.binds))

    def describe(self) -> str:
        where = (f"while grading {self.probe}" if self.probe
                 else f"code cell {(self.cell or 0) + 1}")
        inside = f", in {self.functions[0]}" if self.functions else ""
        if self.kind == "call":
            return f"{self.module} called at run time ({where}{inside})"
        if self.kind == "unchecked":
            return f"{self.module}, which could not be checked for forbidden APIs ({where}{inside})"
        return f"{self.module} loaded at run time ({where}{inside})"


@dataclass
class Observations:
    """All observations of one submission; ``problem`` is set when it could not be run."""

    submission: str
    problem: str | None = None
    cells: list[CellRecord] = field(default_factory=list)
    probes: dict[str, ProbeRecord] = field(default_factory=dict)
    forbidden: list[ForbiddenUse] = field(default_factory=list)
    tainted: dict[str, list[str]] = field(default_factory=dict)  # name -> forbidden uses reached
    loaded: list[ForbiddenLoad] = field(default_factory=list)  # forbidden modules loaded at run time
    referrers: dict[str, list[str]] = field(default_factory=dict)  # name -> names referring to it
    ending: str = COMPLETED  # how the child ended: see ``ended`` and ``ending_kind``
    log_tail: str = ""  # end of the child's raw output when it did not complete (crash text)
    plan_id: str = ""  # which plan (spec fingerprint and seed) the probes answered
    stamp: str = ""  # the assignment the notebook's metadata says it is for ("" if none)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ending_kind(self) -> EndingKind:
        return ending_kind(self.ending)

    @property
    def grader_failed(self) -> bool:
        """Whether the grader itself failed on this submission (worth running again)."""
        return (self.problem or "").startswith(INTERNAL_ERROR) or "grading worker" in self.ending

    def save(self, folder: Path) -> None:
        """Write ``observations.json`` and ``observations.npz`` into ``folder``."""
        document, arrays = self.to_bytes()
        atomic_write(folder / "observations.npz", arrays)
        atomic_write(folder / "observations.json", document)

    @staticmethod
    def read_document(folder: Path) -> Any:
        """The stored ``observations.json`` as plain JSON, without its arrays or any checks
        (None if unreadable): for summaries that must survive a damaged file."""
        try:
            return json.loads((folder / "observations.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

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
        """Read what ``to_bytes`` wrote, validating the arrays and values as ``wire`` does,
        within the limits the executor read them with (``wire.SUBMISSION_LIMITS``): what was
        written can be read again."""
        data = json.loads(document.decode("utf-8"))
        loaded = wire.load_arrays(arrays, wire.SUBMISSION_LIMITS)
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
            loaded=[ForbiddenLoad(**load) for load in data.get("loaded", [])],
            referrers=data.get("referrers", {}),
            ending=data["ending"],
            log_tail=data.get("log_tail", ""),
            plan_id=data.get("plan_id", ""),
            stamp=data.get("stamp", ""),
            timings=data["timings"],
        )

