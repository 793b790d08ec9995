"""The assignment kit: helpers that assignments' own modules import, written once.

- ``grader.kit.keras``: for an assignment's ``probes.py``, which runs in the notebook's
  process after its last cell (the student's child, in the sandbox): the notebook's names
  and Keras models turned into plain data, with messages written for students. It imports
  the standard library and numpy only; Keras and TensorFlow inside the functions that use
  them.
- ``grader.kit.images``: for an assignment's ``data.py`` (the planner and the grader's
  process): numpy image helpers for generated data sets.

Nothing here may hold an answer: the child's code, this kit included, is visible to the
student's code. This package imports nothing itself, so a probe importing one module of it
loads only that module.
"""
