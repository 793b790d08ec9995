"""Small file helpers shared by the writers of results, observations and plans."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, payload: bytes) -> None:
    """Write via a temporary file and rename, so no reader ever sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(payload)
    temporary.replace(path)
