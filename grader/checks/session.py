"""One pytest session over an assignment's checks, run as many times as asked.

The checks are plain pytest functions taking ``student``, ``reference`` and ``rng``. A
``ChecksSession`` configures pytest and collects the checks module once, then each ``run``
runs every kept check against a new pair of namespaces (live ones while planning, replayed
ones while scoring) and hands back the outcomes as data (``CheckRun``). Whoever opened the
session drives it: the planner runs it once, grading once per submission.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.authoring import ProbeMissing, StudentError, Undefined, take_attachments, take_notes
from grader.errors import SpecError
from grader.results import CheckInfo
from grader.spec import Assignment

EMPTY_INI = Path(__file__).with_name("checks.ini")


def derive_seed(seed: int, check_id: str) -> int:
    """Each check's rng seed: fresh per run seed, independent of the order checks run in."""
    digest = hashlib.sha256(f"{seed}:{check_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass
class Selection:
    """Which checks to run: all, some questions, and/or only the public ones."""

    questions: tuple[str, ...] = ()
    public_only: bool = False

    def keeps(self, info: CheckInfo) -> bool:
        if self.public_only and not info.public:
            return False
        return not self.questions or info.question in self.questions


@dataclass
class CheckRun:
    """What one run of the checks produced."""

    checks: list[CheckInfo] = field(default_factory=list)
    outcomes: dict[str, tuple[bool, str]] = field(default_factory=dict)
    undefined: set[str] = field(default_factory=set)  # checks that failed on an undefined name
    problems: list[str] = field(default_factory=list)
    attachments: dict[str, bytes] = field(default_factory=dict)
    attached: dict[str, list[str]] = field(default_factory=dict)  # check id -> its attachments


class ChecksPlugin:
    """pytest plugin providing the fixtures and collecting outcomes as data."""

    def __init__(self, seed: int, selection: Selection) -> None:
        self._student: Any = None
        self._reference: Any = None
        self._seed, self._selection = seed, selection
        self.run = CheckRun()
        self.items: list[Any] = []  # the collected checks, run once per pair of namespaces

    def start(self, student: Any, reference: Any) -> None:
        """Run the checks again: new namespaces, new outcomes."""
        self._student, self._reference = student, reference
        self.run = CheckRun(checks=self.run.checks, problems=self.run.problems)
        take_notes()
        take_attachments()

    @pytest.fixture
    def student(self) -> Any:
        return self._student

    @pytest.fixture
    def reference(self) -> Any:
        return self._reference

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> np.random.Generator:
        return np.random.default_rng(derive_seed(self._seed, request.node.nodeid))

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list) -> None:
        cases = Counter(_function_id(item) for item in items)
        kept = []
        for item in items:
            info = self._info(item, cases[_function_id(item)])
            if info is not None and self._selection.keeps(info):
                self.run.checks.append(info)
                kept.append(item)
        items[:] = kept
        self.items = kept

    def _info(self, item: Any, cases: int) -> CheckInfo | None:
        marker = item.get_closest_marker("grader")
        if marker is None:
            self.run.problems.append(f"{item.nodeid} has no @check(question=..., points=...)")
            return None
        doc = (item.function.__doc__ or item.originalname).strip().splitlines()[0]
        case = f" [{item.callspec.id}]" if hasattr(item, "callspec") else ""
        return CheckInfo(
            id=item.nodeid, name=doc + case, question=marker.kwargs["question"],
            points=marker.kwargs["points"] / cases, public=marker.kwargs["public"],
        )

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.run.problems.append(f"could not load the checks: {report.longreprtext[-2000:]}")

    def pytest_runtest_setup(self, item: Any) -> None:
        take_notes()  # notes belong to the check that makes them

    def pytest_runtest_teardown(self, item: Any) -> None:
        made = take_attachments()
        self.run.attachments.update(made)
        if made:
            self.run.attached[item.nodeid] = list(made)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: Any, call: Any):  # noqa: ANN201 - hook wrapper
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and report.failed):
            passed = report.passed
            lines = take_notes() + ([] if passed else [_failure_message(call.excinfo)])
            self.run.outcomes[item.nodeid] = (passed, "\n".join(lines))
            if not passed and call.excinfo is not None and isinstance(call.excinfo.value, Undefined):
                self.run.undefined.add(item.nodeid)


def _function_id(item: Any) -> str:
    return f"{item.path}::{item.originalname}"


def _failure_message(excinfo: Any) -> str:
    if excinfo is None:
        return "failed"
    error = excinfo.value
    if isinstance(error, (StudentError, AssertionError)):
        # Plain asserts (no rewriting) carry only the check's own message, so a bare
        # ``assert got == expected`` cannot print a hidden expected value.
        return str(error).strip() or "the result is not what this check expects"
    if isinstance(error, ProbeMissing):
        return f"grader problem (please tell your instructor): {error}"
    return f"{type(error).__name__} while checking your result: {error}"


def _pytest_arguments(assignment: Assignment) -> list[str]:
    return [
        str(assignment.checks), "-c", str(EMPTY_INI), "--rootdir", str(assignment.folder),
        "--import-mode=importlib", "-o", f"python_files={assignment.checks.name}",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:warnings",
        "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:faulthandler",
        "-p", "no:legacypath", "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin",
        "-q", "--no-header", "--capture=no", "--tb=no", "--assert=plain",
        "-o", "console_output_style=classic",
    ]


class ChecksSession:
    """An assignment's checks loaded and collected once, in one pytest session, then ``run``
    against as many pairs of namespaces as its owner asks for; ``close`` ends the session.

    This is what ``pytest.main`` does (see ``_pytest.main.wrap_session``), cut into steps so
    that the caller, not a pytest hook, owns the loop. Everything pytest prints goes to a sink
    (``output``), and pytest runs in the assignment's folder, a working folder that certainly
    exists; between steps the process's own stdout, stderr and working folder are back.
    """

    def __init__(self, assignment: Assignment, seed: int, selection: Selection | None = None,
                 collect_only: bool = False) -> None:
        self.assignment = assignment
        self.plugin = ChecksPlugin(seed, selection or Selection())
        self.sink = io.StringIO()
        self.failed = False  # pytest itself could not configure, collect or run the checks
        self._collected = False  # collected without errors: the checks can run
        self._verb = "collect" if collect_only else "run"
        self._config: Any = None
        self._session: Any = None
        self._open(collect_only)

    @property
    def checks(self) -> list[CheckInfo]:
        return self.plugin.run.checks

    @property
    def problems(self) -> list[str]:
        """Why the checks cannot be run (not loaded, a check without @check, pytest failed)."""
        if self.failed:
            return [*self.plugin.run.problems,
                    f"pytest could not {self._verb} the checks:\n{self.output()[-3000:]}"]
        return self.plugin.run.problems

    def output(self) -> str:
        return self.sink.getvalue()

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        previous = os.environ.get("PYTEST_VERSION")
        os.environ["PYTEST_VERSION"] = pytest.__version__
        try:
            with contextlib.chdir(self.assignment.folder), contextlib.redirect_stdout(self.sink), \
                    contextlib.redirect_stderr(self.sink):
                yield
        finally:
            if previous is None:
                os.environ.pop("PYTEST_VERSION", None)
            else:
                os.environ["PYTEST_VERSION"] = previous

    def _open(self, collect_only: bool) -> None:
        # importlib mode caches the module by its name: another assignment's checks.py (graded
        # earlier in this process) must not stand in for this one
        sys.modules.pop(self.assignment.checks.stem, None)
        take_attachments()  # nothing left over from another run
        arguments = _pytest_arguments(self.assignment) + (["--collect-only"] if collect_only else [])
        from _pytest.config import _prepareconfig  # what pytest.main uses, one step at a time

        with self._inside():
            try:
                self._config = _prepareconfig(arguments, [self.plugin])
                self._config._do_configure()
                self._session = pytest.Session.from_config(self._config)
                self._session.exitstatus = pytest.ExitCode.OK
                self._config.hook.pytest_sessionstart(session=self._session)
                self._config.hook.pytest_collection(session=self._session)
                self._collected = not self._session.testsfailed  # as pytest's own loop decides
            except Exception as exc:  # noqa: BLE001 - a usage or internal error of pytest's
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.failed = True
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        if self._session is not None:
            self._session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def run(self, student: Any, reference: Any) -> CheckRun:
        """Every kept check, once, with these namespaces; every fixture (of every scope) is
        torn down before the next run. Nothing runs when the checks could not be loaded."""
        self.plugin.start(student, reference)
        if self.failed or not self._collected:
            return self.plugin.run
        items = self.plugin.items
        with self._inside():
            try:
                for number, item in enumerate(items):
                    following = items[number + 1] if number + 1 < len(items) else None
                    item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
            except Exception as exc:  # noqa: BLE001 - pytest's own fault, said in problems
                self._fail(exc)
        return self.plugin.run

    def close(self) -> None:
        if self._config is None:
            return
        with self._inside():
            try:
                if self._session is not None:
                    self._config.hook.pytest_sessionfinish(session=self._session,
                                                           exitstatus=self._session.exitstatus)
            finally:
                self._config._ensure_unconfigure()
                self._config = None

    def __enter__(self) -> ChecksSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_checks(assignment: Assignment, student: Any, reference: Any, seed: int,
               selection: Selection | None = None) -> CheckRun:
    """Run the checks module once with the given namespaces; outcomes come back as data."""
    with ChecksSession(assignment, seed, selection) as session:
        run = session.run(student, reference)
        if session.failed:
            run.problems = session.problems
    return run


def collect_checks(assignment: Assignment) -> list[CheckInfo]:
    """Every check of ``assignment`` (hidden ones too) with its question and points, none run:
    what a question is worth at grading, known without running the reference."""
    with ChecksSession(assignment, 0, collect_only=True) as session:
        if session.problems:
            raise SpecError(assignment.name, "; ".join(session.problems))
        return session.checks
