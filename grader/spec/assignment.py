"""Assignment specs: what to run, what to check, and under which limits.

An assignment is a folder holding ``assignment.toml`` (declarative settings, documented
field by field in ``docs/authoring.md``) and a checks module (pytest tests). The spec is
the one configuration source: every field has a default here, next to its meaning.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import SpecError, UnknownAssignmentError

SPEC_FILE = "assignment.toml"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's child process."""

    cell_timeout: float = 60.0  # seconds a single cell may run before it is interrupted
    notebook_timeout: float = 600.0  # seconds for all cells and probes together
    probe_timeout: float = 10.0  # seconds one probe (a call of a student function) may take
    memory_mb: int = 2048  # address-space limit of the child, in MiB
    max_notebook_mb: float = 20.0  # submissions larger than this are rejected unread
    max_output_chars: int = 20_000  # captured output kept per cell; the rest is counted, not kept


@dataclass(frozen=True)
class Question:
    """A gradable unit; its points are the sum of the points of its checks."""

    id: str
    title: str
    names: tuple[str, ...] = ()  # names the notebook must define for this question
    #: graded only where the notebook defines one of ``names`` (an extra beyond the lab:
    #: left out of the result and of the maximum when every check found its name undefined)
    optional: bool = False
    #: when students see this question's details on Gradescope: visible, hidden,
    #: after_due_date or after_published (hidden checks' details until grades are published)
    visibility: str = "visible"


@dataclass(frozen=True)
class Group:
    """One of a set of alternative question groups: its name (shown in feedback) and the ids
    of its questions."""

    name: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Alternatives:
    """Question groups of which a notebook is graded on one (editions of a lab that ask the
    same under other names). A group is *attempted* when a check of one of its questions found
    the names it probes defined; the attempted group that earns the most is graded (on a tie,
    the one listed first), or the first group, the default, when none is attempted. The other
    groups leave the result and the maximum score, with a note."""

    title: str  # what the groups are alternatives of, e.g. "edition of the lab"
    groups: tuple[Group, ...]  # at least two; the first is the default

    @property
    def default(self) -> Group:
        return self.groups[0]


@dataclass(frozen=True)
class Forbidden:
    """APIs a submission may not use; a question whose code reaches one earns nothing."""

    apis: tuple[str, ...] = ()
    reason: str = "this assignment asks you to implement it yourself"


@dataclass(frozen=True)
class Provided:
    """A file placed under the child's $HOME before it runs (e.g. a dataset in Keras' cache).

    Either ``source`` (a file shipped with the assignment) or ``build`` (``"module.py:function"``
    in the assignment folder, called as ``function(path)`` to write the file; instructor code,
    run once per plan in the planner process, never in a student's process).
    """

    target: str  # path relative to $HOME, e.g. ".keras/datasets/mnist.npz"
    source: Path | None = None
    build: str | None = None
    env: tuple[str, ...] = ()  # environment variables the build reads (part of the cache key)


@dataclass(frozen=True)
class Assignment:
    """A loaded, validated assignment spec."""

    name: str
    title: str
    folder: Path
    notebook: Path  # the released student notebook
    reference: Path  # the solution notebook with BEGIN/END SOLUTION regions
    checks: Path  # the pytest module with the checks
    probes: Path | None  # optional module of custom probe functions, run inside the child
    prelude: Path | None  # optional code run in the child before the first cell
    questions: tuple[Question, ...]
    limits: Limits = field(default_factory=Limits)
    forbidden: Forbidden = field(default_factory=Forbidden)
    provide: tuple[Provided, ...] = ()
    #: The grading profile: values assigned right after the notebook's cell tagged
    #: "parameters" (papermill's convention), e.g. fewer epochs so grading fits its time.
    parameters: dict[str, object] = field(default_factory=dict)
    #: Modules each warm worker imports once (grader.execution.pool), so that no submission pays for
    #: them: e.g. ``["tensorflow"]`` for the Keras labs. numpy and IPython always are.
    preload: tuple[str, ...] = ()
    #: Sets of alternative question groups ([[alternatives]]): a notebook is graded on one
    #: group of each set, the one it attempts (e.g. the edition of the lab it follows).
    alternatives: tuple[Alternatives, ...] = ()

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise SpecError(self.name, f"no question {question_id!r}")

    def visibility(self) -> dict[str, str]:
        """Each question's Gradescope visibility, by id."""
        return {question.id: question.visibility for question in self.questions}

    def custom_probes_source(self) -> str:
        return self.probes.read_text(encoding="utf-8") if self.probes else ""

    def prelude_source(self) -> str:
        return self.prelude.read_text(encoding="utf-8") if self.prelude else ""

    def fingerprint(self) -> str:
        """Changes whenever the spec, the checks or the reference change (cache key)."""
        digest = hashlib.sha256()
        extra = [p.source for p in self.provide] + [self.folder / p.build.split(":")[0]
                                                     for p in self.provide if p.build]
        digest.update(repr(sorted(self.parameters.items())).encode())
        for variable in sorted({v for p in self.provide for v in p.env}):
            digest.update(f"{variable}={os.environ.get(variable, '')}".encode())
        for path in (self.folder / SPEC_FILE, self.checks, self.reference, self.probes,
                     self.prelude, *extra):
            if path is None:
                continue
            digest.update(path.read_bytes())
        return digest.hexdigest()[:16]


def assignments_root() -> Path:
    """Where bundled assignments live: $GRADER_ASSIGNMENTS, else the repository's folder."""
    configured = os.environ.get("GRADER_ASSIGNMENTS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "assignments"


def known_assignments(root: Path | None = None) -> list[str]:
    root = root or assignments_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / SPEC_FILE).is_file())


def load_assignment(name_or_path: str | Path) -> Assignment:
    """Load an assignment by bundled name or by the path of its folder."""
    candidate = Path(name_or_path)
    folder = candidate if (candidate / SPEC_FILE).is_file() else assignments_root() / str(name_or_path)
    if not (folder / SPEC_FILE).is_file():
        raise UnknownAssignmentError(str(name_or_path), known_assignments())
    try:
        data = tomllib.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(folder.name, f"{SPEC_FILE} is not valid TOML: {exc}") from exc
    return _build(folder.resolve(), data)


TABLE_KEYS = {
    "assignment": {"title", "notebook", "reference", "checks", "probes", "prelude", "preload"},
    "limits": set(Limits.__dataclass_fields__),
    "forbidden": {"apis", "reason"},
    "questions": {"id", "title", "names", "optional", "visibility"},
    "provide": {"target", "source", "build", "env"},
    "parameters": None,  # any names: the grading profile's values
    "equivalent": {"id", "reason"},  # equivalent mutants (grader mutate), not part of grading
    "alternatives": {"title", "groups"},  # alternative question groups (editions of a lab)
}
GROUP_KEYS = {"name", "questions"}


def _build(folder: Path, data: dict) -> Assignment:
    name = folder.name
    _check_keys(data, name)
    section = _table(data, "assignment", name)
    limits = _limits(_table(data, "limits", name), name)
    forbidden_data = _table(data, "forbidden", name)
    forbidden = Forbidden(
        apis=_strings(forbidden_data.get("apis", []), "[forbidden] apis", name),
        reason=str(forbidden_data.get("reason", Forbidden.reason)),
    )
    questions = tuple(
        Question(id=str(q["id"]), title=str(q.get("title", q["id"])),
                 names=_strings(q.get("names", []), f"question {q['id']!r} names", name),
                 optional=_flag(q.get("optional", False), f"question {q['id']!r} optional", name),
                 visibility=_visibility(q.get("visibility", "visible"), q["id"], name))
        for q in _questions(data, name)
    )
    assignment = Assignment(
        name=name,
        title=_string(section.get("title", name), "[assignment] title", name),
        folder=folder,
        notebook=_file(folder, section.get("notebook", f"{name}.ipynb"), name, must_exist=False),
        reference=_file(folder, section.get("reference", f"../../reference/{name}.ipynb"), name),
        checks=_file(folder, section.get("checks", "checks.py"), name),
        probes=_optional(folder, section, "probes", name),
        prelude=_optional(folder, section, "prelude", name),
        provide=tuple(_provided(folder, entry, name) for entry in data.get("provide", [])),
        parameters=_parameters(_table(data, "parameters", name), name),
        preload=_strings(section.get("preload", []), "[assignment] preload", name),
        questions=questions,
        limits=limits,
        forbidden=forbidden,
        alternatives=_alternatives(data, {q.id for q in questions}, name),
    )
    _validate(assignment)
    return assignment


def _alternatives(data: dict, question_ids: set[str], name: str) -> tuple[Alternatives, ...]:
    """Each [[alternatives]] table: at least two groups of declared questions, every question
    in one group at most (across all the tables)."""
    entries = data.get("alternatives", [])
    if not isinstance(entries, list):
        raise SpecError(name, "[[alternatives]] must be an array of tables")
    found: list[Alternatives] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise SpecError(name, "[[alternatives]] must be an array of tables")
        title = _string(entry.get("title", "alternatives"), "[[alternatives]] title", name)
        groups = entry.get("groups")
        if not isinstance(groups, list) or len(groups) < 2:
            raise SpecError(name, f"[[alternatives]] {title!r} needs groups = [...], two or more")
        parsed = []
        for group in groups:
            if not isinstance(group, dict) or set(group) != GROUP_KEYS:
                raise SpecError(name, f"[[alternatives]] {title!r}: each group is "
                                      "{ name = \"...\", questions = [\"question id\", ...] }")
            label = _string(group["name"], f"[[alternatives]] {title!r} group name", name)
            ids = _strings(group["questions"], f"[[alternatives]] group {label!r} questions", name)
            unknown = sorted(set(ids) - question_ids)
            twice = sorted(seen & set(ids))
            if not ids or unknown or twice:
                raise SpecError(name, f"[[alternatives]] group {label!r}: " + (
                    "lists no question" if not ids else f"no question {unknown[0]!r}" if unknown
                    else f"question {twice[0]!r} is in another group already"))
            seen |= set(ids)
            parsed.append(Group(label, ids))
        found.append(Alternatives(title, tuple(parsed)))
    return tuple(found)


def _parameters(table: dict, name: str) -> dict[str, object]:
    for key, value in table.items():
        if not key.isidentifier() or not isinstance(value, (int, float, str, bool, list)):
            raise SpecError(name, f"[parameters] {key} = {value!r}: names must be identifiers and "
                            "values numbers, strings, booleans or lists")
    return dict(table)


def _optional(folder: Path, section: dict, key: str, name: str) -> Path | None:
    """An optional module: named in [assignment], or ``<key>.py`` when that file exists."""
    if key in section:
        return _file(folder, section[key], name)
    default = folder / f"{key}.py"
    return default.resolve() if default.is_file() else None


def _provided(folder: Path, entry: dict, name: str) -> Provided:
    target = str(entry.get("target", ""))
    if not target or target.startswith("/") or ".." in Path(target).parts:
        raise SpecError(name, f"[[provide]] needs a relative target inside $HOME, got {target!r}")
    if ("source" in entry) == ("build" in entry):
        raise SpecError(name, f"[[provide]] {target!r} needs exactly one of source or build")
    env = _strings(entry.get("env", []), f"[[provide]] {target!r} env", name)
    if "source" in entry:
        return Provided(target, source=_file(folder, entry["source"], name), env=env)
    module = str(entry["build"]).split(":")[0]
    _file(folder, module, name)
    return Provided(target, build=str(entry["build"]), env=env)


def _check_keys(data: dict, name: str) -> None:
    """Unknown keys are typos until proven otherwise: ``refrence = ...`` must not pass silently."""
    for key, value in data.items():
        if key not in TABLE_KEYS:
            raise SpecError(name, f"unknown table [{key}] in {SPEC_FILE}")
        allowed = TABLE_KEYS[key]
        for table in value if isinstance(value, list) else [value]:
            unknown = set(table) - allowed if isinstance(table, dict) and allowed else set()
            if unknown:
                raise SpecError(name, f"unknown key(s) {sorted(unknown)} in [{key}] of {SPEC_FILE}")


INTEGER_LIMITS = ("memory_mb", "max_output_chars")


def _limits(table: dict, name: str) -> Limits:
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(name, f"[limits] {key} must be a number, got {value!r}")
        if key in INTEGER_LIMITS and not isinstance(value, int):
            raise SpecError(name, f"[limits] {key} must be a whole number, got {value!r}")
    return Limits(**table)


def _string(value: object, what: str, name: str) -> str:
    if not isinstance(value, str):
        raise SpecError(name, f"{what} must be a string, got {value!r}")
    return value


VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def _visibility(value: object, question: object, name: str) -> str:
    if value not in VISIBILITIES:
        raise SpecError(name, f"question {question!r} visibility = {value!r}: use one of "
                              f"{', '.join(VISIBILITIES)} (Gradescope's settings)")
    return str(value)


def _flag(value: object, what: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(name, f"{what} must be true or false, got {value!r}")
    return value


def _strings(value: object, what: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(name, f"{what} must be a list of strings, got {value!r}")
    return tuple(value)


def _questions(data: dict, name: str) -> list[dict]:
    questions = data.get("questions", [])
    if not isinstance(questions, list) or not all(isinstance(q, dict) and "id" in q for q in questions):
        raise SpecError(name, "each [[questions]] entry needs an id")
    return questions


def _table(data: dict, key: str, name: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(name, f"[{key}] must be a table")
    return value


def _file(folder: Path, relative: object, name: str, must_exist: bool = True) -> Path:
    if not isinstance(relative, str) or not relative:
        raise SpecError(name, f"file names in {SPEC_FILE} must be strings, got {relative!r}")
    path = (folder / relative).resolve()
    if must_exist and not path.is_file():
        raise SpecError(name, f"file {relative!r} named in {SPEC_FILE} does not exist ({path})")
    return path


def _validate(assignment: Assignment) -> None:
    if not assignment.questions:
        raise SpecError(assignment.name, "declares no [[questions]]")
    ids = [q.id for q in assignment.questions]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise SpecError(assignment.name, f"duplicate question ids: {sorted(duplicates)}")
    limits = assignment.limits
    if min(limits.cell_timeout, limits.notebook_timeout, limits.probe_timeout) <= 0:
        raise SpecError(assignment.name, "time limits must be positive")
