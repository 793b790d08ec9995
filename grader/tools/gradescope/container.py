"""The bundle in Gradescope's container: ``setup`` (lock the bundle, test it) and
``run_autograder`` (grade one submission with the shipped plan only, under the protection
this container allows, and write results.json after the notebook has gone). See
``grader.tools.gradescope``."""


from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.spec import Assignment, Limits
from grader.spec.shipped import ShippedAssignment
from grader.tools.gradescope.build import MANIFEST, NOTEBOOK_CAP, PRIVATE, BrokenBundleError, spec_digest


@dataclass(frozen=True)
class Bundle:
    """A bundle's private folder, checked: its manifest, files and plan are all there."""

    private: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, private: Path) -> Bundle:
        try:
            manifest = json.loads((private / MANIFEST).read_text(encoding="utf-8"))
            manifest["plan"], manifest["seed"], manifest["folder"]  # noqa: B018 - required keys
        except (OSError, ValueError, KeyError) as exc:
            raise BrokenBundleError(f"no readable {MANIFEST} in {private} ({exc})") from exc
        bundle = cls(private, manifest)
        plan = bundle.plan_folder
        if not ((plan / "plan.json").is_file() and (plan / "plan.npz").is_file()):
            raise BrokenBundleError(f"its plan {manifest['plan']} is missing from {plan.parent}; "
                                    "build the bundle again with grader gradescope")
        return bundle

    @property
    def plan_folder(self) -> Path:
        return self.private / "plans" / self.manifest["plan"]

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    def apply_environment(self) -> None:
        """Scoring reads the shipped data: the checks' cache and the data variables; and a
        missing plan is an error, never a run of the reference (planner.NO_PLANNING)."""
        from grader.plan.planner import NO_PLANNING

        os.environ["XDG_CACHE_HOME"] = str(self.private / "cache")
        os.environ[NO_PLANNING] = "1"
        for variable, relative in self.manifest.get("environment", {}).items():
            os.environ[variable] = str(self.private / relative)

    def assignment(self) -> ShippedAssignment:
        from grader.spec import load_assignment

        spec = load_assignment(self.private / self.manifest["folder"])
        if spec_digest(spec) != self.manifest.get("digest"):
            raise BrokenBundleError(f"the files of {spec.name} changed after its plan was made; "
                                    "build the bundle again with grader gradescope")
        values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
        return ShippedAssignment(**values, shipped_fingerprint=self.manifest["fingerprint"])


def verify_bundle(private: Path) -> dict[str, Any]:
    """The bundle's self-test: the reference's answers in the plan, scored as a submission's would be
    (shipped checks, data and plan; no notebook runs). Full marks, or the bundle is broken."""
    from grader.observations import Observations
    from grader.plan.planner import Plan
    from grader.scoring.scorer import score

    bundle = Bundle.open(private)
    bundle.apply_environment()
    spec = bundle.assignment()
    plan = Plan.load(bundle.plan_folder)
    if not plan.answers:
        raise BrokenBundleError("its plan holds no answers of the reference to test it with; build "
                                "the bundle again with grader gradescope")
    answers = Observations("the reference's answers in the plan", probes=dict(plan.answers),
                           plan_id=bundle.manifest["plan"])
    started = time.perf_counter()
    result = score(spec, plan.checks, answers, plan.reference, plan.seed)
    failing = [f"{c.check.name}: {c.message}" for c in result.checks if not c.passed]
    if failing or result.score < result.max_score:
        raise BrokenBundleError("the reference's answers in the plan do not earn full marks with the shipped "
                                "checks and data:\n  " + "\n  ".join(failing))
    return {"score": result.score, "max_score": result.max_score,
            "seconds": round(time.perf_counter() - started, 2)}


def setup_root(root: Path) -> dict[str, Any]:
    """setup.sh's last step, as root: the bundle root-only, the results folder the grader's,
    then the self-test."""
    lock(root)
    return verify_bundle(root / "source" / PRIVATE)


def lock(root: Path) -> None:
    """``root/source`` (the bundle) readable by root only; ``root/results`` writable by root
    only; ``root`` itself open to every user (the venv and the grader's code are under it).
    Without root (a trial run) there is nobody to lock out: nothing changes."""
    if os.geteuid() != 0:
        return
    root.chmod(root.stat().st_mode | 0o755)
    for path in (root / "source", root / "results"):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, 0, 0)
    (root / "source").chmod(0o700)
    (root / "results").chmod(0o755)
    for folder, folders, files in os.walk(root / "source" / PRIVATE):
        for name in [*folders, *files]:
            os.lchown(os.path.join(folder, name), 0, 0)
        os.chmod(folder, 0o700)


def pick_notebook(folder: Path, wanted: str) -> tuple[Path | None, str]:
    """The submitted notebook: the one named like the released notebook, else the only one."""
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    named = [p for p in found if p.name == wanted]
    if named:
        return named[0], ""
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"No notebook (.ipynb) was found in your submission; upload {wanted}."
    names = ", ".join(p.name for p in found[:10])
    return None, f"Your submission has {len(found)} notebooks ({names}); upload only {wanted}."


def run_autograder(assignment_name: str, root: Path, seed: int | None = None,
                   cache: Path | None = None, sandbox: str = "auto",
                   bundle: Path | None = None) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json`` (Gradescope's layout).

    With ``bundle`` (a bundle's private folder) the shipped plan and data are used, and
    nothing else: a missing plan is reported as a broken autograder. Without it (bundles made
    before plans were shipped) the plan is made in ``cache`` if it is not there yet.
    Returns the exit status: 0 when a results.json with a grade was written, 1 when the
    grader itself failed (a results.json saying so is written all the same).
    """
    results = root / "results" / "results.json"
    try:
        if bundle is not None:
            lock(root)
        results.parent.mkdir(parents=True, exist_ok=True)
        if bundle is not None:
            data = _grade_with_bundle(Bundle.open(bundle), root, sandbox)
        else:
            data = _grade_without_bundle(assignment_name, root, seed, cache, sandbox)
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results.json in any case
        broken = "The autograder is broken" if isinstance(exc, BrokenBundleError) else \
            "The autograder failed"
        _write_json(results, {"score": 0.0, "visibility": "visible",
                              "output": f"{broken} ({type(exc).__name__}: {exc}); "
                                        "please tell your instructor."})
        print(f"grader: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _write_json(results, data)  # after the notebook's process and everything it started ended
    return 0


def _grade_with_bundle(bundle: Bundle, root: Path, mode: str) -> dict[str, Any]:
    from grader.execution.sandbox import describe_sandbox, detect

    bundle.apply_environment()
    spec = bundle.assignment()
    notebook, problem = pick_notebook(root / "submission", spec.notebook.name)
    if notebook is None:
        return {"score": 0.0, "output": problem, "visibility": "visible"}
    share = cpu_share()
    spec = dataclasses.replace(spec, limits=scaled_limits(spec.limits, share))
    sandbox = detect(mode)
    if sandbox.kind == "none" and mode != "off":
        raise BrokenBundleError("the notebook would run with the grader's rights, able to read the "
                                f"bundle: {describe_sandbox(sandbox)}")
    print(f"grader: {spec.name}, plan {bundle.manifest['plan']}; {share:g} CPU, notebook time "
          f"limit {spec.limits.notebook_timeout:g} s; {describe_sandbox(sandbox)}", file=sys.stderr)
    work = root / "grader-work"
    shutil.rmtree(work, ignore_errors=True)
    (work / ".plan").mkdir(parents=True, mode=0o700)
    work.chmod(0o700)
    (work / ".plan" / bundle.manifest["plan"]).symlink_to(bundle.plan_folder.resolve())
    return _grade(spec, notebook, work, bundle.seed, mode, warm=False)


def cpu_share() -> float:
    """The CPUs this process may use: its affinity, and its cgroups' CPU quotas (v2
    ``cpu.max``, v1 ``cpu.cfs_quota_us``), at its own level and above."""
    share = float(len(os.sched_getaffinity(0)))
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return share
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue
        mounts = [Path("/sys/fs/cgroup")] if not controllers else \
            [Path("/sys/fs/cgroup") / controllers, Path("/sys/fs/cgroup/cpu")]
        for mount in mounts:
            folder = mount / path.lstrip("/")
            for level in [folder, *folder.parents]:
                share = min(share, _quota(level, v2=not controllers))
                if level == mount:
                    break
    return share


def _quota(folder: Path, v2: bool) -> float:
    """The CPU quota set at one cgroup folder, in CPUs (infinite when none)."""
    try:
        if v2:
            quota, period = (folder / "cpu.max").read_text().split()
        else:
            quota = (folder / "cpu.cfs_quota_us").read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
    except (OSError, ValueError):
        return float("inf")
    return float("inf") if quota in ("max", "-1") else int(quota) / int(period)


def scaled_limits(limits: Limits, share: float) -> Limits:
    """Time limits are wall-clock: under a fraction of a CPU the same work takes longer, so
    they are scaled by 1/share, the notebook's up to NOTEBOOK_CAP (Gradescope's 10 minutes
    less the grader's own time)."""
    if share >= 1:
        return limits
    notebook = max(min(limits.notebook_timeout / share, NOTEBOOK_CAP), limits.notebook_timeout)
    return dataclasses.replace(limits, notebook_timeout=notebook,
                               cell_timeout=min(limits.cell_timeout / share, notebook),
                               probe_timeout=min(limits.probe_timeout / share, notebook))


def _grade_without_bundle(name: str, root: Path, seed: int | None, cache: Path | None,
                          mode: str) -> dict[str, Any]:
    import tempfile

    from grader.spec import load_assignment

    spec = load_assignment(name)
    notebook, problem = pick_notebook(root / "submission", spec.notebook.name)
    if notebook is None:
        return {"score": 0.0, "output": problem, "visibility": "visible"}
    out = cache or Path(tempfile.mkdtemp(prefix="grader-gradescope-"))
    return _grade(spec, notebook, out, seed, mode, warm=True)


def _grade(spec: Assignment, notebook: Path, out: Path, seed: int | None, mode: str,
           warm: bool) -> dict[str, Any]:
    """One submission (a cold child for a bundle: one notebook needs no warm worker)."""
    from grader.grading import GradeOptions, grade
    from grader.report.results_json import RESULTS_FILE, gradescope_json, read_document

    run = grade(spec, [notebook], GradeOptions(out=out, seed=seed, force=True, sandbox=mode,
                                               warm=warm))
    # as the run's reporter wrote it (its causes name the known mistakes and the cells)
    written = read_document(run.out / "submissions" / run.results[0].submission / RESULTS_FILE)
    data = written or gradescope_json(run.results[0], spec.visibility())
    data["extra_data"]["isolation"] = run.isolation
    if run.sandbox is not None:  # what kept the notebook from the bundle, for all to read
        said = f"*Protection while the notebook ran: {run.sandbox.protection}.*"
        data["output"] = f"{data['output']}\n\n{said}" if data.get("output") else said
    return data


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=2).encode())


def main(argv: Sequence[str]) -> int:
    """``python -m grader.tools.gradescope run-autograder|setup|verify ...`` (the bundle's scripts)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.tools.gradescope")
    commands = parser.add_subparsers(dest="command", required=True)
    autograder = commands.add_parser("run-autograder", help="grade a Gradescope submission")
    autograder.add_argument("assignment")
    autograder.add_argument("--root", type=Path, default=Path("/autograder"))
    autograder.add_argument("--bundle", type=Path, default=None,
                            help="the bundle's private folder: grade with its shipped plan only")
    autograder.add_argument("--seed", type=int, default=None)
    autograder.add_argument("--cache", type=Path, default=None)
    autograder.add_argument("--sandbox", choices=["auto", "strict", "off"], default="auto")
    setup = commands.add_parser("setup", help="setup.sh's last step: lock the bundle, test it")
    setup.add_argument("--root", type=Path, default=Path("/autograder"))
    verify = commands.add_parser("verify", help="the bundle's self-test (prints its outcome)")
    verify.add_argument("private", type=Path)
    args = parser.parse_args(list(argv))
    if args.command == "run-autograder":
        return run_autograder(args.assignment, args.root, args.seed, args.cache, args.sandbox,
                              args.bundle)
    try:
        outcome = setup_root(args.root) if args.command == "setup" else verify_bundle(args.private)
    except GraderError as exc:
        print(f"grader: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
