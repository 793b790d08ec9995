"""What grading the mutants showed, as plain data: each mutant's ``Outcome``, the ``Tally`` of
a question, and the whole ``MutationReport`` (``grader.tools.mutate`` makes them,
``grader.tools.mutation_reports`` writes and prints them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.tools.mutants import OPERATORS, Mutant


@dataclass
class Outcome:
    """What grading one mutant showed."""

    mutant: Mutant
    status: str  # killed | survived | excluded (equivalent) | unowned (no question) | not graded
    earned: float | None = None  # on the mutant's question
    possible: float | None = None
    killed_by: str = ""  # the first failing check of the question and its feedback
    collateral: dict[str, float] = field(default_factory=dict)  # other questions' lost points
    problem: str = ""  # why the notebook could not be graded, or how it ended
    reason: str = ""  # why an excluded mutant is equivalent

    def to_dict(self) -> dict[str, Any]:
        m = self.mutant
        return {
            "id": m.id, "question": m.question, "scope": m.scope, "operator": m.operator,
            "status": self.status, "description": m.description, "original": m.original,
            "replacement": m.replacement, "code_cell": m.code_cell, "line": m.line,
            "earned": self.earned, "possible": self.possible, "killed_by": self.killed_by,
            "collateral": self.collateral, "problem": self.problem, "reason": self.reason,
            "diff": m.diff,
        }


@dataclass
class Tally:
    question: str
    graded: int = 0
    killed: int = 0
    excluded: int = 0
    not_graded: int = 0  # the mutant's result lacked its question, or grading it failed

    @property
    def survived(self) -> int:
        return self.graded - self.killed

    @property
    def kill_rate(self) -> float | None:
        return self.killed / self.graded if self.graded else None


@dataclass
class MutationReport:
    assignment: str
    seed: int
    generated: int  # every mutant of the reference (all questions)
    considered: int  # after --question, before excluding equivalents and sampling
    outcomes: list[Outcome]
    seconds: float = 0.0
    jobs: int = 1
    max: int | None = None
    questions_filter: tuple[str, ...] = ()
    stale_equivalents: list[str] = field(default_factory=list)  # listed ids no mutant has
    question_ids: tuple[str, ...] = ()  # every question of the assignment, in spec order

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def survivors(self) -> list[Outcome]:
        return self.by_status("survived")

    def tallies(self) -> list[Tally]:
        tallies = {q: Tally(q) for q in self.question_ids}
        for outcome in self.outcomes:
            question = outcome.mutant.question
            if question is None:
                continue
            tally = tallies.setdefault(question, Tally(question))
            if outcome.status in ("killed", "survived"):
                tally.graded += 1
                tally.killed += outcome.status == "killed"
            elif outcome.status == "excluded":
                tally.excluded += 1
            elif outcome.status == "not graded":
                tally.not_graded += 1
        return [t for t in tallies.values() if t.graded or t.excluded or t.not_graded]

    def overall(self) -> Tally:
        total = Tally("overall")
        for tally in self.tallies():
            total.graded += tally.graded
            total.killed += tally.killed
            total.excluded += tally.excluded
            total.not_graded += tally.not_graded
        return total

    def to_dict(self) -> dict[str, Any]:
        def row(t: Tally) -> dict[str, Any]:
            return {"question": t.question, "mutants": t.graded, "killed": t.killed,
                    "survived": t.survived, "excluded": t.excluded, "not_graded": t.not_graded,
                    "kill_rate": None if t.kill_rate is None else round(t.kill_rate, 4)}

        return {
            "assignment": self.assignment, "seed": self.seed, "jobs": self.jobs, "max": self.max,
            "questions_filter": list(self.questions_filter), "seconds": round(self.seconds, 1),
            "generated": self.generated, "considered": self.considered,
            "operators": OPERATORS, "overall": row(self.overall()),
            "questions": [row(t) for t in self.tallies()],
            "survivors": [o.to_dict() for o in self.survivors],
            "stale_equivalents": self.stale_equivalents,
            "mutants": [o.to_dict() for o in self.outcomes],
        }
