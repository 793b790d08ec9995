"""``run.json``: the manifest of an output folder (assignment, seed, spec fingerprint, the
submissions and their notebooks), its one writer and its one reader.

Written by ``grader grade`` when a run starts and by ``grader merge``; read to resume a run,
to rescore it, to merge runs and for the class view.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.version import __version__

RUN_FILE = "run.json"


def write_run_json(out: Path, *, assignment: str | None, assignment_folder: str | None, spec_fingerprint: Any,
                   seed: int, isolation: str, submissions: Mapping[str, str],
                   merged_from: list[dict[str, Any]] | None = None,
                   shard: tuple[int, int] | None = None) -> None:
    """Write ``out/run.json``; ``merged_from`` for a merged folder, ``shard`` for a share."""
    manifest: dict[str, Any] = {
        "assignment": assignment,
        "assignment_folder": assignment_folder,
        "spec_fingerprint": spec_fingerprint,
        "seed": seed,
        "grader_version": __version__,
        "isolation": isolation,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if merged_from is not None:
        manifest["merged_from"] = merged_from
    manifest["submissions"] = dict(submissions)
    if shard:
        manifest["shard"] = f"{shard[0]}/{shard[1]}"
    atomic_write(out / RUN_FILE, json.dumps(manifest, indent=2).encode())


def read_run_json(out: Path) -> dict:
    """The manifest of the run in ``out``; raises GraderError if there is none."""
    try:
        return json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GraderError(f"{out} is not the output folder of a grading run (no run.json)") from exc
