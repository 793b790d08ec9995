"""run_autograder in the container Gradescope really gives: 768 MB, half a CPU, no namespaces.

For each assignment: build its bundle (``grader gradescope``, which runs the reference once,
here), lay it out as Gradescope does in a simulated ``/autograder`` root (the zip unzipped
into ``source/``, then setup.sh's own steps: the grader copied to ``grader/``, the bundle made
root-only, its self-test), and run the bundle's ``run_autograder`` on the reference and on
attack notebooks, inside a cgroup capped at ``--memory-mb`` (``memory.max``) and ``--cpus``
(``cpu.max`` "50000 100000"), with ``GRADER_NO_NAMESPACES=1`` (bubblewrap unusable, as under
Docker's default seccomp profile). Prints, per assignment, the medians of ``--runs`` runs:
the cgroup's peak memory, the wall time and the score.

    python benchmarks/gradescope_container.py [ASSIGNMENT...] [--runs 3] [--memory-mb 768]
        [--cpus 0.5] [--sandbox auto|off] [--no-attacks] [--keep DIR]

Needs root and a writable cgroup filesystem: cgroup v2 (``/sys/fs/cgroup``) or v1
(``memory`` and ``cpu`` hierarchies); the cgroups are made below this process's own. The
simulated root lives under /tmp (every user must traverse it, as ``/autograder``). Where
Python lives under a folder only root may enter (``/root/.pyenv``), each run gets a private
mount namespace in which that folder is a 0711 tmpfs showing only Python's folder, so the
notebook's unprivileged process can start Python, as it can in Gradescope's image.

Timings on a shared machine are noisy (other work on the same cores): say so with figures.
``tests/test_gradescope_container.py`` uses the helpers below.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
#: A process a notebook leaves behind is recognised by this argument.
DAEMON_MARK = "4242.4242"


# --- the cgroup --------------------------------------------------------------------------------

@dataclass
class Cgroup:
    """A memory and CPU cgroup below this process's own (v2, or v1's two hierarchies)."""

    memory: Path
    cpu: Path
    version: int

    @classmethod
    def create(cls, name: str, memory_mb: int, cpus: float) -> Cgroup:
        """Raises OSError (with the reason) where cgroups cannot be made here."""
        own = _own_cgroups()
        limit, quota = memory_mb * 2**20, int(cpus * 100_000)
        if "" in own and Path("/sys/fs/cgroup/cgroup.controllers").is_file():
            folder = Path("/sys/fs/cgroup") / own[""].lstrip("/") / name
            folder.mkdir(exist_ok=True)
            (folder / "memory.max").write_text(str(limit))
            _write_if(folder / "memory.swap.max", "0")
            (folder / "cpu.max").write_text(f"{quota} 100000")
            return cls(folder, folder, 2)
        memory = Path("/sys/fs/cgroup/memory") / own.get("memory", "/").lstrip("/") / name
        cpu = Path("/sys/fs/cgroup/cpu") / own.get("cpu", own.get("cpu,cpuacct", "/")).lstrip("/") / name
        for folder in (memory, cpu):
            folder.mkdir(exist_ok=True)
        (memory / "memory.limit_in_bytes").write_text(str(limit))
        _write_if(memory / "memory.memsw.limit_in_bytes", str(limit))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text(str(quota))
        return cls(memory, cpu, 1)

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started inside the cgroup (it joins, then execs)."""
        joins = " ".join(f"echo $$ > {shlex_quote(str(f / 'cgroup.procs'))};"
                         for f in dict.fromkeys((self.memory, self.cpu)))
        return ["bash", "-c", f'{joins} exec "$@"', "_", *command]

    def reset_peak(self) -> None:
        if self.version == 1:
            _write_if(self.memory / "memory.max_usage_in_bytes", "0")
        else:
            _write_if(self.memory / "memory.peak", "0")  # kernels from 6.12 reset it so

    def peak_mb(self) -> float:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return int((self.memory / name).read_text().split()[0]) / 2**20

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in (self.memory / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        for folder in dict.fromkeys((self.memory, self.cpu)):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # processes still leaving


def _own_cgroups() -> dict[str, str]:
    found = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def _write_if(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError:
        pass


def cgroup_problem() -> str | None:
    """Why no cgroup can be made here (None: it can)."""
    if os.geteuid() != 0:
        return "not root: cannot make cgroups"
    try:
        group = Cgroup.create(f"grader-probe-{os.getpid()}", 768, 0.5)
    except OSError as exc:
        return f"cannot make a memory and CPU cgroup here ({exc})"
    group.remove()
    return None


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# --- the simulated /autograder -----------------------------------------------------------------

def simulated_root() -> Path:
    """A fresh folder under /tmp every user may traverse (as /autograder is)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-", dir="/tmp"))
    root.chmod(0o755)
    return root


def lay_out(archive: Path, root: Path) -> None:
    """The zip as Gradescope lays it out, then setup.sh's steps that are the grader's own
    (the system packages and the venv are this machine's): the grader's source copied to
    ``root/grader`` for every user to read, the bundle locked and self-tested."""
    shutil.rmtree(root / "source", ignore_errors=True)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    shutil.rmtree(root / "grader", ignore_errors=True)
    shutil.copytree(root / "source" / "grader", root / "grader")
    for folder, _, files in os.walk(root / "grader"):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    (root / "submission").mkdir(exist_ok=True)
    done = subprocess.run(visible_python([sys.executable, "-m", "grader.tools.gradescope", "setup",
                                          "--root", str(root)]),
                          env=environment(root), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"setup failed:\n{done.stderr[-3000:]}")


def environment(root: Path, no_namespaces: bool = True) -> dict[str, str]:
    """run_autograder's environment in the simulation: this machine's Python, the bundle's
    grader; nothing of the caller's grader settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GRADER_") and k not in ("XDG_CACHE_HOME", "PYTHONPATH")}
    env.update(AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable,
               PYTHONPATH=str(root / "grader"))
    if no_namespaces:
        env["GRADER_NO_NAMESPACES"] = "1"
    return env


def _python_places() -> list[Path]:
    """Where this Python lives: the venv (``sys.prefix``), and the installation its
    interpreter links to (``sys.base_prefix``, the executable's real path)."""
    places = [Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent]
    return list(dict.fromkeys(p.resolve() for p in places))


def _closed_of(place: Path) -> Path | None:
    return next((p for p in reversed(place.parents) if p != Path("/")
                 and not os.stat(p).st_mode & 0o001), None)


def _closed_ways() -> dict[Path, list[str]]:
    """Each folder above Python's places that other users cannot enter, with the first
    component below it that leads to Python (a venv under /root/x and its interpreter under
    /root/.pyenv: both shown)."""
    ways: dict[Path, list[str]] = {}
    for place in _python_places():
        closed = _closed_of(place)
        if closed is not None:
            keep = place.relative_to(closed).parts[0]
            if keep not in ways.setdefault(closed, []):
                ways[closed].append(keep)
    return ways


def _closed_folder() -> Path | None:
    """The first folder above Python's installation that other users cannot enter."""
    return next(iter(_closed_ways()), None)


def python_problem() -> str | None:
    """Why uid 65534 cannot be given this Python here (None: it can)."""
    if _closed_folder() is None:
        return None
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return (f"Python lives under {_closed_folder()}, closed to other users, and no mount "
                f"namespace can open a way to it ({done.stderr.strip()[-200:]})")
    return None


def visible_python(command: list[str]) -> list[str]:
    """``command`` run where every user can start this Python: if a folder above it is
    closed to others (/root, 0700), a private mount namespace puts a 0711 tmpfs there that
    shows only the way to Python (nothing else of that folder)."""
    ways = _closed_ways()
    if not ways:
        return command
    steps = []
    for closed, keeps in ways.items():
        steps.append(f"hold=$(mktemp -d); mount --bind {closed} $hold; "
                     f"mount -t tmpfs -o mode=0711 tmpfs {closed}; ")
        steps += [f"mkdir {closed}/{keep}; mount --bind $hold/{keep} {closed}/{keep}; " for keep in keeps]
        steps.append("umount -l $hold; ")
    script = "set -e; " + "".join(steps) + 'exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "bash", "-c", script, "_", *command]


@dataclass
class Outcome:
    score: float | None
    seconds: float
    peak_mb: float | None
    oom_kills: int
    returncode: int
    results: dict = field(default_factory=dict)
    stderr: str = ""


def run_autograder(root: Path, notebook: Path, cgroup: Cgroup | None = None,
                   sandbox: str = "auto", no_namespaces: bool = True,
                   timeout: float = 1200, extra_env: dict[str, str] | None = None) -> Outcome:
    """One submission through the bundle's run_autograder (the script itself for ``auto``)."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    shutil.copy(notebook, root / "submission" / notebook.name)
    if sandbox == "auto":
        command = ["bash", str(root / "source" / "run_autograder")]
    else:
        manifest = json.loads((root / "source/private/bundle.json").read_text())
        command = [sys.executable, "-m", "grader.tools.gradescope", "run-autograder",
                   manifest["assignment"], "--root", str(root), "--bundle",
                   str(root / "source/private"), "--sandbox", sandbox]
    command = visible_python(command)
    if cgroup is not None:
        cgroup.reset_peak()
        command = cgroup.wrap(command)
    started = time.perf_counter()
    env = {**environment(root, no_namespaces), **(extra_env or {})}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    path = root / "results" / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    return Outcome(results.get("score"), seconds, cgroup.peak_mb() if cgroup else None,
                   cgroup.oom_kills() if cgroup else 0, done.returncode, results, done.stderr)


# --- attack notebooks --------------------------------------------------------------------------

def with_cell(base: Path, source: str, out: Path) -> Path:
    """``base`` with one more code cell at its end."""
    notebook = nbformat.read(str(base), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(out))
    return out


def read_the_bundle(root: Path) -> str:
    """Reads every file it can under the root (the bundle, the plan, the checks, the work
    folder; and, as a control, the grader's public code) and prints what it could read."""
    return f"""
import json, os
found = []
for top in ({str(root / 'source')!r}, {str(root / 'grader-work')!r}, {str(root / 'results')!r},
            {str(root / 'grader' / 'grader' / 'child')!r}):
    for folder, folders, files in os.walk(top):
        for name in files:
            try:
                with open(os.path.join(folder, name), 'rb') as handle:
                    handle.read(16)
                found.append(os.path.join(folder, name))
            except OSError:
                pass
print('READABLE ' + json.dumps(found))
"""


def write_the_results(root: Path, pid_file: str = "/tmp/grader-forger.pid") -> str:
    """Writes a perfect results.json, and leaves a process that keeps writing it (its pid
    in ``pid_file``)."""
    return f"""
import json, os, time
fake = json.dumps({{'score': 1000, 'output': 'forged'}})
path = {str(root / 'results' / 'results.json')!r}
outcome = []
try:
    with open(path, 'w') as handle:
        handle.write(fake)
    outcome.append('wrote')
except OSError as exc:
    outcome.append(type(exc).__name__)
if os.fork() == 0:
    os.setsid()
    with open({pid_file!r}, 'w') as handle:
        handle.write(str(os.getpid()))
    for _ in range(1200):
        try:
            with open(path, 'w') as handle:
                handle.write(fake)
        except OSError:
            pass
        time.sleep(0.05)
    os._exit(0)
print('RESULTS ' + ','.join(outcome))
"""


LEAVE_A_PROCESS = f"""
import os, subprocess
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        subprocess.Popen(['sleep', '{DAEMON_MARK}'], start_new_session=True)
        os.execvp('sleep', ['sleep', '{DAEMON_MARK}'])
    os._exit(0)
print('LEFT A PROCESS')
"""


def processes_with(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# --- the benchmark -----------------------------------------------------------------------------

def build(name: str, folder: Path, seed: int) -> Path:
    from grader.spec import load_assignment
    from grader.tools.gradescope import write_gradescope_bundle

    return write_gradescope_bundle(load_assignment(name), folder, seed=seed)


#: Memory sizes tried in turn when the reference does not earn full marks in the default
#: container (Gradescope's Autograder Settings raise it), at the same CPU quota.
SIZES = (768, 1536, 3072, 6144)


def measure(name: str, args: argparse.Namespace, work: Path) -> list[str]:
    """The reference's runs (and attacks) in the smallest size from ``--memory-mb`` up where
    it earns full marks; a row for each size that was too small."""
    from grader.spec import load_assignment

    spec = load_assignment(name)
    started = time.perf_counter()
    archive = build(name, work / f"bundle-{name}", args.seed)
    built = time.perf_counter() - started
    root = simulated_root()
    lay_out(archive, root)
    maximum = json.loads((root / "source/private/bundle.json").read_text())["self_test"]["max_score"]
    rows = []
    try:
        for size in [args.memory_mb, *(s for s in SIZES if s > args.memory_mb)]:
            group = Cgroup.create(f"grader-bench-{os.getpid()}-{name}", size, args.cpus)
            try:
                runs = [run_autograder(root, spec.reference, group, args.sandbox)]
                fits = runs[0].score == maximum and runs[0].oom_kills == 0
                runs += [run_autograder(root, spec.reference, group, args.sandbox)
                         for _ in range(args.runs - 1) if fits]
                rows.append(_row(name, "reference", runs, size, maximum, built))
                if fits:
                    if args.attacks:
                        rows += _attacks(name, spec, root, group, size, args, work)
                    break
            finally:
                group.remove()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"# {name}: simulated root kept in {root}")
    return rows


def _attacks(name: str, spec, root: Path, group: Cgroup, size: int, args: argparse.Namespace,
             work: Path) -> list[str]:
    """The attack notebooks: the template reading the bundle and writing the results (0
    expected), the reference leaving a process behind (full marks, none left)."""
    notebooks = {"read-the-bundle": read_the_bundle(root), "write-the-results": write_the_results(root),
                 "leave-a-process": LEAVE_A_PROCESS}
    rows = []
    for attack, cell in notebooks.items():
        base = spec.reference if attack == "leave-a-process" else spec.notebook
        notebook = with_cell(base, cell, work / name / attack / base.name)
        outcome = run_autograder(root, notebook, group, args.sandbox)
        observed = []
        for line in _outputs(root).splitlines():
            if line.startswith("READABLE "):
                read = json.loads(line.removeprefix("READABLE "))
                secret = [p for p in read if not p.startswith(str(root / "grader"))]
                observed.append(f"read {len(secret)} files of the bundle, work or results folders "
                                f"(and {len(read) - len(secret)} of the grader's public code)")
            elif line.startswith(("RESULTS", "LEFT")):
                observed.append(line)
        rows.append(_row(name, attack, [outcome], size, None, None)
                    + f"  left running: {len(processes_with(DAEMON_MARK))}; {'; '.join(observed)}")
    return rows


def _outputs(root: Path) -> str:
    found = list((root / "grader-work" / "submissions").glob("*/observations.json"))
    if not found:
        return ""
    return "\n".join(c.get("output", "") for c in json.loads(found[0].read_text())["cells"])


def _row(name: str, notebook: str, runs: list[Outcome], size: int, maximum: float | None,
         built: float | None) -> str:
    peak = statistics.median(r.peak_mb or 0 for r in runs)
    seconds = statistics.median(r.seconds for r in runs)
    scores = "/".join(f"{r.score:g}" if r.score is not None else "-" for r in runs)
    if maximum is not None:
        scores += f" of {maximum:g}"
    ooms = sum(r.oom_kills for r in runs)
    isolation = (runs[-1].results.get("extra_data") or {}).get("isolation", "-").split(" (")[0]
    row = (f"{name:17} {notebook:18} {size:6d} {peak:8.0f} {seconds:7.1f} {scores:>16} {ooms:4d}  "
           f"{isolation}")
    if built is not None:
        row += f"  (bundle built in {built:.0f} s)"
    failed = [r for r in runs if r.returncode != 0 or r.score is None]
    if failed:
        row += f"\n    FAILED: {failed[-1].results.get('output', '')[:300]} {failed[-1].stderr[-500:]}"
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*",
                        default=["convolve-by-hand", "build-cnn", "facial-detection"])
    parser.add_argument("--runs", type=int, default=3, help="runs of the reference (median)")
    parser.add_argument("--memory-mb", type=int, default=768)
    parser.add_argument("--cpus", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sandbox", choices=["auto", "off"], default="auto",
                        help="auto: GRADER_NO_NAMESPACES=1, the unprivileged fallback; off: none")
    parser.add_argument("--no-attacks", dest="attacks", action="store_false")
    parser.add_argument("--keep", type=Path, default=None, help="keep the bundles here")
    args = parser.parse_args()
    problem = cgroup_problem() or python_problem()
    if problem:
        print(f"cannot measure: {problem}", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="gradescope-bench-"))
    print(f"# {args.memory_mb} MB, {args.cpus:g} CPU, sandbox {args.sandbox}, "
          f"medians of {args.runs} runs; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'assignment':17} {'notebook':18} {'MB cap':>6} {'peak MB':>8} {'wall s':>7} {'scores':>16} "
          f"{'oom':>4}  isolation")
    for name in args.assignments:
        for row in measure(name, args, work):
            print(row, flush=True)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
