"""Runs one untrusted notebook in an isolated child process and returns its observations.

The child (``grader.child``) gets the notebook's code cells and the probe plan (hidden
inputs, never expected outputs), in a scratch folder of its own that is removed
afterwards, with a scrubbed environment, resource limits and its own process group that is
killed when grading ends. What it writes back is untrusted and is validated here.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from grader import wire
from grader.analysis.findings import referrers
from grader.child.job import Job, JobCell, JobLimits
from grader.child.reaper import END_SECONDS
from grader.child.zygote import POLL_SECONDS, ProgressWatch, StepOrder
from grader.execution import users
from grader.execution.events import Attempt, read_events
from grader.execution.pool import WarmPool, WorkerError
from grader.execution.sandbox import Sandbox
from grader.observations import COMPLETED, CellRecord, Observations, ProbeRecord, ended, ending_detail
from grader.plan.harness import Harness, ProbePlan, parameters_injection
from grader.spec import Limits
from grader.spec.notebook import CodeCell

#: The descriptors a warm worker's notebook process gets its event and array logs on.
WARM_FDS = (3, 4)
MAX_FILE_BYTES = 1024 * 1024 * 1024
MAX_PROCESSES = 512
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
#: The child's first code: drop root (inside the sandbox) before anything else, then run.
BOOT = (
    "import ctypes, os, sys\n"
    "uid = os.environ.pop('GRADER_CHILD_UID', None)\n"
    "if uid:\n"
    "    os.setgroups([]); os.setgid(int(uid)); os.setuid(int(uid))\n"
    "ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid binaries\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from grader.child.runner import main\n"
    "main(sys.argv[2:])\n"
)
#: Variables the child may inherit; everything else (tokens, CI secrets) is dropped.
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def child_environment(scratch: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENVIRONMENT if k in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        HOME=str(scratch), TMPDIR=str(scratch), MPLBACKEND="Agg", PYTHONHASHSEED="0",
        OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
        TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    """The child's resource limits (soft, hard), by ``resource`` module name."""
    memory = limits.memory_mb * 1024 * 1024
    cpu = int(limits.notebook_timeout) + 5
    return {
        "RLIMIT_AS": (memory, memory),
        "RLIMIT_CORE": (0, 0),
        "RLIMIT_FSIZE": (MAX_FILE_BYTES, MAX_FILE_BYTES),
        "RLIMIT_CPU": (cpu, cpu + 5),
        # Counted per user: enforced once the sandboxed child has dropped root (a fork bomb stops).
        "RLIMIT_NPROC": (MAX_PROCESSES, MAX_PROCESSES),
    }


def _limit_resources(limits: Limits) -> None:
    """Runs in the child between fork and exec (and so also limits the sandbox's processes)."""
    for name, (soft, hard) in rlimits(limits).items():
        resource.setrlimit(getattr(resource, name), (soft, hard))


#: A notebook whose process crashes is run again, without the cell or probe that crashed
#: it, at most this many times in all: a segfault in question 2 must not zero question 5.
MAX_ATTEMPTS = 4


def execute(
    submission: str,
    cells: list[CodeCell],
    harness: Harness,
    limits: Limits,
    sandbox: Sandbox | None = None,
    pool: WarmPool | None = None,
) -> Observations:
    """Run ``cells`` then the planned probes in a fresh child; never raises for what the
    student did (only for the grader's own faults, such as a full disk).

    With a warm ``pool`` the child is forked by one of its workers; otherwise a new
    interpreter starts. Either way the child is new, isolated and used once."""
    sandbox = sandbox or Sandbox("none", "no sandbox given")
    started = time.perf_counter()
    crashed_cells: dict[int, str] = {}
    crashed_probes: dict[int, str] = {}
    for _ in range(MAX_ATTEMPTS):
        remaining = limits.notebook_timeout - (time.perf_counter() - started)
        skip = sorted(crashed_cells), sorted(crashed_probes)
        try:
            attempt = _attempt(submission, cells, harness, limits, sandbox, remaining, *skip, pool)
        except WorkerError:  # the grader's fault, not the student's: this attempt runs cold
            attempt = _attempt(submission, cells, harness, limits, sandbox, remaining, *skip)
        running = attempt.running
        if attempt.observations.ending_kind != "crashed" or running is None:
            break
        (crashed_cells if running[0] == "cell" else crashed_probes)[running[1]] = \
            attempt.observations.ending
    observations = attempt.observations
    if observations.loaded:  # who else reaches what loaded a forbidden module
        observations.referrers = referrers(cells)
    _record_crashes(observations, harness.plan, crashed_cells, crashed_probes)
    _record_phases(observations, time.perf_counter() - started)
    return observations


def _record_phases(observations: Observations, elapsed: float) -> None:
    """Where the child's time went: its cells, its probes, and the rest (start-up of the
    sandbox, Python and the shell, and teardown), which is the grader's own overhead."""
    cells = sum(cell.seconds for cell in observations.cells)
    probes = sum(probe.seconds for probe in observations.probes.values())
    observations.timings.update(
        execute=round(elapsed, 4), cells=round(cells, 4), probes=round(probes, 4),
        overhead=round(max(elapsed - cells - probes, 0.0), 4))


def _attempt(submission: str, cells: list[CodeCell], harness: Harness, limits: Limits,
             sandbox: Sandbox, budget: float, skip_cells: list[int],
             skip_probes: list[int], pool: WarmPool | None = None) -> Attempt:
    scratch = pool.scratch() if pool else Path(tempfile.mkdtemp(prefix="grader-run-"))
    events, arrays = (scratch.parent / f"{scratch.name}.{kind}" for kind in ("events", "arrays"))
    try:
        # the logs are the grader's alone: the notebook writes them through its descriptors,
        # and no other notebook may read another's answers there
        with _private_log(events) as event_file, _private_log(arrays) as array_file, \
                users.lease(sandbox) as uid:
            fds = (event_file.fileno(), array_file.fileno())
            _write_job(scratch, cells, harness, limits, WARM_FDS if pool else fds, skip_cells,
                       skip_probes)
            sandbox.prepare(scratch, uid)
            peak_mb = None
            steps = _planned_steps(cells, harness.plan, skip_cells, skip_probes)
            if pool:
                ending, output, peak_mb = _run_warm(pool, scratch, limits, max(budget, 1.0), steps, uid)
            else:
                ending, output = _run_child(scratch, limits, sandbox, fds, max(budget, 1.0),
                                            events, steps, uid)
        attempt = read_events(submission, events, arrays, harness.plan, ending)
        if STALLED in ending:  # the step the watchdog timed, not what the lines claim last
            attempt.running = _stalled_step(events, cells, harness.plan, skip_cells, skip_probes)
        if attempt.observations.ending_kind != "completed":
            attempt.observations.log_tail = output
        if peak_mb is not None:
            attempt.observations.timings["peak_mb"] = peak_mb
        return attempt
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        events.unlink(missing_ok=True)
        arrays.unlink(missing_ok=True)


def _planned_steps(cells: list[CodeCell], plan: ProbePlan, skip_cells: list[int],
                   skip_probes: list[int]) -> StepOrder:
    """The order in which this attempt's child runs its steps (for the watchdog)."""
    return StepOrder([c.index for c in cells if c.index not in skip_cells],
                     [n for n in range(len(plan.probes)) if n not in skip_probes])


def _stalled_step(events: Path, cells: list[CodeCell], plan: ProbePlan, skip_cells: list[int],
                  skip_probes: list[int]) -> tuple[str, int] | None:
    """The step a stalled child was stopped in, read from its log as the watchdog read it."""
    steps = _planned_steps(cells, plan, skip_cells, skip_probes)
    with open(events, "rb") as log:
        ProgressWatch(log.fileno(), None, steps).scan()
    return steps.blamed


def _private_log(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created readable by the grader's user only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600), "ab")


def _record_crashes(observations: Observations, plan: ProbePlan, cells: dict[int, str],
                    probes: dict[int, str]) -> None:
    """Cells and probes that were skipped because they crashed the process, as results."""
    for index, ending in cells.items():
        timeout = STALLED in ending
        observations.cells.append(CellRecord(index=index, status="timeout" if timeout else "crashed",
                                             error={
            "type": "Timeout" if timeout else "Crash",
            "message": f"{ending}; the cell was skipped and the notebook run again without it",
            "traceback": ""}))
    observations.cells.sort(key=lambda cell: cell.index)
    for number, ending in probes.items():
        key = plan.probes[number].key
        timeout = STALLED in ending
        observations.probes[key] = ProbeRecord(key=key, status="timeout" if timeout else "error",
                                               error={
            "type": "Timeout" if timeout else "Crash",
            "message": f"calling it {ending_detail(ending)}", "traceback": ""})


def _write_job(scratch: Path, cells: list[CodeCell], harness: Harness, limits: Limits,
               fds: tuple[int, int], skip_cells: list[int], skip_probes: list[int]) -> None:
    plan = harness.plan
    for target, source in harness.home_files.items():
        destination = scratch / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)  # a copy: one child cannot spoil another's data
    job = Job(
        out=str(scratch), events_fd=fds[0], arrays_fd=fds[1],
        cells=[JobCell(c.index, c.source) for c in cells],
        probes=list(plan.probes),
        limits=JobLimits(limits.cell_timeout, limits.probe_timeout, limits.max_output_chars),
        custom_probes=harness.custom_probes, prelude=harness.prelude,
        parameters=parameters_injection(cells, harness.parameters),
        skip_cells=skip_cells, skip_probes=skip_probes, forbidden=list(harness.forbidden),
    )
    (scratch / "job.json").write_text(json.dumps(job.to_job()), encoding="utf-8")
    if plan.probes:
        (scratch / "args.npz").write_bytes(wire.save_arrays(plan.arrays))


def _run_child(scratch: Path, limits: Limits, sandbox: Sandbox, fds: tuple[int, int],
               budget: float, events: Path, steps: StepOrder, uid: int | None) -> tuple[str, str]:
    """Start the child, wait for it within its time budget, reap its group.

    Returns how it ended and the tail of its raw output (crash messages). That output goes
    through a pipe of which only the last few kilobytes are kept: a notebook writing
    gigabytes to its file descriptors fills neither memory nor disk.
    """
    command = [sys.executable, "-I", "-c", BOOT, PACKAGE_PARENT, str(scratch / "job.json")]
    env = child_environment(scratch)
    if sandbox.drop_privileges and uid is not None:
        env["GRADER_CHILD_UID"] = str(uid)
    process = subprocess.Popen(
        sandbox.wrap(command, scratch), cwd=scratch, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, pass_fds=fds,
        preexec_fn=lambda: _limit_resources(limits),
    )
    tail = _OutputTail(process.stdout)
    deadline = time.monotonic() + budget
    with open(events, "rb") as log:
        progress = ProgressWatch(log.fileno(), _step_limit(limits), steps)
        while True:
            try:
                ending = _describe_exit(process.wait(timeout=min(POLL_SECONDS, budget)))
                break
            except subprocess.TimeoutExpired:
                over = time.monotonic() > deadline
                if over or progress.overdue():
                    _stop(process, sandbox)
                    ending = _over_time(limits) if over else _stalled(limits)
                    break
    _kill_group(process.pid)
    return ending, tail.text()


def _stop(process: subprocess.Popen, sandbox: Sandbox) -> None:
    """End a child before its time: bubblewrap's PID namespace dies with its group; without
    one, the supervisor (grader.child.reaper) is asked to end every descendant first."""
    if not sandbox.isolated:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=END_SECONDS + 5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    _kill_group(process.pid)
    process.wait()


def _run_warm(pool: WarmPool, scratch: Path, limits: Limits, budget: float,
              steps: StepOrder, uid: int | None) -> tuple[str, str, float | None]:
    """As ``_run_child``, in a process forked by a warm worker of ``pool``; also returns the
    notebook process's peak resident memory in MiB (its own and its children's largest)."""
    request = pool.request(child_environment(scratch), rlimits(limits), _step_limit(limits),
                           steps.to_data(), uid)
    with pool.lease() as worker:
        outcome = worker.run(scratch.name, request, budget)  # WorkerError: see execute()
    peak = round(outcome.peak_kb / 1024, 1)
    if outcome.timed_out:
        return _over_time(limits), outcome.tail, peak
    if outcome.stalled:
        return _stalled(limits), outcome.tail, peak
    return _describe_exit(outcome.status), outcome.tail, peak


class _OutputTail:
    """Drains a pipe in a thread, keeping only its last ``limit`` bytes."""

    def __init__(self, pipe: Any, limit: int = 3000) -> None:
        self.pipe, self.limit, self.kept = pipe, limit, b""
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.kept = (self.kept + chunk)[-self.limit:]

    def text(self) -> str:
        self.thread.join(timeout=5)
        self.pipe.close()
        return self.kept.decode("utf-8", "replace")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


#: Beyond a cell's or probe's own time limit (raised inside the notebook's process), how long
#: the process that waits for it gives it before killing it from outside.
STEP_GRACE = 5.0
STALLED = "stopped from outside the notebook's process"


def _step_limit(limits: Limits) -> float:
    return max(limits.cell_timeout, limits.probe_timeout) + STEP_GRACE


def _stalled(limits: Limits) -> str:
    return ended("crashed", f"it ran past its time limit ({_step_limit(limits):g} s with the "
                            f"grace) and was {STALLED}")


def _over_time(limits: Limits) -> str:
    return ended("killed", f"the notebook exceeded its time limit of {limits.notebook_timeout:g} s")


def _describe_exit(code: int) -> str:
    if code == 0:
        return COMPLETED
    if code < 0 or 128 < code < 128 + 65:  # killed by a signal (bubblewrap reports 128 + n)
        number = -code if code < 0 else code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if name == "SIGXCPU":
            return ended("killed", "the notebook used up its CPU time limit")
        return ended("crashed", f"the notebook's process was killed by {name}")
    return ended("crashed", f"the notebook's process exited with code {code}")
