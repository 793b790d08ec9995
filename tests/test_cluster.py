"""Grading on a real Dask cluster: a `dask scheduler` and `dask worker` processes on 127.0.0.1.

The cluster grades as this machine does (same seed, same checks passed), a worker killed
mid-run costs no submission, and an unreachable scheduler is one clear message.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.slow  # starts Dask schedulers and workers
pytest.importorskip("distributed")

from grader.execution.cluster import ClusterRunner  # noqa: E402 - after the skip
from grader.grading import GradeOptions, grade  # noqa: E402
from grader.observations import CellRecord, Observations, ProbeRecord  # noqa: E402
from tests.conftest import EXAMPLES, SANDBOX  # noqa: E402

SEED = 11


def _start(command: list[str], log: Path) -> subprocess.Popen:
    """A process in a group of its own (killed whole at teardown), logging to ``log``."""
    with open(log, "wb") as output:
        return subprocess.Popen([sys.executable, "-m", "dask", *command], stdout=output,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=log.parent)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def _worker(address: str, folder: Path, name: str) -> subprocess.Popen:
    return _start(["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                   "--name", name, "--local-directory", str(folder / name)], folder / f"{name}.log")


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=10, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a scheduler with two single-threaded worker processes."""
    folder = tmp_path_factory.mktemp("cluster")
    started = []
    try:
        started.append(_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(folder / "scheduler.json")],
                              folder / "scheduler.log"))
        deadline = time.monotonic() + 60
        while not (folder / "scheduler.json").is_file() and time.monotonic() < deadline:
            assert started[0].poll() is None, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads((folder / "scheduler.json").read_text())["address"]
        started += [_worker(address, folder, f"worker-{n}") for n in (1, 2)]
        _wait_for_workers(address, 2)
        yield SimpleNamespace(address=address, folder=folder)
    finally:
        for process in reversed(started):
            _stop(process)


def _outcomes(run) -> dict[str, tuple[float, list[tuple[str, bool]]]]:
    return {r.submission: (r.score, [(c.check.id, c.passed) for c in r.checks]) for r in run.results}


def test_cluster_grades_as_this_machine_does(assignment, cluster, tmp_path):
    local = grade(assignment, [EXAMPLES], GradeOptions(out=tmp_path / "local", jobs=2, seed=SEED,
                                                       sandbox=SANDBOX))
    started = []
    remote = grade(assignment, [EXAMPLES],
                   GradeOptions(out=tmp_path / "cluster", seed=SEED, sandbox=SANDBOX,
                                scheduler=cluster.address),
                   on_start=started.append)
    assert started == [6]
    assert _outcomes(remote) == _outcomes(local)
    assert {r.submission: r.score for r in remote.results}["partly-correct"] == pytest.approx(11.8333)
    assert (tmp_path / "cluster" / "gradebook.csv").read_text() == \
        (tmp_path / "local" / "gradebook.csv").read_text()
    manifest = json.loads((tmp_path / "cluster" / "run.json").read_text())
    assert f"on 2 Dask worker(s) at {cluster.address}" in manifest["isolation"]
    for name in ("uses-scipy", "infinite-loop"):  # what the client adds to the worker's report
        stored = Observations.load(tmp_path / "cluster" / "submissions" / name)
        here = Observations.load(tmp_path / "local" / "submissions" / name)
        assert stored.plan_id == here.plan_id != ""
        assert stored.forbidden == here.forbidden and stored.tainted == here.tainted
        assert stored.timings["total"] >= stored.timings["execute"] > 0


def test_a_worker_killed_mid_run_loses_no_submission(assignment, cluster, tmp_path):
    copies = tmp_path / "submissions"
    copies.mkdir()
    loop = (EXAMPLES / "infinite-loop.ipynb").read_bytes()  # about 4 s each: its probes time out
    for n in range(4):
        (copies / f"loop-{n}.ipynb").write_bytes(loop)
    victim = _worker(cluster.address, cluster.folder, "victim")
    try:
        _wait_for_workers(cluster.address, 3)
        runs: list = []
        grading = threading.Thread(target=lambda: runs.append(grade(
            assignment, [copies], GradeOptions(out=tmp_path / "out", seed=SEED, sandbox=SANDBOX,
                                               scheduler=cluster.address))))
        grading.start()
        _kill_when_busy(victim)
        grading.join(timeout=120)
        assert not grading.is_alive()
    finally:
        _stop(victim)
    [run] = runs
    assert sorted(r.submission for r in run.results) == [f"loop-{n}" for n in range(4)]
    for result in run.results:
        assert (tmp_path / "out" / "submissions" / result.submission / "results.json").is_file()
        # rescheduled on a live worker and graded, or recorded as not graded with the reason
        assert result.score == 17 or "not graded" in (result.problem or "")


def _kill_when_busy(worker: subprocess.Popen, timeout: float = 60) -> None:
    """Kill ``worker`` (its whole process group) once it runs a notebook's child process
    (not the isolation check that it runs first)."""
    deadline = time.monotonic() + timeout
    while not _running_a_notebook(worker.pid):
        assert time.monotonic() < deadline, "the extra worker never got a notebook to run"
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)


def _running_a_notebook(pid: int) -> bool:
    import psutil

    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any("grader-run-" in part for part in child.cmdline()):
                return True  # a cold child
            parent = child.parent()
            if parent is not None and _warm_worker(parent) and _warm_worker(child):
                return True  # a process a warm worker forked for a job
        except psutil.Error:  # ended meanwhile
            continue
    return False


def _warm_worker(process) -> bool:  # noqa: ANN001 - a psutil.Process
    return any("grader-pool-" in part for part in process.cmdline())


def test_unreachable_scheduler_is_a_message_not_a_traceback(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "grader.cli", "grade", "convolve-by-hand", str(EXAMPLES),
         "--out", str(tmp_path / "out"), "--scheduler", f"tcp://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "out").exists()  # nothing planned or written


def test_help_and_local_grading_never_import_dask(tmp_path):
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from grader.cli import main\n"
        "from grader.grading import GradeOptions, open_runner\n"
        "assert CliRunner().invoke(main, ['--help']).exit_code == 0\n"
        f"with open_runner(GradeOptions(out=sys.argv[1], sandbox={SANDBOX!r})):\n"
        "    pass\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def result(self):  # noqa: ANN201 - a stand-in for a Dask future
        raise self.error


def test_a_failed_task_is_a_submission_not_graded():
    from distributed import KilledWorker

    runner = ClusterRunner("tcp://127.0.0.1:1")
    runner.client = SimpleNamespace(status="running")
    killed = runner._receive(_Failed(KilledWorker("grade-x", SimpleNamespace(address="w"), 3)))
    assert isinstance(killed, str) and killed.startswith("not graded: every Dask worker")
    broken = runner._receive(SimpleNamespace(result=lambda: (b"{}", b"not an npz")))
    assert isinstance(broken, str) and "internal grader error on a Dask worker" in broken


def test_observations_travel_as_the_stored_bytes():
    import numpy as np

    observations = Observations(
        submission="s", cells=[CellRecord(index=0, status="ok", output="hi")],
        probes={"k": ProbeRecord(key="k", status="ok", value=(np.arange(3.0), {"a": 1}))},
        timings={"execute": 1.0})
    document, arrays = observations.to_bytes()
    back = Observations.from_bytes(document, arrays)
    assert back.cells == observations.cells and back.timings == observations.timings
    value = back.probes["k"].value
    assert value[1] == {"a": 1} and np.array_equal(value[0], np.arange(3.0))
