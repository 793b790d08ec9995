"""Isolation: what a notebook can reach under bubblewrap, and the fallback without it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.authoring import StudentError
from grader.checks.namespaces import LiveNamespace, ReplayNamespace
from grader.execution import sandbox as sandbox_module
from grader.execution.executor import child_environment, execute
from grader.execution.pool import WarmPool
from grader.execution.sandbox import Sandbox, SandboxUnavailableError, detect
from grader.plan.harness import Harness
from grader.spec import Limits
from grader.spec.notebook import CodeCell
from tests.conftest import REFERENCE

LIMITS = Limits(cell_timeout=10, probe_timeout=2, notebook_timeout=60, memory_mb=1024)
REQUIRED = os.environ.get("GRADER_REQUIRE_SANDBOX") == "1"  # set by CI: never skip there


@pytest.fixture(scope="module", params=["cold", "warm"])
def isolated(request, tmp_path_factory):
    """The sandbox, with children started cold or forked by a warm worker (same guarantees)."""
    chosen = detect("auto")
    if not chosen.isolated:
        if REQUIRED:
            pytest.fail(f"isolation required but unavailable: {chosen.reason}")
        pytest.skip(f"bubblewrap unavailable: {chosen.reason}")
    if request.param == "cold":
        yield Launch(chosen)
        return
    problem = WarmPool.unusable(chosen)
    if problem:
        pytest.skip(problem)
    with WarmPool(chosen, 1, (), child_environment(tmp_path_factory.mktemp("warm"))) as pool:
        yield Launch(chosen, pool)


@dataclass
class Launch:
    sandbox: Sandbox
    pool: WarmPool | None = None


def observe(source: str, name: str, launch: Launch) -> object:
    planner = LiveNamespace("student", {}, {})
    with pytest.raises(StudentError):
        planner.value(name)
    observations = execute("t", [CodeCell(0, 0, source)], Harness(plan=planner.plan), LIMITS,
                           launch.sandbox, launch.pool)
    return ReplayNamespace("student", observations.probes).value(name)


PROBE = """
import os, socket
facts = {"uid": os.getuid()}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    facts["network"] = "open"
except OSError as error:
    facts["network"] = type(error).__name__
for label, path in [("reference", REFERENCE_PATH), ("shadow", "/etc/shadow"),
                    ("home", os.path.expanduser("~root/.bashrc"))]:
    try:
        open(path).read(1)
        facts[label] = "readable"
    except OSError as error:
        facts[label] = type(error).__name__
try:
    open(OUTSIDE, "w")
    facts["write_outside"] = "allowed"
except OSError as error:
    facts["write_outside"] = type(error).__name__
open("inside-scratch.txt", "w").write("ok")
facts["no_new_privs"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")]
"""


def probe_source(outside: str) -> str:
    return f"REFERENCE_PATH = {str(REFERENCE)!r}\nOUTSIDE = {outside!r}\n" + PROBE


def test_isolated_child_has_no_network_no_secrets_and_writes_only_its_scratch(isolated):
    # a read-only bound folder: visible to the child, never writable by it
    outside = str(Path(sandbox_module.__file__).parent / "grader-probe")
    facts = observe(probe_source(outside), "facts", isolated)
    assert not Path(outside).exists()
    assert facts["network"] != "open"
    assert facts["reference"] == "FileNotFoundError"
    assert facts["shadow"] in ("PermissionError", "FileNotFoundError")
    assert facts["home"] in ("PermissionError", "FileNotFoundError")
    assert facts["write_outside"] in ("PermissionError", "OSError")
    if os.geteuid() == 0:
        assert facts["uid"] == sandbox_module.CHILD_UID
    assert facts["no_new_privs"] == ["1"]


def test_daemons_that_escape_the_process_group_die_with_the_sandbox(isolated):
    source = ("import subprocess\n"
              "subprocess.Popen(['setsid', 'sh', '-c', 'sleep 3217 & sleep 3217'])\nstarted = True")
    assert observe(source, "started", isolated) is True
    leftover = subprocess.run(["pgrep", "-f", "sleep 3217"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


@pytest.mark.slow
def test_fork_bomb_is_contained(isolated):
    if os.geteuid() != 0:
        pytest.skip("process limits per uid apply when the child drops root")
    source = ("import os\ncount = 0\ntry:\n    for _ in range(5000):\n"
              "        if os.fork() == 0:\n            import time; time.sleep(30); os._exit(0)\n"
              "        count += 1\nexcept OSError as error:\n    stopped = type(error).__name__\n")
    assert observe(source, "stopped", isolated) == "BlockingIOError"


def test_fallback_grades_without_isolation_and_says_so(tmp_path):
    chosen = detect("off")
    assert not chosen.isolated
    assert "NO ISOLATION" in sandbox_module.describe_sandbox(chosen)
    facts = observe(probe_source(str(tmp_path / "outside")), "facts", Launch(chosen))
    assert facts["reference"] == "readable"  # exactly why the fallback warns loudly


def test_strict_mode_refuses_when_bubblewrap_is_missing(monkeypatch):
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    monkeypatch.delenv(sandbox_module.NO_NAMESPACES, raising=False)
    detect.cache_clear()
    try:
        with pytest.raises(SandboxUnavailableError, match="not installed"):
            detect("strict")
        fallback = detect("auto")
        assert "bubblewrap (bwrap) is not installed" in fallback.reason
        # as root, the unprivileged fallback when uid 65534 can run this Python
        assert fallback.kind == "none" if os.geteuid() != 0 else fallback.kind != "bubblewrap"
    finally:
        detect.cache_clear()


LEFTOVERS = """
import os, subprocess
found = {"tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm")),
         "processes": sorted(p for p in os.listdir("/proc") if p.isdigit()),
         "jobs": sorted(os.listdir(os.path.dirname(os.getcwd())))}
for path in ("/tmp/left-behind", "/dev/shm/left-behind", "../left-behind"):
    try:
        open(path, "w").write("from an earlier submission")
    except OSError:
        pass
subprocess.Popen(["sh", "-c", "sleep 3119"], start_new_session=True)
"""


def test_each_submission_starts_clean_even_from_a_warm_worker(isolated):
    """What one submission leaves behind (files in /tmp and /dev/shm, a process, a file
    beside its scratch folder) is not there for the next one, cold or warm; the process list
    shows only the job's own init and notebook process; no other job folder is visible."""
    first = observe(LEFTOVERS, "found", isolated)
    second = observe(LEFTOVERS, "found", isolated)
    for found in (first, second):
        # /tmp holds only the path down to the job's own scratch folder (and, when the grader
        # or its Python live under /tmp, their read-only folders)
        assert "left-behind" not in found["tmp"] and "left-behind" not in found["shm"]
        assert len([name for name in found["tmp"] if name.startswith("grader-run")]) <= 1
        assert found["processes"] == ["1", "2"]
        # beside the scratch folder: no other job's folder (cold: grader-run-*, warm: run-*),
        # only the worker's $HOME link to it (warm) and read-only folders living under /tmp
        jobs = [name for name in found["jobs"] if name.startswith(("grader-run-", "run-"))]
        assert "left-behind" not in found["jobs"] and len(jobs) == 1
    leftover = subprocess.run(["pgrep", "-f", "sleep 3119"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
