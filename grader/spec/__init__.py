"""The spec stage: what an assignment is (``assignment.toml`` and its checks), the notebooks
it reads (``grader.spec.notebook``), and the student notebook released from its reference
(``grader.spec.release``)."""

from grader.spec.assignment import (
    INTEGER_LIMITS,
    SPEC_FILE,
    TABLE_KEYS,
    Assignment,
    Forbidden,
    Limits,
    Provided,
    Question,
    assignments_root,
    known_assignments,
    load_assignment,
)

__all__ = ["INTEGER_LIMITS", "SPEC_FILE", "TABLE_KEYS", "Assignment", "Forbidden", "Limits", "Provided",
           "Question", "assignments_root", "known_assignments", "load_assignment"]
