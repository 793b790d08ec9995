"""Reading what a child reported: untrusted event lines and result arrays, validated.

The child appends JSON lines to one inherited file and result arrays to another. Anything
in them may have been written by student code, so each field is type-checked and
size-capped here, and arrays are read only at the (offset, length) an event names, through
``grader.wire``'s checks. A malformed line is skipped; a malformed result becomes an error.
"""

from __future__ import annotations

import json
import math
import mmap
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

import numpy as np

from grader import wire
from grader.observations import (
    CellRecord,
    CellStatus,
    ErrorInfo,
    ForbiddenLoad,
    Observations,
    ProbeRecord,
    ProbeStatus,
    ended,
    ending_kind,
)
from grader.plan.harness import ProbePlan

#: What is read of the event log at most: beyond it, nothing is graded.
MAX_EVENTS_BYTES = 64 * 1024 * 1024
#: Event lines parsed at most (a notebook writes a few per cell and probe). Lines that do not
#: begin as the child's own do (``{"event": "``) are skipped unparsed and not counted.
MAX_EVENT_LINES = 100_000
#: One event line, at most: a longer one is skipped (a probe's becomes an error).
MAX_LINE_BYTES = 8 * 1024 * 1024
#: The result arrays one submission may send back in all (each result has its own limit,
#: ``wire.DEFAULT_LIMITS``), counted in bytes loaded: forged lines pointing at one huge array
#: again and again cost the grader this much memory at most. Members of all results: as many.
MAX_ARRAY_BYTES = wire.SUBMISSION_LIMITS.max_total_bytes
MAX_ARRAY_MEMBERS = wire.SUBMISSION_LIMITS.max_members
#: The grader's time for reading one child's events back; what is left unread after it is
#: not graded, and the submission says why.
MAX_READ_SECONDS = 60.0
#: Forbidden modules recorded at run time, at most (one is enough to void a question).
MAX_LOADS = 200


@dataclass
class Attempt:
    """One run of the child; ``running`` is the cell or probe it was in when it ended."""

    observations: Observations
    running: tuple[str, int] | None = None


def read_events(submission: str, events_path: Path, arrays_path: Path, plan: ProbePlan,
                 ending: str) -> Attempt:
    """The events of one attempt, validated. An answer is taken only where the grader's
    runner writes it (``_Protocol``): anything else on the channel voids the whole run.
    Reading stays within ``MAX_ARRAY_BYTES`` of arrays and ``MAX_READ_SECONDS``."""
    observations = Observations(submission=submission, ending=ending)
    attempt = Attempt(observations)
    done = False
    budget = _Budget(time.monotonic() + MAX_READ_SECONDS, MAX_ARRAY_BYTES, MAX_ARRAY_MEMBERS)
    protocol = _Protocol(plan)
    log = _EventLog(events_path)
    for event in log.events():
        if time.monotonic() > budget.deadline:
            observations.problem = (f"the notebook's process reported more than the grader reads "
                                    f"in {MAX_READ_SECONDS:g} s; its results were not graded")
            break
        kind = event.get("event")
        refused = protocol.refuses(event)
        if refused:
            observations.problem = tampered(refused)
            attempt.running = None  # not run again: the notebook's own doing, not a crash
            break
        if kind == "cell-start" and isinstance(event.get("index"), int):
            attempt.running = ("cell", event["index"])
        elif kind == "probe-start":
            attempt.running = ("probe", event["number"])
        elif kind == "cell":
            observations.cells.append(_cell_record(event))
            attempt.running = None
        elif kind == "probe":
            key = event.get("key")  # the protocol let it stand: the probe running's answer
            record = _oversized(str(key)) if event.get("probe") == "oversized" else \
                _probe_record(event, arrays_path, budget)
            if record is not None:
                observations.probes[record.key] = record
            attempt.running = None
        elif kind == "forbidden-load" and len(observations.loaded) < MAX_LOADS:
            load = _forbidden_load(event)
            if load is not None and load not in observations.loaded:
                observations.loaded.append(load)
        elif kind == "done":
            done = True
        elif kind == "prelude-error":
            error = _error(event.get("error")) or {}
            observations.problem = (f"the grader's setup code failed ({error.get('type')}: "
                                    f"{error.get('message')}); please tell your instructor")
    if not done and ending_kind(ending) == "completed":
        observations.ending = ended("crashed", "the notebook's process exited (code 0) before "
                                               "grading finished")
    for probe in plan.probes:
        if probe.key not in observations.probes:
            observations.probes[probe.key] = ProbeRecord(
                key=probe.key, status="not-run",
                error={"type": "NotRun",
                       "message": log.overflow or _not_run_reason(observations)},
            )
    return attempt


def tampered(reason: str) -> str:
    """The problem of a run whose channel holds what the grader's runner did not write."""
    return (f"the notebook's process tampered with grading ({reason}); none of its answers can "
            f"be trusted, so none is graded")


class _Protocol:
    """Where the grader's runner writes each line, and so where an answer may stand.

    The runner writes the cells' lines, then one ``probes`` line, then for each planned probe
    in plan order (skipping those that crashed an earlier attempt) a ``probe-start`` line
    naming it and one ``probe`` line answering it. A line of the protocol anywhere else was
    written by the notebook: an answer before the probes began (the cells' forgery), a
    second ``probes`` line, an answer for another probe, a second answer (a thread of the
    notebook, or the function probed writing for itself). The run is then void; so too when
    the runner itself reports (``tampered``) that the grader's code in the process was
    changed or the notebook's threads still ran. Lines that are not JSON objects, or of no
    kind the runner writes, are skipped.
    """

    def __init__(self, plan: ProbePlan) -> None:
        self.keys = [probe.key for probe in plan.probes]
        self.probing = False
        self.started: int | None = None  # the probe started and not answered yet
        self.last = -1
        self.done = False

    def refuses(self, event: dict) -> str | None:
        """Why ``event`` cannot stand where it is (None: it can)."""
        kind = event.get("event")
        if kind == "tampered":
            return _text(event.get("reason"), 1000) or "reported by the grader's runner"
        if self.done and kind in ("cell-start", "cell", "probes", "probe-start", "probe", "done"):
            return "a line after the end of the run"
        if kind in ("cell-start", "cell"):
            return "a cell's line after the probes began" if self.probing else None
        if kind == "probes":
            if self.probing:
                return "a second start of the probes"
            self.probing = True
            return None
        if kind == "probe-start":
            return self._start(event.get("number"), event.get("key"))
        if kind == "probe":
            return self._answer(event.get("key"))
        if kind == "done":
            self.done = True
        return None

    def _start(self, number: Any, key: Any) -> str | None:
        if not self.probing:
            return "a probe started before the probes began"
        if not isinstance(number, int) or isinstance(number, bool) or not \
                self.last < number < len(self.keys) or key != self.keys[number]:
            return "a probe started out of the plan's order"
        if self.started is not None:
            return "a probe started before the previous one was answered"
        self.started = self.last = number
        return None

    def _answer(self, key: Any) -> str | None:
        if not self.probing:
            return "an answer written before the probes began"
        if self.started is None or key != self.keys[self.started]:
            return "an answer that is not the one the probe running asked for"
        self.started = None
        return None


@dataclass
class _Budget:
    """What reading one attempt may still cost the grader."""

    deadline: float
    array_bytes: int
    array_members: int


def _not_run_reason(observations: Observations) -> str:
    finished = len(observations.cells)
    where = f" after {finished} code cell{'s' if finished != 1 else ''} had finished"
    return f"{observations.ending}{where}"


#: Where an event line of the child's begins; and a probe line's key, read without parsing
#: a line too long to parse.
_EVENT_START = re.compile(rb'^\{"event": "', re.MULTILINE)
_PROBE_KEY = re.compile(rb'\{"event": "probe", "key": ("(?:[^"\\]|\\.){0,1000}")')


class _EventLog:
    """The child's event log, read as a stream within bounds: ``MAX_EVENTS_BYTES`` of it, at
    most ``MAX_EVENT_LINES`` lines parsed, each of at most ``MAX_LINE_BYTES``. Junk (what does
    not begin as an event line) is skipped unparsed by one scan in C; ``overflow`` says why
    reading stopped early, if it did: what came after is not graded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.overflow = ""

    def events(self) -> Iterator[dict]:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            size = min(len(data), MAX_EVENTS_BYTES)
            if len(data) > MAX_EVENTS_BYTES:
                self.overflow = (f"the notebook's process wrote more than "
                                 f"{MAX_EVENTS_BYTES // 2**20} MiB to the grader's channel; what "
                                 f"came after was not read, and is not graded")
            lines = 0
            for start in _EVENT_START.finditer(data, 0, size):
                lines += 1
                if lines > MAX_EVENT_LINES:
                    self.overflow = (f"the notebook's process wrote more than {MAX_EVENT_LINES:,} "
                                     f"lines to the grader's channel; what came after was not "
                                     f"read, and is not graded")
                    return
                event = _parse_line(data, start.start(), size)
                if event is not None:
                    yield event


def _parse_line(data: mmap.mmap, start: int, size: int) -> dict | None:
    """The event line beginning at ``start``, parsed; None for a malformed one. A line over
    ``MAX_LINE_BYTES`` is not parsed: a probe's becomes ``{"event": "probe", "key": ...,
    "probe": "oversized"}``, for ``read_events`` to record as an error."""
    end = data.find(b"\n", start, size)
    end = size if end < 0 else end
    if end - start > MAX_LINE_BYTES:
        found = _PROBE_KEY.match(data, start, min(end, start + 2100))
        key = _json(found.group(1)) if found else None
        return {"event": "probe", "key": key, "probe": "oversized"} if isinstance(key, str) \
            else None
    event = _json(data[start:end])
    return event if isinstance(event, dict) else None


def _json(line: bytes) -> Any:
    """A JSON value, or None: malformed, too deep, or holding an integer of more digits than
    Python converts (a ValueError, as a malformed line is)."""
    try:
        return json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _oversized(key: str) -> ProbeRecord:
    return ProbeRecord(key=key, status="error", error={
        "type": "InvalidResult", "traceback": "",
        "message": f"the result is over the size limit ({MAX_LINE_BYTES // 2**20} MiB of text)"})


def _seconds(event: dict) -> float:
    """A reported duration; 0 for anything but a plain, finite number (a forged integer of
    thousands of digits has no float)."""
    value = event.get("seconds")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return 0.0
    try:
        seconds = float(value)
    except OverflowError:
        return 0.0
    return seconds if math.isfinite(seconds) else 0.0


def _text(value: Any, limit: int = 20_000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _error(value: Any) -> ErrorInfo | None:
    if not isinstance(value, dict):
        return None
    return ErrorInfo(type=_text(value.get("type"), 4000), message=_text(value.get("message"), 4000),
                     traceback=_text(value.get("traceback"), 4000))


def _cell_status(value: Any) -> CellStatus:
    """A cell's reported status; anything but a known one (a forged event) is an error."""
    for status in get_args(CellStatus):
        if value == status:
            return status
    return "error"


def _probe_status(value: Any) -> ProbeStatus | None:
    """A probe's reported status, if the child may report it ("not-run" is the grader's)."""
    for status in get_args(ProbeStatus):
        if value == status and status != "not-run":
            return status
    return None


def _forbidden_load(event: dict) -> ForbiddenLoad | None:
    """A forbidden module the child's import guard saw loaded (a forged one only costs the
    notebook that forged it)."""
    module, cell, probe = event.get("module"), event.get("cell"), event.get("probe")
    kind = event.get("kind", "load")
    if not isinstance(module, str) or not module:
        return None
    return ForbiddenLoad(
        module=_text(module, 300),
        cell=cell if isinstance(cell, int) and not isinstance(cell, bool) else None,
        probe=_text(probe, 300) or None,
        functions=_names(event.get("functions")), binds=_names(event.get("binds")),
        kind=kind if kind in ("load", "call", "unchecked") else "load")


def _names(value: Any) -> list[str]:
    return [_text(n, 300) for n in value[:200] if isinstance(n, str)] if isinstance(value, list) \
        else []


def _cell_record(event: dict) -> CellRecord:
    index = event.get("index")
    shell, ignored = event.get("shell"), event.get("ignored")
    return CellRecord(
        index=index if isinstance(index, int) else -1,
        status=_cell_status(event.get("status")),
        seconds=_seconds(event),
        output=_text(event.get("output")),
        dropped=event["dropped"] if isinstance(event.get("dropped"), int) else 0,
        shell=[_text(s, 300) for s in shell[:50]] if isinstance(shell, list) else [],
        ignored=[_text(s, 300) for s in ignored[:50]] if isinstance(ignored, list) else [],
        error=_error(event.get("error")),
    )


def _probe_record(event: dict, arrays_path: Path, budget: _Budget) -> ProbeRecord | None:
    key, status = event.get("key"), _probe_status(event.get("status"))
    if not isinstance(key, str) or status is None:
        return None
    seconds = _seconds(event)
    if status != "ok":
        return ProbeRecord(key=key, status=status, error=_error(event.get("error")), seconds=seconds)
    try:
        arrays = _probe_arrays(event, arrays_path, budget)
        value = wire.decode(event.get("value"), arrays)
    except wire.WireFormatError as exc:
        return ProbeRecord(key=key, status="error", seconds=seconds,
                           error={"type": "InvalidResult", "message": str(exc), "traceback": ""})
    return ProbeRecord(key=key, status="ok", value=value, seconds=seconds)


def _probe_arrays(event: dict, arrays_path: Path, budget: _Budget) -> dict[str, np.ndarray]:
    """The arrays of one result, read from the (offset, length) the child reported."""
    where = event.get("arrays")
    if where is None:
        return {}
    if (not isinstance(where, list) or len(where) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in where)):
        raise wire.WireFormatError("bad location of result arrays")
    offset, length = where
    if length > wire.DEFAULT_LIMITS.max_total_bytes:
        raise wire.WireFormatError(f"result of {length} bytes is over the size limit")
    if length > budget.array_bytes:
        raise wire.WireFormatError(
            f"result of {length} bytes is over the size limit of all results of one notebook "
            f"({MAX_ARRAY_BYTES // 2**20} MiB)")
    budget.array_bytes -= length
    with open(arrays_path, "rb") as handle:
        handle.seek(offset)
        payload = handle.read(length)
    if len(payload) != length:
        raise wire.WireFormatError("result arrays are missing")
    limits = replace(wire.DEFAULT_LIMITS, max_members=min(wire.DEFAULT_LIMITS.max_members,
                                                          budget.array_members))
    budget.array_members -= min(wire.member_count(payload), limits.max_members + 1)
    if budget.array_members < 0:
        raise wire.WireFormatError(
            f"result arrays are over the limit of {MAX_ARRAY_MEMBERS:,} arrays of all results "
            f"of one notebook")
    return wire.load_arrays(payload, limits)  # stored members only: loaded bytes <= length
