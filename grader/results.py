"""The grade of a submission as plain dataclasses; reporters render them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckInfo:
    """A check as collected from the assignment's checks module."""

    id: str  # pytest node id within the checks module, stable across runs
    name: str  # human-readable: the docstring's first line and the case id
    question: str
    points: float  # this item's share of its check's points
    public: bool


@dataclass
class CheckResult:
    """The outcome of one check for one submission."""

    check: CheckInfo
    passed: bool
    message: str = ""

    @property
    def earned(self) -> float:
        return self.check.points if self.passed else 0.0


@dataclass
class QuestionScore:
    id: str
    title: str
    earned: float
    possible: float


@dataclass(frozen=True)
class QuestionOutline:
    """A question as a student's check lists it: what it is worth at grading and how much of
    that its public checks test (none: it is checked only at grading). Hidden checks are
    counted here, never named."""

    id: str
    title: str
    points: float  # every check's points, hidden ones included
    public_points: float  # the points of its public checks
    public_checks: int  # how many public checks (parametrized cases counted) it has
    optional: bool = False

    @property
    def has_public_checks(self) -> bool:
        return self.public_checks > 0


def outline(questions: Any, checks: list[CheckInfo]) -> list[QuestionOutline]:
    """Each question of a spec (``Assignment.questions``) with the points of ``checks``."""
    found = []
    for question in questions:
        mine = [c for c in checks if c.question == question.id]
        public = [c for c in mine if c.public]
        found.append(QuestionOutline(question.id, question.title, round(sum(c.points for c in mine), 4),
                                     round(sum(c.points for c in public), 4), len(public),
                                     bool(getattr(question, "optional", False))))
    return found


@dataclass
class SubmissionResult:
    """Everything a reporter needs about one graded submission."""

    submission: str  # identifier, unique within a run
    path: str
    assignment: str
    checks: list[CheckResult] = field(default_factory=list)
    questions: list[QuestionScore] = field(default_factory=list)
    problem: str | None = None  # why the notebook could not be graded at all
    notes: list[str] = field(default_factory=list)  # feedback beyond the checks
    interrupted: str = ""  # the note saying the run was cut short (a crash, a time limit), if any
    timings: dict[str, float] = field(default_factory=dict)
    attachments: dict[str, bytes] = field(default_factory=dict)  # files beside results.json

    @property
    def score(self) -> float:
        return round(sum(c.earned for c in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.check.points for c in self.checks), 4)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["attachments"] = sorted(self.attachments)
        data["score"], data["max_score"] = self.score, self.max_score
        return data
