"""Code that runs inside the student's child process.

Nothing here is trusted by the grader: whatever the child writes is validated by
``grader.execution.executor`` before use. Keep imports to the stdlib, numpy and IPython.
"""

#: Set to "1" in the environment of a notebook being graded or checked, before its first cell:
#: ``grader.check()`` in a cell then does nothing (the notebook is already being checked).
GRADING_ENV = "GRADER_GRADING"
