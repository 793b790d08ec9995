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


def load_module(path: Path) -> ModuleType:
    """Import an assignment's helper module by path, once per process: it is registered in
    ``sys.modules`` (dataclasses and caches need that) under a name made from its path."""
    name = "grader_assignment_" + re.sub(r"\W", "_", f"{path.parent.name}_{path.stem}")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]
