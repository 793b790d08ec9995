"""The plan of a grading run: which probes every submission answers, and the reference's answers.

Made once per (assignment, seed) by running the checks live against the reference notebook
in a separate, trusted process (so the grader's own process never imports what the
reference imports, such as TensorFlow), then cached on disk. Each submission's child gets
only ``Plan.probes`` (hidden inputs); expected outputs stay in ``Plan.reference``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import wire
from grader.errors import PlanError
from grader.files import atomic_write, load_module
from grader.observations import ProbeRecord
from grader.plan.harness import Harness, Probe, ProbePlan, parameters_injection
from grader.results import CheckInfo
from grader.spec import Assignment, load_assignment

PLAN_TIMEOUT = 3600.0
#: Set to 1 where plans are only ever shipped, made elsewhere (a Gradescope bundle's
#: run_autograder): a missing plan is then an error, never a run of the reference.
NO_PLANNING = "GRADER_NO_PLANNING"


@dataclass
class Plan:
    seed: int
    checks: list[CheckInfo] = field(default_factory=list)
    probes: ProbePlan = field(default_factory=ProbePlan)
    reference: dict[str, ProbeRecord] = field(default_factory=dict)
    #: under $HOME -> the file in the plan folder; stored relative to that folder (a plan can
    #: be moved or shipped, as a Gradescope bundle does), absolute in plans made before
    home_files: dict[str, Path] = field(default_factory=dict)
    #: the reference notebook's answers to the probes every submission gets: what a perfect
    #: submission reports (kept only when asked for: a Gradescope bundle's self-test)
    answers: dict[str, ProbeRecord] = field(default_factory=dict)
    id: str = ""  # see plan_id; set when loaded

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        encoder, answers = wire.Encoder(prefix="r"), wire.Encoder(prefix="s")
        data = {
            "seed": self.seed,
            "checks": [asdict(c) for c in self.checks],
            "probes": [asdict(p) for p in self.probes.probes],
            "reference": {k: {**asdict(r), "value": encoder.encode(r.value)}
                          for k, r in self.reference.items()},
            "home_files": {k: _relative(v, folder) for k, v in self.home_files.items()},
            "answers": {k: {**asdict(r), "value": answers.encode(r.value)}
                        for k, r in self.answers.items()},
        }
        atomic_write(folder / "plan.npz", wire.save_arrays({**self.probes.arrays, **encoder.arrays,
                                                            **answers.arrays}))
        atomic_write(folder / "plan.json", json.dumps(data).encode())

    @classmethod
    def load(cls, folder: Path) -> Plan:
        data = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
        arrays = wire.load_arrays((folder / "plan.npz").read_bytes())
        reference: dict[str, ProbeRecord] = {}
        answers: dict[str, ProbeRecord] = {}
        for records, stored in ((reference, data["reference"]), (answers, data.get("answers", {}))):
            for key, record in stored.items():
                record["value"] = wire.decode(record["value"], arrays)
                records[key] = ProbeRecord(**record)
        probes = [Probe(**p) for p in data["probes"]]
        probe_arrays = {k: v for k, v in arrays.items() if k.startswith("p")}
        return cls(seed=data["seed"], checks=[CheckInfo(**c) for c in data["checks"]],
                   probes=ProbePlan(probes, probe_arrays), reference=reference,
                   home_files={k: folder / v for k, v in data["home_files"].items()},
                   answers=answers)

    def harness(self, assignment: Assignment) -> Harness:
        """What each submission's child receives: probes, probe code, prelude, files."""
        return Harness(plan=self.probes, custom_probes=assignment.custom_probes_source(),
                       prelude=assignment.prelude_source(), home_files=dict(self.home_files),
                       parameters=dict(assignment.parameters),
                       forbidden=list(assignment.forbidden.apis))


def _relative(path: Path, folder: Path) -> str:
    """``path`` as stored in plan.json: relative to the plan's folder when inside it."""
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)


def make_plan(assignment: Assignment, seed: int, cache: Path | None = None,
              public_only: bool = False, answers: bool = False) -> Plan:
    """The plan for ``seed``, from ``cache`` when the spec, checks and reference are unchanged.

    A public-only plan (for students' own ``grader check``) holds only the probes of public
    checks, so no hidden input ever reaches a student's machine's notebook process. With
    ``answers``, a plan made here also keeps the reference's answers to those probes
    (``Plan.answers``); one found in ``cache`` is used as it is.
    """
    folder = (cache or Path(tempfile.mkdtemp(prefix="grader-plan-")))
    folder = folder / plan_id(assignment, seed, public_only)
    if not (folder / "plan.json").is_file():
        if os.environ.get(NO_PLANNING) == "1":
            raise PlanError(f"no plan {folder.name} in {folder.parent}, and {NO_PLANNING}=1 forbids "
                            "running the reference to make one")
        _run_planner(assignment, seed, folder, public_only, answers)
    plan = Plan.load(folder)
    plan.id = folder.name
    return plan


def plan_id(assignment: Assignment, seed: int, public_only: bool = False) -> str:
    """Names a plan: observations answer the probes of exactly one plan."""
    suffix = "-public" if public_only else ""
    return f"{assignment.name}-{assignment.fingerprint()}-{seed}{suffix}"


def _run_planner(assignment: Assignment, seed: int, folder: Path, public_only: bool,
                 answers: bool = False) -> None:
    command = [sys.executable, "-m", "grader.plan", str(assignment.folder), str(seed),
               str(folder.resolve()), "public" if public_only else "all"]
    command += ["answers"] if answers else []
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PLAN_TIMEOUT,
                              stdin=subprocess.DEVNULL, cwd=assignment.folder)
    except subprocess.TimeoutExpired as exc:
        raise PlanError(f"running the checks on the reference took over {PLAN_TIMEOUT:g} s") from exc
    if done.returncode != 0:
        raise PlanError(
            f"could not prepare grading of {assignment.name!r} from its reference:\n"
            + (done.stderr.strip()[-4000:] or done.stdout.strip()[-4000:])
        )


def build_plan(assignment: Assignment, seed: int, folder: Path,
               public_only: bool = False, answers: bool = False) -> Plan:
    """Run the reference and the checks in this process (the planner subprocess's job)."""
    from grader.checks import LiveNamespace, Selection, run_checks
    from grader.child.dispatch import load_custom_probes
    from grader.child.runner import EventLog, NotebookRunner, run_notebook
    from grader.spec.notebook import read_code_cells

    home_files = provide_files(assignment, folder / "home")
    cells = read_code_cells(assignment.reference, max_bytes=2**30)
    with tempfile.TemporaryDirectory(prefix="grader-reference-") as scratch:
        for target, source in home_files.items():
            (Path(scratch) / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, Path(scratch) / target)
        os.environ["HOME"] = scratch
        runner = NotebookRunner(EventLog(Path(scratch) / "events.jsonl"), 20_000)
        # as a child runs a submission, but without its time limit per cell
        run_notebook(runner, cells, assignment.limits.notebook_timeout, assignment.prelude_source(),
                     parameters_injection(cells, assignment.parameters))
        _fail_on_reference_errors(Path(scratch) / "events.jsonl")
        custom = load_custom_probes(assignment.custom_probes_source())
        namespace = runner.shell.user_ns
        student = LiveNamespace("student", namespace, custom)
        reference = LiveNamespace("reference", namespace, custom)
        run = run_checks(assignment, student, reference, seed, Selection(public_only=public_only))
    failing = [f"{c.name}: {run.outcomes.get(c.id, (False, 'did not run'))[1]}"
               for c in run.checks if not run.outcomes.get(c.id, (False,))[0]]
    if run.problems or failing:
        raise PlanError("the reference does not pass the checks:\n  "
                        + "\n  ".join(run.problems + failing))
    return Plan(seed=seed, checks=run.checks, probes=student.plan,
                reference={**reference.records}, home_files=home_files,
                answers={**student.records} if answers else {})


def provide_files(assignment: Assignment, home: Path) -> dict[str, Path]:
    """Materialise the assignment's ``[[provide]]`` files under ``home`` (trusted code)."""
    files = {}
    for provided in assignment.provide:
        path = home / provided.target
        path.parent.mkdir(parents=True, exist_ok=True)
        if provided.source is not None:
            shutil.copyfile(provided.source, path)
        else:
            module_file, _, function = str(provided.build).partition(":")
            module = load_module(assignment.folder / module_file)
            getattr(module, function)(path)
        if not path.is_file():
            raise PlanError(f"[[provide]] {provided.target!r} was not created")
        files[provided.target] = path
    return files


def _fail_on_reference_errors(events_path: Path) -> None:
    for line in events_path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("event") == "prelude-error":
            error = event.get("error") or {}
            raise PlanError(f"the assignment's prelude or [parameters] failed: "
                            f"{error.get('type')}: {error.get('message')}")
        if event.get("event") == "cell" and event["status"] != "ok":
            error = event.get("error") or {}
            raise PlanError(f"reference code cell {event['index'] + 1} failed: "
                            f"{error.get('type')}: {error.get('message')}")


def main(argv: list[str]) -> int:
    folder, seed, out, which, *extra = argv
    try:
        plan = build_plan(load_assignment(folder), int(seed), Path(out), which == "public",
                          answers=extra == ["answers"])
    except Exception as exc:  # noqa: BLE001 - reported to the parent through stderr
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    plan.save(Path(out))
    return 0
