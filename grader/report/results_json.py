"""``results.json``, Gradescope's autograder format: its one writer and its readers.

Written for every submission as soon as it is scored; read back by ``grader merge`` (as a
``SubmissionResult``, what a gradebook needs) and by ``grader report`` (leniently, as the
document, for a class view that must survive a damaged file).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.report.causes import QuestionCauses, question_causes
from grader.report.formats import markdown_fence
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult

RESULTS_FILE = "results.json"
#: The scorer's notes on one cell or one forbidden use (``scoring.scorer``).
_DETAIL_NOTE = re.compile(r"^(Code cell \d+ |Forbidden )")


def gradescope_json(result: SubmissionResult, visibility: Mapping[str, str] | None = None,
                    causes: Sequence[QuestionCauses] | None = None) -> dict[str, Any]:
    """The result in Gradescope's autograder format: one test per question, as Gradescope
    and otter-grader show them ("2-D convolution 1.33/5"), each with its checks' outcomes
    in its output; scores rounded so that the tests add up exactly to ``score`` and their
    maxima to the maximum. ``visibility`` (question id -> Gradescope visibility, from the
    spec) hides a question's details until the grades are published. Every check, as data,
    is in ``extra_data`` (and in JUnit XML for CI, one case per check).

    Outputs are Markdown (``output_format: md``, as Gradescope documents it), cause first:
    each question's output starts with why it lost points (``causes``, from
    ``grader.report.causes``; folded from the messages alone when not given), and the
    submission's output with one line per visible question that lost points."""
    causes = causes if causes is not None else question_causes(result)
    visibility = visibility or {}
    output = [f"**Could not grade this notebook:** {result.problem}"] if result.problem else []
    # notes on the whole notebook (another assignment's...) before the questions' causes;
    # those on a cell or a forbidden use, which the causes sum up already, after them
    details = [note for note in result.notes if _DETAIL_NOTE.match(note)]
    output += [markdown_fence(note) for note in result.notes if note not in details]
    output += _summary(causes, visibility)
    output += [markdown_fence(note) for note in details]
    return {
        "score": result.score,
        "execution_time": round(result.timings.get("total", 0.0), 3),
        "output": "\n\n".join(output),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": _question_tests(result, visibility, causes),
        "extra_data": {
            "assignment": result.assignment,
            "submission": result.submission,
            "max_score": result.max_score,
            "questions": [
                {"id": q.id, "title": q.title, "score": q.earned, "max_score": q.possible}
                for q in result.questions
            ],
            "problem": result.problem,
            "notes": list(result.notes),
            "checks": [
                {"id": c.check.id, "name": c.check.name, "question": c.check.question,
                 "points": c.check.points, "public": c.check.public, "passed": c.passed,
                 "message": c.message}
                for c in result.checks
            ],
        },
    }


def _summary(causes: Sequence[QuestionCauses], visibility: Mapping[str, str]) -> list[str]:
    """One line per question that lost points (visible ones only: a hidden question's cause
    waits for its test to be shown), and where the whole feedback is."""
    lines = [f"- **{q.title}** ({q.earned:.4g} / {q.possible:.4g}): {q.headline()}"
             for q in causes if q.causes and visibility.get(q.id, "visible") == "visible"]
    if not lines:
        return []
    return ["**Where your points went**\n\n" + "\n".join(lines),
            "Each question below lists its causes first, then its checks. The grader also wrote "
            "feedback.html (with pictures) beside this results.json; ask your instructor for it."]


def _question_tests(result: SubmissionResult, visibility: Mapping[str, str],
                    causes: Sequence[QuestionCauses]) -> list[dict[str, Any]]:
    by_id = {q.id: q for q in causes}
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
            "output": _question_output(checks, by_id.get(question.id)),
            "visibility": visibility.get(question.id, "visible"),
            "tags": [question.id],
            "extra_data": {"question": question.id},
        })
    return tests


def _question_output(checks: Sequence[CheckResult], causes: QuestionCauses | None) -> str:
    """Markdown: why the question lost points (one line per cause), then the failing checks
    with their messages, then the passing ones (with their notes)."""
    passed = sum(c.passed for c in checks)
    lines = [f"**{cause.text}**" if cause.kind == "mistake" else f"- \u2717 {cause.text}"
             for cause in (causes.causes if causes else [])]
    lines += ["", f"{passed} of {len(checks)} checks passed", ""]
    for check in sorted(checks, key=lambda c: c.passed):
        mark = "passed" if check.passed else "FAILED"
        lines.append(f"- {mark} ({check.check.points:.4g} pt): {_md_text(check.check.name)}")
        if check.message:
            lines += ["", markdown_fence(check.message, "    "), ""]
    return "\n".join(lines).strip("\n")


def _md_text(text: str) -> str:
    """Text that Markdown shows as written (its emphasis and link marks escaped)."""
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)



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
                       visibility: Mapping[str, str] | None = None,
                       causes: Sequence[QuestionCauses] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    atomic_write(path, json.dumps(gradescope_json(result, visibility, causes), indent=2).encode())
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
            problem=extra.get("problem"),
            notes=[str(n) for n in extra["notes"]] if isinstance(extra.get("notes"), list)
            else _notes(data["output"], extra.get("problem")),
            timings={"total": float(data.get("execution_time", 0))})
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise GraderError(f"{folder / 'results.json'} is not a results file the grader "
                          f"wrote ({type(exc).__name__}: {exc})") from exc


def _notes(output: str, problem: str | None) -> list[str]:
    """The feedback beyond the checks, as one note (results.json written before its
    ``extra_data`` kept the notes joined them into one text)."""
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
