"""grader: grade deep-learning lab notebooks in isolation, against a reference.

The pipeline is spec -> plan -> execution -> scoring -> report, one subpackage each (see
docs/architecture.md). This module stays import-light on purpose: the child process that
runs student code imports ``grader.child`` and must not pay for TensorFlow, pytest or rich.
"""

__version__ = "0.1.0"


def check(notebook: str, assignment: str | None = None) -> object:
    """Run the public checks of a saved notebook, from a cell: ``grader.check("lab.ipynb")``."""
    from grader.tools.check import check as run_public_checks

    return run_public_checks(notebook, assignment)
