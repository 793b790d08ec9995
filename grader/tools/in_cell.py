"""``grader.check()`` in a notebook cell: find the notebook being run, check it, show a summary.

A kernel does not know which file it runs, so the notebook is found as Jupyter and VS Code
tell it (``JPY_SESSION_NAME``, set by Jupyter Server; ``__vsc_ipynb_file__`` in the user's
namespace), else as the one notebook of the assignment in the working folder. The check reads
the notebook as last saved. The summary is an HTML table in Jupyter, text elsewhere; the
report returned has a one-line repr, so a call on a cell's last line adds one short line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.tools.check import CheckReport, assignment_of, check, render_html

#: Set by Jupyter Server in a kernel's environment: the notebook's path (relative to the
#: server's folder, or absolute).
SESSION_VARIABLE = "JPY_SESSION_NAME"
#: Set by VS Code in the namespace of a notebook's kernel: the notebook's absolute path.
VSCODE_VARIABLE = "__vsc_ipynb_file__"


def check_in_cell(what: str | Path | None = None, assignment: str | None = None) -> CheckReport:
    """Check the notebook ``what`` names (a path), or the notebook being run (no argument,
    or a question id: then only that question), and show the summary."""
    notebook, questions = target(what, assignment)
    report = check(notebook, assignment, show=False, questions=questions)
    show(report)
    return report


def target(what: str | Path | None, assignment: str | None) -> tuple[Path, tuple[str, ...]]:
    """The notebook to check, and the questions: ``what`` is a notebook when it is a path
    (ends with .ipynb, holds a folder separator, or names a file), else a question id."""
    if what is None:
        return current_notebook(assignment), ()
    text = str(what)
    if isinstance(what, Path) or text.endswith(".ipynb") or os.sep in text or Path(text).is_file():
        return Path(text), ()
    return current_notebook(assignment), (text,)


def current_notebook(assignment: str | None = None) -> Path:
    """The notebook this kernel runs, or a GraderError that says how to name it."""
    for found in (_from_session(), _from_vscode()):
        if found is not None and found.is_file():
            return found
    stamped = _stamped_here(assignment)
    if len(stamped) == 1:
        return stamped[0]
    here = Path.cwd()
    why = (f"{len(stamped)} notebooks of the assignment are in {here}: "
           + ", ".join(p.name for p in stamped)) if stamped else \
        f"no notebook of {'assignment ' + assignment if assignment else 'an assignment'} is in {here}"
    raise GraderError(f"cannot tell which notebook this is ({why}); give its file name, as in "
                      'grader.check("lab.ipynb")')


def show(report: CheckReport) -> None:
    """The summary: an HTML table in a Jupyter kernel, text anywhere else."""
    shell = _shell()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        from IPython.display import HTML, display

        display(HTML(render_html(report)))
    else:
        print(report.text)


def _shell() -> Any:
    """The running IPython shell, if any (IPython is imported only when already loaded)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _from_session() -> Path | None:
    value = os.environ.get(SESSION_VARIABLE, "")
    if not value.endswith(".ipynb"):
        return None
    path = Path(value)
    if path.is_absolute():
        return path
    # the kernel runs in the notebook's folder; the variable is relative to the server's
    return next((p for p in (Path.cwd() / path.name, Path.cwd() / path) if p.is_file()), None)


def _from_vscode() -> Path | None:
    shell = _shell()
    value = getattr(shell, "user_ns", {}).get(VSCODE_VARIABLE) if shell is not None else None
    return Path(value) if isinstance(value, str) and value.endswith(".ipynb") else None


def _stamped_here(assignment: str | None) -> list[Path]:
    """The notebooks in the working folder stamped with an assignment (``assignment``'s)."""
    found = []
    for path in sorted(Path.cwd().glob("*.ipynb")):
        try:
            stamp = assignment_of(path)
        except GraderError:
            continue
        if assignment is None or stamp == assignment:
            found.append(path)
    return found
