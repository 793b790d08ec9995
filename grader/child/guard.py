"""The runtime guard: what the notebook's code loads and calls of the forbidden APIs, and
whether the grader's own code in the notebook's process is still what it was.

Static analysis cannot see a module name built at run time, code run from a string, or a
module loaded in a thread; so the guard also judges by *what is there*. Three witnesses:

* a finder first on ``sys.meta_path`` sees every import by name as it happens, from any
  thread and any code (cells, ``exec``'d strings, helper files the notebook wrote); a load
  is not the student's when a library module's own import (a ``<module>`` frame of an
  installed module being initialised) asked for it: ``import scipy.stats`` loading
  ``scipy.ndimage`` is a dependency, not a use;
* after each cell and each probe, a scan of ``sys.modules`` (by file, whatever the
  module's name) and of the files mapped into the process (``/proc/self/maps``) finds the
  forbidden code loaded without an import by name;
* while a student function answers a probe, a profile hook sees every call into a
  forbidden package's code (however it was loaded or named), and every start of a thread
  or process, or removal of the hook, which would escape it.

What the guard sees is charged to the notebook's names (``grader.observations.ForbiddenLoad``);
the notebook can hide nothing from it without tampering with the process itself, which
``Integrity`` looks for: the grader's functions in memory against the ones it started with
(or their source on disk) and the guard's own settings.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Collection, Iterator
from typing import Any

CELL_FILE_PREFIX = "<ipython-input-"
#: Calls that start code the profile hook cannot follow, or switch the hook off.
ESCAPES = {
    "_thread.start_new_thread": "a new thread",
    "_thread.start_joinable_thread": "a new thread",
    "posix.fork": "a new process",
    "posix.forkpty": "a new process",
    "posix.posix_spawn": "a new process",
    "posix.posix_spawnp": "a new process",
    "posix.system": "a new process",
    "posix.execv": "a new program",
    "posix.execve": "a new program",
    "_posixsubprocess.fork_exec": "a new process",
    "sys.setprofile": "the grader's watch switched off",
    "sys.settrace": "the grader's watch switched off",
}
#: The grader's modules in the notebook's process whose functions answer the probes and
#: write what they report; and what of the standard library and numpy writes it.
WATCHED_PREFIXES = ("grader.child", "grader.wire", "grader.kit")
WATCHED_EXTRA = ("json", "json.encoder")


def library_roots() -> tuple[str, ...]:
    """Folders of installed code: the standard library, site-packages and the grader itself."""
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
    roots.add(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    found = set()
    for root in roots:
        if root and os.path.isdir(root):
            found.add(os.path.join(os.path.abspath(root), ""))
            found.add(os.path.join(os.path.realpath(root), ""))
    return tuple(sorted(found))


def forbidden_paths(apis: Collection[str]) -> dict[str, str]:
    """Where each forbidden API's code lies (a package folder or a module file), found on
    ``sys.path`` without importing anything; APIs that are functions of an allowed module
    (``numpy.convolve``) have none and are left to the static analysis."""
    paths: dict[str, str] = {}
    for api in apis:
        parts = api.split(".")
        for entry in sys.path:
            if not entry or not os.path.isdir(entry):
                continue
            base = os.path.join(os.path.abspath(entry), *parts)
            for candidate in (os.path.join(base, ""), base + ".py"):
                if os.path.exists(candidate):
                    paths[candidate] = api
                    paths[os.path.realpath(candidate.rstrip(os.sep)) + candidate[len(base):]] = api
    return paths


class ImportGuard:
    """Records the forbidden modules the notebook's code loads or calls, as it happens.

    Each record is charged to what was running: the notebook's function on the stack (the
    outermost one), the probed name, or, at a cell's top level, the names that cell binds.
    """

    def __init__(self, forbidden: Collection[str], events: Any) -> None:
        self.forbidden = tuple(forbidden)
        self.events = events
        self.paths = forbidden_paths(self.forbidden)
        self.roots = library_roots()
        self.where: dict[str, Any] | None = None  # the cell or probe running, None: not watching
        self.loads: list[dict[str, Any]] = []  # this cell's or probe's records
        self._written: set[int] = set()  # ids of the records already written
        self.explained: set[str] = set()  # forbidden modules a library's or their own import loaded
        self._busy = False
        self._finder = _GuardFinder(self)
        self._files: dict[str, str | None] = {}
        self._own: set[int] = set()  # the grader's own modules: their calls are not escapes
        self.baseline = self._present()

    # --- the finder
    def find(self, module: str) -> None:
        if self.where is None or self._busy or not self._api(module):
            return
        self._busy = True
        try:
            functions = self._loaded_by(sys._getframe(2))
            if functions is None or functions == ["<dependency>"]:
                self.explained.add(module)
            elif self.where.get("kind") != "custom" or functions:
                self._record(module, functions)
        finally:
            self._busy = False

    def _api(self, module: str) -> str | None:
        return next((api for api in self.forbidden if module == api or
                     module.startswith(api + ".")), None)

    def _loaded_by(self, frame: Any) -> list[str] | None:
        """Names of the notebook's functions on the stack, outermost first; ``["<dependency>"]``
        when an installed, allowed module's own import asks for it; None when a forbidden
        module's own import does (its parts make one record, the outer one)."""
        names: list[str] = []
        while frame is not None:
            code = frame.f_code
            if self._api_of_file(code.co_filename):
                return None  # forbidden code loading its parts: the scan sees the outer one
            if code.co_name == "<module>" and self._initialising(frame):
                if self._api(str(frame.f_globals.get("__name__"))):
                    return None
                return ["<dependency>"]
            if not self._library(code.co_filename) and not code.co_name.startswith("<"):
                names.insert(0, code.co_name)
            frame = frame.f_back
        return names

    def _initialising(self, frame: Any) -> bool:
        """Whether ``frame`` runs the body of an installed module being imported now."""
        name = frame.f_globals.get("__name__")
        module = sys.modules.get(name) if isinstance(name, str) else None
        spec = getattr(module, "__spec__", None)
        return (module is not None and vars(module) is frame.f_globals
                and getattr(spec, "_initializing", False) is True
                and self._library(frame.f_code.co_filename)
                and getattr(module, "__file__", None) == frame.f_code.co_filename)

    def _library(self, filename: str) -> bool:
        return filename.startswith("<frozen ") or filename.startswith(self.roots) and \
            os.path.exists(filename)

    def _record(self, module: str, functions: list[str], kind: str = "load") -> None:
        """Keep one record per module and kind; while a probe runs, write it at once (a
        function that then ends the process cannot take it back)."""
        if not any(load["module"] == module and load.get("kind", "load") == kind
                   for load in self.loads):
            record: dict[str, Any] = {"module": module, "functions": functions}
            if kind != "load":
                record["kind"] = kind
            self.loads.append(record)
            if self.where is not None and "probe" in self.where:
                self._write(record, probe=self.where["probe"]
                            if self.where.get("kind") != "custom" else None)

    # --- the scan
    def _present(self, maps: bool = True) -> tuple[frozenset[int], frozenset[str]]:
        return (frozenset(id(m) for m in list(sys.modules.values())),
                frozenset(_mapped_files() if maps else ()))

    def _api_of_file(self, filename: Any) -> str | None:
        if not isinstance(filename, str) or not self.paths:
            return None
        if filename not in self._files:
            self._files[filename] = next((api for path, api in self.paths.items()
                                          if filename == path or path.endswith(os.sep)
                                          and filename.startswith(path)), None)
        return self._files[filename]

    def _scan(self, before: tuple[frozenset[int], frozenset[str]]) -> None:
        """Forbidden code that appeared without an import by name: modules by their file
        (whatever ``__name__`` they carry) and files mapped into the process."""
        modules, mapped = before
        found: dict[str, str] = {}
        for name, module in list(sys.modules.items()):
            if id(module) in modules:
                continue
            spec = getattr(module, "__spec__", None)
            api = self._api_of_file(getattr(module, "__file__", None)) or \
                self._api_of_file(getattr(spec, "origin", None))
            named = getattr(module, "__name__", None)
            if isinstance(named, str) and named == getattr(spec, "name", None):
                name = named  # an extension module also kept under its short name
            if api and not self._explained(name, api):
                found.setdefault(api, name if self._api(name) == api else f"{api} (as {name})")
        for filename in (_mapped_files() - mapped) if mapped else ():
            api = self._api_of_file(filename)
            if api and not self._explained("", api):
                found.setdefault(api, api)
        for api, label in found.items():
            if not any(self._api(str(load["module"]).split(" ")[0]) == api for load in self.loads):
                self._record(label, [])

    def _explained(self, name: str, api: str) -> bool:
        """Whether a module (or, with no name, a mapped file of ``api``) came with an import
        the finder saw: a library's dependency, or a part of a forbidden module recorded."""
        seen = [*self.explained, *(str(load["module"]) for load in self.loads)]
        return any(name == m or name.startswith(m + ".") or not name and self._api(m) == api
                   for m in seen)

    # --- the profile hook (probes)
    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            api = self._api_of_file(frame.f_code.co_filename)
            if api:
                self._record(api, [], "call")
        elif event == "c_call" and id(frame.f_globals) not in self._own:
            module = getattr(arg, "__module__", None)
            if not isinstance(module, str):
                owner = getattr(arg, "__self__", None)
                module = owner.__name__ if isinstance(owner, types.ModuleType) else None
            if module:
                qualified = f"{module}.{getattr(arg, '__name__', '')}"
                if qualified in ESCAPES:
                    self._record(ESCAPES[qualified], [], "unchecked")
                else:
                    api = self._api(module)
                    if api:
                        self._record(api, [], "call")

    @contextlib.contextmanager
    def calls_watched(self) -> Iterator[None]:
        """Watch every call while a student function answers a probe."""
        if not self.paths and not self.forbidden:
            yield
            return
        previous = sys.getprofile()
        self._own = {id(vars(module)) for name, module in list(sys.modules.items())
                     if name in ("grader.child.runner", "grader.child.guard")}
        sys.setprofile(self._profile)
        try:
            yield
        except BaseException:
            # Python drops a profile hook that an exception (the time limit's) left: the
            # probe fails and its answer is not taken, so nothing escaped.
            sys.setprofile(previous)
            raise
        if sys.getprofile() != self._profile:
            self._record("the grader's watch switched off", [], "unchecked")
        sys.setprofile(previous)

    @contextlib.contextmanager
    def watching(self, **where: Any) -> Iterator[list[dict[str, Any]]]:
        """Watch while a cell or probe runs (the records are in ``self.loads`` after it)."""
        self.loads, self._written = [], set()
        if not self.forbidden:
            yield self.loads
            return
        if self._finder not in sys.meta_path:
            sys.meta_path.insert(0, self._finder)
        # While a probe runs its calls are watched: the mapped files are read after cells only.
        before = self._present(maps="probe" not in where)
        self.where = where
        try:
            yield self.loads
        finally:
            self.where = None
            if self._finder not in sys.meta_path:
                sys.meta_path.insert(0, self._finder)
            self._scan(before)

    def report(self, loads: list[dict[str, Any]], **extra: Any) -> None:
        """Write the records not written yet (at most 50 of one cell or probe)."""
        for load in loads[:50]:
            if id(load) not in self._written:
                self._write(load, **extra)

    def _write(self, load: dict[str, Any], **extra: Any) -> None:
        self._written.add(id(load))
        self.events.write({"event": "forbidden-load", **load, **extra})


class _GuardFinder:
    """The import guard's finder: it finds nothing, it only tells the guard what is asked."""

    def __init__(self, guard: ImportGuard) -> None:
        self.guard = guard

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        self.guard.find(name)
        return None


def _mapped_files() -> set[str]:
    """Files mapped into this process (shared libraries, extension modules)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            return {line.split(None, 5)[5].strip() for line in handle
                    if line.count(" ") >= 5 and "/" in line}
    except (OSError, IndexError):
        return set()


def notebook_threads(cell_files: Collection[str]) -> list[str]:
    """Python threads running, or due to run, the notebook's code (other than this one):
    their stack holds a cell's frame, or their target is a function from a cell or from a
    file outside the installed code."""
    roots = library_roots()

    def notebook_code(code: Any) -> bool:
        name = getattr(code, "co_filename", "")
        return name.startswith(CELL_FILE_PREFIX) or name in cell_files or not (
            name.startswith(roots) and os.path.exists(name)) and not name.startswith("<frozen ")

    found: list[str] = []
    main = threading.get_ident()
    for ident, top in sys._current_frames().items():
        if ident == main:
            continue
        thread = threading._active.get(ident)  # type: ignore[attr-defined]
        codes: list[Any] = []
        frame: Any = top
        while frame is not None:
            codes.append(frame.f_code)
            frame = frame.f_back
        for attribute in ("_target", "function"):
            codes.append(getattr(getattr(thread, attribute, None), "__code__", None))
        run = getattr(type(thread), "run", None) if thread is not None else None
        if run is not None and run is not threading.Thread.run:
            codes.append(getattr(run, "__code__", None))
        if any(c is not None and notebook_code(c) for c in codes):
            found.append(getattr(thread, "name", f"thread {ident}"))
    return found


class Integrity:
    """The grader's functions in the notebook's process, as they were when it started.

    A fingerprint (the identity of every function and method of the watched modules, and
    of their code and globals) is taken before the first cell; the kit's modules loaded
    later are compared with their source on disk when first fingerprinted. ``changes``
    names what differs: a notebook that patched the code answering the probes, or the
    guard's settings, is caught before its answers count.
    """

    def __init__(self, guard: ImportGuard) -> None:
        self.guard = guard
        self.settings = (guard.forbidden, tuple(sorted(guard.paths.items())))
        self.prints = self._fingerprint()

    def _watched(self) -> list[tuple[str, types.ModuleType]]:
        return sorted((name, module) for name, module in list(sys.modules.items())
                      if isinstance(module, types.ModuleType)
                      and (name.startswith(WATCHED_PREFIXES) or name in WATCHED_EXTRA))

    def _fingerprint(self) -> dict[str, tuple]:
        return {name: _module_print(module) for name, module in self._watched()}

    def changes(self) -> list[str]:
        """What was changed since the last ``refresh`` (empty: nothing)."""
        changed = []
        if (self.guard.forbidden, tuple(sorted(self.guard.paths.items()))) != self.settings:
            changed.append("the forbidden-API guard's settings")
        now = self._fingerprint()
        for name, print_ in now.items():
            if name in self.prints and self.prints[name] != print_:
                changed.append(name)
            elif name not in self.prints and not _matches_source(sys.modules[name]):
                changed.append(name)
        return changed

    def refresh(self) -> None:
        """Take the modules loaded since (the assignment's probe kit) into the fingerprint."""
        self.prints = self._fingerprint()


def _functions(namespace: dict[str, Any], owner: str) -> Iterator[tuple[str, Any]]:
    for key, value in list(namespace.items()):
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, types.FunctionType):
            yield key, value
        elif isinstance(value, type) and value.__module__ == owner and key != "__class__":
            for name, method in _functions(dict(vars(value)), owner):
                yield f"{key}.{name}", method


def _module_print(module: types.ModuleType) -> tuple:
    return tuple(sorted((key, id(f), id(f.__code__), id(f.__globals__), id(f.__defaults__))
                        for key, f in _functions(dict(vars(module)), module.__name__)))


def _matches_source(module: types.ModuleType) -> bool:
    """Whether the module's own functions are the code of its file on disk."""
    filename = getattr(module, "__file__", None)
    if not filename or not filename.endswith(".py"):
        return True
    try:
        with open(filename, encoding="utf-8") as handle:
            compiled = compile(handle.read(), filename, "exec")
    except (OSError, SyntaxError, ValueError):
        return False
    expected = {(c.co_name, c.co_firstlineno): c.co_code for c in _code_tree(compiled)}
    for key, function in _functions(dict(vars(module)), module.__name__):
        wrapped = getattr(function, "__wrapped__", None)  # a decorator's wrapper (contextmanager)
        if isinstance(wrapped, types.FunctionType) and function.__code__.co_filename.startswith(
                os.path.dirname(os.__file__)):
            function = wrapped
        code = function.__code__
        generated = "." in key and key.rsplit(".", 1)[1].startswith("__") \
            and code.co_filename != filename  # a dataclass's __init__, __eq__...
        if function.__module__ != module.__name__:  # imported: it must be its module's own
            home = sys.modules.get(str(function.__module__))
            if "." not in key and getattr(home, function.__name__, None) is not function:
                return False
            continue
        if not generated and (
                expected.get((code.co_name, code.co_firstlineno)) != code.co_code
                or function.__globals__ is not vars(module)):
            return False
    return True


def _code_tree(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_tree(const)
