"""The grader's own exception types.

A student's mistake is never an exception of the grader: it becomes a failed check in a
result. These types are for what stops the grader itself (an unknown assignment, a broken
spec, an unreadable notebook it was asked to release), and they carry messages an
instructor can act on. The CLI turns them into click errors at its boundary.
"""

from __future__ import annotations


class GraderError(Exception):
    """Base of every error the grader raises on purpose."""


class SpecError(GraderError):
    """An assignment spec is missing, malformed or inconsistent."""

    def __init__(self, assignment: str, problem: str) -> None:
        super().__init__(f"assignment {assignment!r}: {problem}")
        self.assignment = assignment
        self.problem = problem


class UnknownAssignmentError(GraderError):
    """The name given is not an assignment folder the grader can find."""

    def __init__(self, name: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "none found"
        super().__init__(f"unknown assignment {name!r} (known: {listing})")
        self.name = name
        self.known = known


class NoSubmissionsError(GraderError):
    """``grade`` found no notebook in the paths it was given: a batch of nothing is a mistake
    (a wrong folder, a CI checkout without the notebook), never a pass."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(f"no notebook (*.ipynb) found in {', '.join(paths) or 'no path'}: "
                         "nothing was graded; check the path (folders are searched recursively)")
        self.paths = paths


class UnknownQuestionError(GraderError):
    """A question id that the assignment does not have (``--question``, ``grader.check``)."""

    def __init__(self, assignment: str, question: str, known: list[str]) -> None:
        super().__init__(f"assignment {assignment!r} has no question {question!r} "
                         f"(its questions: {', '.join(known)})")
        self.assignment = assignment
        self.question = question
        self.known = known


class NotebookError(GraderError):
    """A file could not be read as a gradable notebook; the message is shown to the student."""


class PlanError(GraderError):
    """Running the checks against the reference failed, so nothing can be graded."""


class KitError(GraderError):
    """A student kit cannot be built as the assignment stands, or cannot be used (missing,
    damaged, for another notebook); the message says what to do."""
