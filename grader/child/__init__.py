"""Code that runs inside the student's child process.

Nothing here is trusted by the grader: whatever the child writes is validated by
``grader.execution.executor`` before use. Keep imports to the stdlib, numpy and IPython.
"""
