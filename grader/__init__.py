"""grader: grade deep-learning lab notebooks in isolation, against a reference.

The pipeline is spec -> plan -> execution -> scoring -> report, one subpackage each (see
docs/architecture.md). This module stays import-light on purpose: the child process that
runs student code imports ``grader.child`` and must not pay for TensorFlow, pytest or rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from grader.tools.check import CheckReport

__all__ = ["__version__", "check"]


def check(what: str | Path | None = None, assignment: str | None = None) -> CheckReport:
    """From a notebook cell: ``grader.check()`` checks the notebook being run (as last saved),
    ``grader.check("conv2d")`` only that question of it, ``grader.check("lab.ipynb")`` that
    notebook. Shows a summary and returns the report (``grader check`` from a terminal says
    the same). While the notebook is being graded or checked, it does nothing."""
    import os

    from grader.child import GRADING_ENV

    if os.environ.get(GRADING_ENV) == "1":
        from grader.tools.check import skipped

        return skipped("the notebook is being graded")
    from grader.tools.in_cell import check_in_cell

    return check_in_cell(what, assignment)
