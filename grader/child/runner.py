"""Runs one notebook's cells, then the planned probes, and writes observations as events.

The child is an IPython shell (the interpreter a Jupyter kernel wraps) without the
kernel's messaging: cells behave as in Jupyter (magics, ``display``, ``get_ipython``),
every cell runs even after earlier ones failed, and each event is appended as soon as it
happens to a file the grader opened outside the scratch folder and passed down as a
descriptor, so neither a crash nor a deleted working folder loses what was observed.

Shell escapes (``!pip install``, ``%%bash``, ``%pip``) are recorded and not executed:
the grading environment is fixed and has no network.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
import traceback
import types
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from grader import wire
from grader.child import GRADING_ENV
from grader.child.dispatch import NotDefined, answer, load_custom_probes, undefined_error
from grader.child.guard import CELL_FILE_PREFIX, ImportGuard, Integrity, notebook_threads
from grader.child.job import Injection, Job, Probe

SCRIPT_CELL_MAGICS = ("bash", "sh", "script", "system", "perl", "ruby", "python", "python2",
                      "python3", "pypy", "sx", "svg", "javascript", "js", "html")
SHELL_LINE_MAGICS = ("pip", "conda", "mamba", "micromamba", "sx", "system", "sc")
IGNORED_LINE_MAGICS = ("tensorflow_version", "matplotlib", "load_ext", "autoreload")
MAX_MESSAGE = 2000
#: After this many probes of one function time out, its remaining probes are not run:
#: an infinite loop should cost seconds, not one time limit per hidden input.
TIMEOUT_STRIKES = 2


class GradingTimeout(BaseException):
    """Raised in student code when its time is up; BaseException so ``except Exception`` misses it."""


class EventLog:
    """Append-only JSON-lines log, flushed per event so a crash loses nothing already seen."""

    def __init__(self, target: Path | int) -> None:
        # An inherited descriptor (the grader's file outside the scratch folder) survives a
        # notebook that deletes its working folder; a path is for trusted runs.
        self.file = open(target, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run

    def write(self, event: dict[str, Any]) -> None:
        self.file.write(json.dumps(event) + "\n")
        self.file.flush()


class ArrayStore:
    """Result arrays appended to an inherited file outside the scratch folder; each result
    is located by (offset, length), so deleting the working folder loses nothing."""

    def __init__(self, target: Path | int) -> None:
        self.file = open(target, "ab")  # noqa: SIM115 - lives as long as the run

    def append(self, payload: bytes) -> list[int]:
        offset = self.file.seek(0, os.SEEK_END)
        self.file.write(payload)
        self.file.flush()
        return [offset, len(payload)]


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and only counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self.parts)


#: After the time limit, the interrupt repeats at this interval until the code returns.
REPEAT_INTERVAL = 0.05


@contextlib.contextmanager
def deadline(seconds: float, what: str):
    """Raise GradingTimeout in the running code after ``seconds``, then keep raising it.

    A student loop such as ``while True: try: ... except: pass`` swallows one exception, so
    every ``REPEAT_INTERVAL`` the interrupt is raised again, both from the signal handler
    and, through a line tracer on the notebook's own frames, at the next line those frames
    execute: a raise on a line of an ``except`` block escapes that ``try``.
    """
    message = f"{what} exceeded the time limit of {seconds:g} s"
    active = [True]  # cleared first thing on exit, so no interrupt escapes into the runner

    def _raise_on_next_line(frame: Any, event: str, arg: Any) -> Any:
        if active[0] and frame.f_code.co_filename.startswith(CELL_FILE_PREFIX):
            if event == "line":
                raise GradingTimeout(message)
            return _raise_on_next_line
        return None

    def _interrupt(signum: int, frame: Any) -> None:
        if not active[0]:
            return
        sys.settrace(_raise_on_next_line)
        while frame is not None:
            if frame.f_code.co_filename.startswith(CELL_FILE_PREFIX):
                frame.f_trace = _raise_on_next_line
            frame = frame.f_back
        raise GradingTimeout(message)

    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001), REPEAT_INTERVAL)
    try:
        yield
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.settrace(None)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def captured(limit: int):
    """Redirect Python-level stdout/stderr into one capped buffer."""
    buffer = CappedText(limit)
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = buffer
    try:
        yield buffer
    finally:
        sys.stdout, sys.stderr = old


def describe_error(exc: BaseException, cell_files: dict[str, int]) -> dict[str, Any]:
    """Type, message and a traceback restricted to the notebook's own cells."""
    try:
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    except Exception:  # noqa: BLE001 - a student exception whose __str__ fails
        message = "<message could not be shown>"
    lines = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in cell_files:
            where = f"code cell {cell_files[frame.filename] + 1}, line {frame.lineno}"
            lines.append(f"  {where}, in {frame.name}: {(frame.line or '').strip()}")
    if isinstance(exc, SyntaxError) and exc.lineno:
        lines.append(f"  line {exc.lineno}: {(exc.text or '').strip()}")
    return {
        "type": type(exc).__name__,
        "message": message[:MAX_MESSAGE],
        "traceback": "\n".join(lines[-8:])[:MAX_MESSAGE],
    }


class NotebookRunner:
    """Executes cells in a fresh IPython shell and answers probes against its namespace."""

    def __init__(self, events: EventLog, output_limit: int,
                 forbidden: Collection[str] = ()) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.events = events
        self.output_limit = output_limit
        self.shell: Any = InteractiveShell.instance(colors="NoColor", history_length=0)
        # errors are reported as events, not printed into the captured output
        self.shell.showtraceback = lambda *a, **k: None  # type: ignore[method-assign]
        self.shell.showsyntaxerror = lambda *a, **k: None  # type: ignore[method-assign]
        self.cell_files: dict[str, int] = {}
        self.skipped: list[str] = []
        self.ignored: list[str] = []
        self.timeouts: dict[str, int] = {}
        self.strikes = TIMEOUT_STRIKES  # read now: student cells may rebind module globals
        self.guard = ImportGuard(forbidden, events)
        self._neutralise_shell_escapes()

    def _neutralise_shell_escapes(self) -> None:
        def record(command: Any, *args: Any, **kwargs: Any) -> str:
            self.skipped.append(str(command).strip()[:300])
            return ""

        def ignore(line: str, name: str) -> None:
            self.ignored.append(f"%{name} {line}".strip()[:300])

        shell = self.shell
        shell.system = shell.system_raw = shell.system_piped = lambda cmd, *a, **k: record(f"!{cmd}")
        shell.getoutput = lambda cmd, *a, **k: record(f"!!{cmd}") or []
        manager = shell.magics_manager
        for name in SCRIPT_CELL_MAGICS:
            manager.magics["cell"][name] = lambda line, cell="", n=name: record(
                f"%%{n} {line}".strip() + ": " + (cell.strip().splitlines() or [""])[0])
        for name in SHELL_LINE_MAGICS:
            manager.magics["line"][name] = lambda line, n=name: record(f"%{n} {line}")
        for name in IGNORED_LINE_MAGICS:
            manager.magics["line"][name] = lambda line, n=name: ignore(line, n)

    def run_cell(self, index: int, source: str, timeout: float) -> None:
        self.skipped, self.ignored = [], []
        self.events.write({"event": "cell-start", "index": index})
        start = time.perf_counter()
        execution_count = self.shell.execution_count
        before = {name: id(value) for name, value in self.shell.user_ns.items()}
        with captured(self.output_limit) as out, self.guard.watching(cell=index) as loads:
            with deadline(timeout, f"code cell {index + 1}"):
                result = self.shell.run_cell(source, store_history=True, silent=False)
        self._remember_cell_file(execution_count, index)
        if loads:
            self.guard.report(loads, cell=index, binds=self._bound_since(before))
        error = result.error_before_exec or result.error_in_exec
        if isinstance(error, SyntaxError) and result.error_before_exec is not None:
            error = self._python_syntax_error(source) or error
        status = "ok"
        if isinstance(error, GradingTimeout):
            status = "timeout"
        elif isinstance(error, SyntaxError) and result.error_before_exec is not None:
            status = "syntax-error"
        elif error is not None:
            status = "error"
        self.events.write({
            "event": "cell", "index": index, "status": status,
            "seconds": round(time.perf_counter() - start, 4),
            "output": out.getvalue(), "dropped": out.dropped,
            "shell": self.skipped, "ignored": self.ignored,
            "error": describe_error(error, self.cell_files) if error is not None else None,
        })

    def run_prelude(self, source: str) -> None:
        """The assignment's setup code, run before the student's first cell."""
        with captured(self.output_limit):
            result = self.shell.run_cell(source, store_history=False, silent=True)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            self.events.write({"event": "prelude-error", "error": describe_error(error, {})})

    def _python_syntax_error(self, source: str) -> SyntaxError | None:
        """Python's own message ("'(' was never closed") is clearer than IPython's
        "incomplete input"; get it by compiling the cell as IPython would run it."""
        try:
            compile(self.shell.transform_cell(source), "<cell>", "exec")
        except SyntaxError as exc:
            return exc
        except Exception:  # noqa: BLE001 - fall back to IPython's error
            return None
        return None

    def _bound_since(self, before: dict[str, int]) -> list[str]:
        """The names a cell bound (new or rebound), modules and IPython's own left out."""
        return sorted(name for name, value in self.shell.user_ns.items()
                      if before.get(name) != id(value) and not name.startswith("_")
                      and not isinstance(value, types.ModuleType))[:200]

    def _remember_cell_file(self, execution_count: int, index: int) -> None:
        for filename in list(self.shell.compile._filename_map)[-3:]:
            if self.shell.compile._filename_map[filename] == execution_count:
                self.cell_files[filename] = index

    def probe(self, number: int, probe: Probe, arrays: dict, custom: dict, timeout: float,
              store: ArrayStore) -> None:
        start = time.perf_counter()
        event: dict[str, Any] = {"event": "probe", "key": probe.key}
        name = probe.name
        self.events.write({"event": "probe-start", "number": number, "key": probe.key})
        if self.timeouts.get(name, 0) >= self.strikes:
            message = f"not run: {name} already exceeded the time limit on {self.strikes} inputs"
            event.update(status="timeout", error={"type": "Timeout", "message": message})
            self.events.write(event)
            return
        watch_calls = self.guard.calls_watched if probe.kind != "custom" else contextlib.nullcontext
        try:
            with captured(self.output_limit), self.guard.watching(probe=name, kind=probe.kind):
                with deadline(timeout, f"{name}(...)"):
                    args = wire.decode(probe.args, _copies(arrays))
                    kwargs = wire.decode(probe.kwargs, _copies(arrays))
                    with watch_calls():
                        value = answer(self.shell.user_ns, custom, probe.kind, name, args, kwargs)
                    tree, value_arrays = wire.encode(value)
            event.update(status="ok", value=tree)
            if value_arrays:
                wire.check_size(value_arrays)
                event["arrays"] = store.append(wire.save_arrays(value_arrays))
        except NotDefined as exc:
            event.update(status="undefined", error=undefined_error(exc))
        except wire.WireFormatError as exc:
            event.update(status="error", error={"type": "InvalidResult", "message": str(exc)})
        except GradingTimeout as exc:
            self.timeouts[name] = self.timeouts.get(name, 0) + 1
            event.update(status="timeout", error={"type": "Timeout", "message": str(exc)})
        except BaseException as exc:  # noqa: BLE001 - any student failure is an observation
            event.update(status="error", error=describe_error(exc, self.cell_files))
        event["seconds"] = round(time.perf_counter() - start, 4)
        self.guard.report(self.guard.loads, probe=name if probe.kind != "custom" else None)
        self.events.write(event)


def _copies(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fresh copies per probe, so a function that mutates its input cannot affect the next."""
    return {k: v.copy() for k, v in arrays.items()}


class _Cell(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def source(self) -> str: ...


def run_notebook(runner: NotebookRunner, cells: Iterable[_Cell], cell_timeout: float,
                 prelude: str = "", parameters: Injection | None = None,
                 skip: Collection[int] = ()) -> None:
    """The assignment's prelude, the grading parameters (before the first cell, or after the
    one tagged "parameters"), then every code cell but ``skip``: how a child runs a
    submission, and how the planner runs the reference (``grader.plan.planner``).

    The notebook is told it is being graded (``GRADING_ENV``), so a ``grader.check()`` left
    in a cell does nothing."""
    os.environ[GRADING_ENV] = "1"
    if prelude:
        runner.run_prelude(prelude)
    if parameters and parameters.after is None:
        runner.run_prelude(parameters.source)
    for cell in cells:
        if cell.index not in skip:  # cells that crashed the process last time
            runner.run_cell(cell.index, cell.source, cell_timeout)
        if parameters and parameters.after == cell.index:
            runner.run_prelude(parameters.source)


def run_job(job: Job) -> None:
    events = EventLog(job.events_fd)
    store = ArrayStore(job.arrays_fd)
    arrays = {}
    if job.probes:
        args_file = Path(job.out) / "args.npz"
        with np.load(args_file, allow_pickle=False) as archive:
            arrays = dict(archive)
        args_file.unlink()
    runner = NotebookRunner(events, job.limits.max_output_chars, job.forbidden)
    integrity = Integrity(runner.guard)  # before any student code: the grader's code as loaded
    events.write({"event": "start", "pid": os.getpid()})
    run_notebook(runner, job.cells, job.limits.cell_timeout, job.prelude, job.parameters,
                 set(job.skip_cells))
    custom = load_custom_probes(job.custom_probes)
    events.write({"event": "probes"})
    if _untouched(events, integrity, runner.cell_files, threads=True):
        integrity.refresh()  # the kit's modules, checked against their source, join the watch
        skip_probes = set(job.skip_probes)
        for number, probe in enumerate(job.probes):
            if number not in skip_probes:
                runner.probe(number, probe, arrays, custom, job.limits.probe_timeout, store)
                if not _untouched(events, integrity, runner.cell_files):
                    break
    events.write({"event": "done"})


def _untouched(events: EventLog, integrity: Integrity, cell_files: Collection[str],
               threads: bool = False) -> bool:
    """Whether the probes may go on: the grader's code in this process is what it was, and
    (at the start of the probes) no thread of the notebook runs beside them. Otherwise the
    grader is told, and voids every answer of the run: it cannot say which are the
    notebook's forgeries."""
    changed = integrity.changes()
    running = notebook_threads(cell_files) if threads else []
    if not changed and not running:
        return True
    reasons = [f"the grader's code in its process was changed ({', '.join(changed[:5])})"] \
        if changed else []
    if running:
        reasons.append(f"threads it started were still running when grading began "
                       f"({', '.join(running[:5])}); end them (join) before the notebook ends")
    events.write({"event": "tampered", "reason": "; ".join(reasons)})
    return False


def main(argv: list[str]) -> int:
    job_file = Path(argv[0])
    job = json.loads(job_file.read_text(encoding="utf-8"))
    job_file.unlink()  # the student's cells need not read the plan
    run_job(Job.from_job(job))
    sys.stdout.flush()
    # Skip interpreter teardown: student objects' __del__ and atexit hooks get no say.
    os._exit(0)
