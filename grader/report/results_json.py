"""``results.json``, Gradescope's autograder format: its one writer and its readers.

Written for every submission as soon as it is scored; read back by ``grader merge`` (as a
``SubmissionResult``, what a gradebook needs) and by ``grader report`` (leniently, as the
document, for a class view that must survive a damaged file).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult

RESULTS_FILE = "results.json"


def gradescope_json(result: SubmissionResult,
                    visibility: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The result in Gradescope's autograder format: one test per question, as Gradescope
    and otter-grader show them ("2-D convolution 1.33/5"), each with its checks' outcomes
    in its output; scores rounded so that the tests add up exactly to ``score`` and their
    maxima to the maximum. ``visibility`` (question id -> Gradescope visibility, from the
    spec) hides a question's details until the grades are published. Every check, as data,
    is in ``extra_data`` (and in JUnit XML for CI, one case per check)."""
    output = [f"Could not grade this notebook: {result.problem}"] if result.problem else []
    output += result.notes
    return {
        "score": result.score,
        "execution_time": round(result.timings.get("total", 0.0), 3),
        "output": "\n\n".join(output),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": _question_tests(result, visibility or {}),
        "extra_data": {
            "assignment": result.assignment,
            "submission": result.submission,
            "max_score": result.max_score,
            "questions": [
                {"id": q.id, "title": q.title, "score": q.earned, "max_score": q.possible}
                for q in result.questions
            ],
            "problem": result.problem,
            "checks": [
                {"id": c.check.id, "name": c.check.name, "question": c.check.question,
                 "points": c.check.points, "public": c.check.public, "passed": c.passed,
                 "message": c.message}
                for c in result.checks
            ],
        },
    }


def _question_tests(result: SubmissionResult, visibility: Mapping[str, str]) -> list[dict[str, Any]]:
    questions = result.questions
    earned = apportion([q.earned for q in questions], result.score)
    possible = apportion([q.possible for q in questions], result.max_score)
    tests = []
    for question, score, maximum in zip(questions, earned, possible, strict=True):
        checks = [c for c in result.checks if c.check.question == question.id]
        tests.append({
            "name": question.title,
            "score": score,
            "max_score": maximum,
            "status": "passed" if all(c.passed for c in checks) else "failed",
            "output": _question_output(checks),
            "visibility": visibility.get(question.id, "visible"),
            "tags": [question.id],
            "extra_data": {"question": question.id},
        })
    return tests


def _question_output(checks: Sequence[CheckResult]) -> str:
    """The failing checks with their messages, then the passing ones (with their notes)."""
    passed = sum(c.passed for c in checks)
    lines = [f"{passed} of {len(checks)} checks passed"]
    for check in sorted(checks, key=lambda c: c.passed):
        mark = "passed" if check.passed else "FAILED"
        lines.append(f"- {mark} ({check.check.points:.4g} pt): {check.check.name}")
        if check.message:
            lines += ["    " + line for line in check.message.splitlines()]
    return "\n".join(lines)


def apportion(values: Sequence[float], total: float, digits: int = 4) -> list[float]:
    """``values`` rounded to ``digits`` decimals so that they add up to ``total`` (rounded the
    same way) exactly: largest remainders get the last units (Hamilton's method)."""
    scale = 10 ** digits
    target = round(total * scale)
    units = [math.floor(v * scale + 1e-6) for v in values]
    order = sorted(range(len(values)), key=lambda i: units[i] - values[i] * scale)
    for i in order[:max(0, target - sum(units))]:
        units[i] += 1
    return [u / scale for u in units]


def write_results_json(result: SubmissionResult, folder: Path,
                       visibility: Mapping[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    atomic_write(path, json.dumps(gradescope_json(result, visibility), indent=2).encode())
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
            checks=_checks(data),
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


def _checks(data: dict[str, Any]) -> list[CheckResult]:
    """Every check's outcome: from ``extra_data`` (one test per question), or from the tests
    of a results.json written before (one test per check)."""
    if "checks" not in data["extra_data"]:
        return [_check(test) for test in data["tests"]]
    return [CheckResult(CheckInfo(id=str(c["id"]), name=str(c["name"]), question=str(c["question"]),
                                  points=float(c["points"]), public=bool(c["public"])),
                        passed=bool(c["passed"]), message=str(c["message"]))
            for c in data["extra_data"]["checks"]]


def _check(test: dict[str, Any]) -> CheckResult:
    question = str(test["tags"][0])
    info = CheckInfo(id=str(test["extra_data"]["check"]),
                     name=str(test["name"]).removeprefix(f"{question}: "), question=question,
                     points=float(test["max_score"]), public=bool(test["extra_data"]["public"]))
    return CheckResult(info, passed=test["status"] == "passed", message=str(test["output"]))
