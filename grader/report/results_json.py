"""``results.json``, Gradescope's autograder format: its one writer and its readers.

Written for every submission as soon as it is scored; read back by ``grader merge`` (as a
``SubmissionResult``, what a gradebook needs) and by ``grader report`` (leniently, as the
document, for a class view that must survive a damaged file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult

RESULTS_FILE = "results.json"


def gradescope_json(result: SubmissionResult) -> dict[str, Any]:
    """The result in Gradescope's autograder format (``score``, ``tests[]``...)."""
    output = [f"Could not grade this notebook: {result.problem}"] if result.problem else []
    output += result.notes
    return {
        "score": result.score,
        "execution_time": round(result.timings.get("total", 0.0), 3),
        "output": "\n\n".join(output),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": f"{c.check.question}: {c.check.name}",
                "score": round(c.earned, 6),
                "max_score": round(c.check.points, 6),
                "status": "passed" if c.passed else "failed",
                "output": c.message,
                "visibility": "visible",
                "tags": [c.check.question],
                "extra_data": {"check": c.check.id, "public": c.check.public},
            }
            for c in result.checks
        ],
        "extra_data": {
            "assignment": result.assignment,
            "submission": result.submission,
            "max_score": result.max_score,
            "questions": [
                {"id": q.id, "title": q.title, "score": q.earned, "max_score": q.possible}
                for q in result.questions
            ],
            "problem": result.problem,
        },
    }


def write_results_json(result: SubmissionResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    atomic_write(path, json.dumps(gradescope_json(result), indent=2).encode())
    return path


def read_document(path: Path) -> dict[str, Any] | None:
    """A results.json as the JSON object it holds; None if it cannot be read as one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_results_json(folder: Path, path: str) -> SubmissionResult:
    """A submission's result read back from its results.json (what the gradebook needs)."""
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        extra = data["extra_data"]
        return SubmissionResult(
            submission=folder.name, path=path, assignment=str(extra["assignment"]),
            checks=[_check(test) for test in data["tests"]],
            questions=[QuestionScore(str(q["id"]), str(q["title"]), float(q["score"]),
                                     float(q["max_score"])) for q in extra["questions"]],
            problem=extra.get("problem"), notes=_notes(data["output"], extra.get("problem")),
            timings={"total": float(data.get("execution_time", 0))})
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise GraderError(f"{folder / 'results.json'} is not a results file the grader "
                          f"wrote ({type(exc).__name__}: {exc})") from exc


def _notes(output: str, problem: str | None) -> list[str]:
    """The feedback beyond the checks, as one note (results.json joins them into one text)."""
    if problem:
        output = output.removeprefix(f"Could not grade this notebook: {problem}")
    output = output.strip("\n")
    return [output] if output else []


def _check(test: dict[str, Any]) -> CheckResult:
    question = str(test["tags"][0])
    info = CheckInfo(id=str(test["extra_data"]["check"]),
                     name=str(test["name"]).removeprefix(f"{question}: "), question=question,
                     points=float(test["max_score"]), public=bool(test["extra_data"]["public"]))
    return CheckResult(info, passed=test["status"] == "passed", message=str(test["output"]))
