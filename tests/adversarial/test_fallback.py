"""Without namespaces: what the fallback still guarantees.

Where bubblewrap cannot run (not installed, or a container that refuses namespaces, as
Gradescope's may), notebooks run without a PID namespace. A supervisor that is a subreaper
(grader.child.reaper) must still end every process a notebook started, however it detached
(new session, double fork, nohup, ignored signals), cold or forked by a warm worker. As root,
the notebook runs as uid 65534: it cannot read root-only files nor write outside its scratch
folder. ``GRADER_NO_NAMESPACES=1`` makes this machine behave as one without namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from grader.execution import sandbox as sandbox_module
from grader.execution import users
from grader.execution.sandbox import NO_NAMESPACES, detect
from grader.grading import GradeOptions, grade
from tests.conftest import EXAMPLES

#: Ways a notebook detaches a process from itself, each with a marker to find it by.
DAEMONS = {
    "setsid-shell": "import subprocess\n"
                    "subprocess.Popen(['setsid', 'sh', '-c', 'sleep {marker} & sleep {marker}'])",
    "double-fork": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                   "        os.execvp('sleep', ['sleep', '{marker}'])\n    os._exit(0)\n"
                   "os.wait()",
    "nohup-disown": "import subprocess\nsubprocess.run(['sh', '-c', 'nohup sleep {marker} "
                    ">/dev/null 2>&1 & disown; exit 0'])",
    "deaf-to-signals": "import subprocess\nsubprocess.Popen(['setsid', 'sh', '-c', "
                       "\"trap '' TERM HUP INT; sleep {marker} & sleep {marker}\"], "
                       "start_new_session=True)",
    "forks-while-dying": "import subprocess\nsubprocess.Popen(['setsid', 'sh', '-c', "
                         "'while true; do sleep {marker} & sleep 0.05; done'])",
}


def _marker(name: str) -> str:
    return str(4000 + sorted(DAEMONS).index(name))


def _supervised(script: str) -> int:
    """Run ``script`` under the supervisor a child without namespaces gets, as the executor
    starts it (in its own process: the supervisor makes itself a subreaper)."""
    command = sandbox_module.Sandbox("none").wrap([sys.executable, "-c", script], Path("."))
    return subprocess.run(command, timeout=60, start_new_session=True).returncode


def _left(marker: str) -> str:
    return subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.parametrize("name", sorted(DAEMONS))
def test_the_supervisor_ends_every_detached_process(name, tmp_path):
    marker = _marker(name)
    script = DAEMONS[name].format(marker=marker) + "\nimport time\ntime.sleep(0.5)\n"
    assert _supervised(script) == 0
    assert _left(marker) == ""


def test_the_supervisor_reports_the_exit_as_a_shell_would():
    assert _supervised("import sys; sys.exit(3)") == 3
    assert _supervised("import os; os.kill(os.getpid(), 9)") == 128 + 9


def test_a_supervisor_asked_to_stop_ends_everything_first():
    """What the executor does at a time limit: SIGTERM to the supervisor, not the group."""
    marker = "4099"
    command = sandbox_module.Sandbox("none").wrap(
        [sys.executable, "-c", f"import subprocess, time\nsubprocess.Popen(['setsid', 'sleep', "
                               f"'{marker}'])\ntime.sleep(600)"], Path("."))
    process = subprocess.Popen(command, start_new_session=True)
    try:
        for _ in range(200):
            if _left(marker):
                break
            time.sleep(0.05)
        assert _left(marker), "the daemon did not start"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM
        assert _left(marker) == ""
    finally:
        process.kill()


@pytest.fixture
def no_namespaces(monkeypatch):
    monkeypatch.setenv(NO_NAMESPACES, "1")
    detect.cache_clear()
    yield detect("auto")
    monkeypatch.delenv(NO_NAMESPACES)
    detect.cache_clear()


def test_without_namespaces_strict_refuses_and_auto_says_what_it_gives(no_namespaces):
    with pytest.raises(sandbox_module.SandboxUnavailableError, match=NO_NAMESPACES):
        detect("strict")
    assert not no_namespaces.isolated
    described = sandbox_module.describe_sandbox(no_namespaces)
    if no_namespaces.kind == "unprivileged":
        assert "UNPRIVILEGED USER" in described and os.geteuid() == 0
    else:
        assert "NO ISOLATION" in described
    assert "every process they start is ended with them" in described


@pytest.mark.slow
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_graded_without_namespaces_no_daemon_outlives_its_notebook(no_namespaces, warm,
                                                                   assignment, tmp_path):
    """The reference with each daemon appended earns exactly the reference's 20 points, and
    nothing it started is left once the batch is graded."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, attack in DAEMONS.items():
        notebook = nbformat.read(str(EXAMPLES / "reference.ipynb"), as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(attack.format(marker=_marker(name))))
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))
    run = grade(assignment, [folder], GradeOptions(out=tmp_path / "out", jobs=2, seed=7,
                                                   sandbox="auto", warm=warm))
    assert run.sandbox is not None and run.sandbox.kind == no_namespaces.kind
    assert {Path(r.path).stem: r.score for r in run.results} == {name: 20.0 for name in DAEMONS}
    assert {name: _left(_marker(name)) for name in DAEMONS} == {name: "" for name in DAEMONS}


#: Run as root under a Python every user can read (see _readable_python): the fallback as
#: Gradescope's container gets it. Prints what the notebook could do, cold and warm.
UNPRIVILEGED = textwrap.dedent('''
    import json, os, sys, tempfile
    from pathlib import Path
    from grader.execution.sandbox import detect
    from grader.execution.executor import child_environment, execute
    from grader.execution.pool import WarmPool
    from grader.plan.harness import Harness
    from grader.checks.namespaces import LiveNamespace, ReplayNamespace
    from grader.spec import Limits
    from grader.spec.notebook import CodeCell

    secret, outside = sys.argv[1], sys.argv[2]
    source = f"""
    import os, subprocess
    facts = {{"uid": os.getuid(), "groups": os.getgroups()}}
    try:
        open({secret!r}).read()
        facts["secret"] = "readable"
    except OSError as error:
        facts["secret"] = type(error).__name__
    try:
        open({outside!r} + "/written", "w")
        facts["write_outside"] = "allowed"
    except OSError as error:
        facts["write_outside"] = type(error).__name__
    facts["no_new_privs"] = [l.split()[1] for l in open("/proc/self/status")
                             if l.startswith("NoNewPrivs")]
    subprocess.Popen(["setsid", "sh", "-c", "sleep 4321 & sleep 4321"])
    """
    chosen = detect("auto")
    limits = Limits(cell_timeout=20, probe_timeout=5, notebook_timeout=60, memory_mb=1024)
    out = {"kind": chosen.kind}
    for mode in ("cold", "warm"):
        planner = LiveNamespace("student", {}, {})
        try:
            planner.value("facts")
        except Exception:
            pass
        harness = Harness(plan=planner.plan)
        cells = [CodeCell(0, 0, source)]
        if mode == "cold":
            observations = execute("t", cells, harness, limits, chosen)
        else:
            environment = child_environment(Path(tempfile.gettempdir()))
            with WarmPool(chosen, 1, (), environment) as pool:
                observations = execute("t", cells, harness, limits, chosen, pool)
        out[mode] = ReplayNamespace("student", observations.probes).value("facts")
    print(json.dumps(out))
''')


def _traversable(path: Path) -> bool:
    """Whether uid 65534 may walk down to ``path`` (every folder on the way lets others in)."""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in [path, *path.parents])


def _readable_python() -> list[str] | None:
    """A command prefix that runs this Python from a path uid 65534 may traverse: itself,
    or its installation bound (in a private mount namespace) to a folder under /tmp."""
    prefix = Path(sys.prefix).resolve()
    if _traversable(prefix):
        return [sys.executable]
    if shutil.which("unshare") is None:
        return None
    view = Path(tempfile.mkdtemp(prefix="grader-python-view-"))
    view.chmod(0o755)
    (view / "prefix").mkdir(mode=0o755)
    executable = view / "prefix" / Path(sys.executable).resolve().relative_to(prefix)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" "$1" && shift && exec "$@"', str(prefix), str(view / "prefix"),
            str(executable)]


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged fallback needs root")
def test_as_root_without_namespaces_the_notebook_is_an_unprivileged_user(tmp_path):
    package = Path(sandbox_module.PACKAGE_DIR)
    if not _traversable(package):
        pytest.skip(f"uid 65534 cannot reach the grader's source at {package}")
    python = _readable_python()
    if python is None:
        pytest.skip("Python lives where uid 65534 cannot read it, and unshare is missing")
    private = Path(tempfile.mkdtemp(prefix="grader-secret-"))
    private.chmod(0o755)  # others may enter; the file itself is root's alone
    (private / "plan.json").write_text("the reference's answers")
    (private / "plan.json").chmod(0o600)
    script = tmp_path / "unprivileged.py"
    script.write_text(UNPRIVILEGED)
    try:
        done = subprocess.run([*python, str(script), str(private / "plan.json"), str(private)],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              env={**os.environ, NO_NAMESPACES: "1"})
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no private mount namespace to stage a readable Python: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["kind"] == "unprivileged"
    for mode in ("cold", "warm"):
        facts = found[mode]
        # 65534, or the next user down when 65534 is busy (another grader's bubblewrap child)
        assert facts["uid"] in users.candidates() and facts["groups"] == []
        assert facts["secret"] == "PermissionError"
        assert facts["write_outside"] == "PermissionError"
        assert facts["no_new_privs"] == ["1"]
    assert _left("4321") == ""


def test_doctor_says_which_protection_is_in_force(no_namespaces):
    from click.testing import CliRunner

    from grader.cli import main

    done = CliRunner().invoke(main, ["doctor"])
    line = next(line for line in done.output.splitlines() if line.startswith("protection"))
    if no_namespaces.kind == "unprivileged":
        assert done.exit_code == 2 and "unprivileged user (uid 65534)" in line
    else:
        assert done.exit_code == 1 and line.split()[-1] == "none"
    assert "NO_NAMESPACES" in done.output  # the reason is shown
