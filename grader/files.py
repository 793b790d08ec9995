"""Small file helpers shared by the writers of results, observations and plans."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType


def atomic_write(path: Path, payload: bytes) -> None:
    """Write via a temporary file and rename, so no reader ever sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(payload)
    temporary.replace(path)


def load_module(path: Path, prefix: str = "grader_assignment_", fresh: bool = False) -> ModuleType:
    """Import an assignment's helper module by path, once per process: it is registered in
    ``sys.modules`` (dataclasses and caches need that) under a name made from its path.

    With ``fresh``, once per file and modification time instead (feedback hooks and what they
    load, edited between two runs in one process, or copies of an assignment in tests)."""
    name = prefix + re.sub(r"\W", "_", f"{path.parent.name}_{path.stem}")
    if fresh:
        key = (path.resolve(), path.stat().st_mtime)
        if key not in _FRESH:
            _FRESH[key] = _import(name, path)
        return _FRESH[key]
    if name not in sys.modules:
        _import(name, path)
    return sys.modules[name]


#: Modules loaded ``fresh``, by file and modification time.
_FRESH: dict[tuple[Path, float], ModuleType] = {}


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is None:
            del sys.modules[name]
        else:
            sys.modules[name] = previous
        raise
    return module
