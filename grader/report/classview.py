"""The class view of a grading run (``grader report OUTDIR``).

Reads what a run wrote (``run.json``, ``submissions/*/results.json`` and
``observations.json``) and summarises it for the instructor: the score distribution, each
question's pass rate, the most common failure messages per question (numbers normalised
away, so "expected 3, got 4" and "expected 7, got 2" are one problem), and the slowest
submissions. Rendered as rich tables for the terminal and as ``report.html`` with plots.
Nothing is graded again; a run graded with ``--only`` is summarised as it is.
"""

from __future__ import annotations

import html
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.observations import Observations
from grader.report.formats import terminal_text
from grader.report.results_json import read_document
from grader.report.run_json import read_run_json

REPORT_FILE = "report.html"


@dataclass
class Check:
    question: str
    name: str
    passed: bool
    message: str
    public: bool


@dataclass
class GradedSubmission:
    name: str
    score: float
    max_score: float
    problem: str | None
    questions: dict[str, tuple[float, float]]  # id -> (score, max_score)
    checks: list[Check]
    seconds: float | None = None  # wall time of running the notebook (observations' timings)
    ending: str = ""
    slowest_cell: tuple[int, float] | None = None  # (code cell number from 1, seconds)
    cells_seconds: float = 0.0  # all code cells
    probes_seconds: float = 0.0  # all calls of the checks (hidden inputs)


@dataclass
class QuestionStats:
    id: str
    title: str
    possible: float
    mean: float  # mean points earned
    full: int  # submissions with full marks
    zero: int  # submissions with no point
    checks_passed: int
    checks_run: int

    @property
    def pass_rate(self) -> float:
        """Share of this question's check results that passed, over all submissions."""
        return self.checks_passed / self.checks_run if self.checks_run else 0.0


@dataclass
class FailureGroup:
    """Failure messages that are the same once numbers are normalised away."""

    question: str
    pattern: str
    example: str
    submissions: list[str] = field(default_factory=list)
    checks: int = 0


@dataclass
class ClassReport:
    out: Path
    assignment: str
    seed: int | None
    submissions: list[GradedSubmission]
    questions: list[QuestionStats]
    failures: dict[str, list[FailureGroup]]  # question id -> most common first

    @property
    def scores(self) -> list[float]:
        return [s.score for s in self.submissions]

    @property
    def max_score(self) -> float:
        return max((s.max_score for s in self.submissions), default=0.0)

    def slowest(self, top: int = 10) -> list[GradedSubmission]:
        timed = [s for s in self.submissions if s.seconds is not None]
        return sorted(timed, key=lambda s: -(s.seconds or 0.0))[:top]

    def stats(self) -> dict[str, float]:
        scores = self.scores
        if not scores:
            return {}
        return {"submissions": len(scores), "mean": statistics.fmean(scores),
                "median": statistics.median(scores), "min": min(scores), "max": max(scores),
                "stdev": statistics.pstdev(scores),
                "not graded": sum(s.problem is not None for s in self.submissions)}


# --- reading a run ------------------------------------------------------------------------

def load(out: Path, top_failures: int = 3) -> ClassReport:
    """The class view of the run in ``out``; raises GraderError if it is not a run's folder."""
    folder = out / "submissions"
    if not folder.is_dir():
        raise GraderError(f"{out} is not the output folder of a grading run (no submissions/)")
    try:
        manifest = read_run_json(out)
    except GraderError:
        manifest = {}
    submissions = []
    titles: dict[str, str] = {}
    for results_file in sorted(folder.glob("*/results.json")):
        data = read_document(results_file)
        if data is None:
            continue
        submission = _submission(results_file.parent.name, data, titles)
        _add_timings(submission, Observations.read_document(results_file.parent))
        submissions.append(submission)
    if not submissions:
        raise GraderError(f"{out} holds no graded submission (no submissions/*/results.json)")
    return ClassReport(
        out=out, assignment=str(manifest.get("assignment") or _assignment(out, folder)),
        seed=manifest.get("seed"), submissions=submissions,
        questions=_question_stats(submissions, titles),
        failures=common_failures(submissions, top_failures),
    )


def _assignment(out: Path, folder: Path) -> str:
    for results_file in folder.glob("*/results.json"):
        data = read_document(results_file) or {}
        name = (data.get("extra_data") or {}).get("assignment")
        if name:
            return str(name)
    return out.name


def _submission(name: str, data: dict, titles: dict[str, str]) -> GradedSubmission:
    extra = data.get("extra_data") or {}
    questions = {}
    for question in extra.get("questions") or []:
        questions[str(question["id"])] = (float(question["score"]), float(question["max_score"]))
        titles.setdefault(str(question["id"]), str(question.get("title") or question["id"]))
    checks = []
    recorded = extra.get("checks")
    if isinstance(recorded, list):  # one test per question: every check is in extra_data
        for check in recorded:
            if isinstance(check, dict):
                checks.append(Check(question=str(check.get("question", "")),
                                    name=f"{check.get('question', '')}: {check.get('name', '')}",
                                    passed=bool(check.get("passed")),
                                    message=str(check.get("message") or ""),
                                    public=bool(check.get("public"))))
    for test in [] if isinstance(recorded, list) else data.get("tests") or []:  # older files
        tags = test.get("tags") or [""]
        checks.append(Check(question=str(tags[0]), name=str(test.get("name", "")),
                            passed=test.get("status") == "passed", message=str(test.get("output") or ""),
                            public=bool((test.get("extra_data") or {}).get("public"))))
    max_score = extra.get("max_score")
    if max_score is None:
        max_score = sum(float(t.get("max_score") or 0) for t in data.get("tests") or [])
    return GradedSubmission(name=str(extra.get("submission") or name), score=float(data.get("score") or 0),
                      max_score=float(max_score), problem=extra.get("problem"),
                      questions=questions, checks=checks)


def _add_timings(submission: GradedSubmission, observations: Any) -> None:
    if not isinstance(observations, dict):
        return
    timings = observations.get("timings") or {}
    seconds = timings.get("total", timings.get("execute"))
    submission.seconds = float(seconds) if seconds is not None else None
    submission.ending = str(observations.get("ending") or "")
    cells = [c for c in observations.get("cells") or [] if isinstance(c, dict)]
    if cells:
        slowest = max(cells, key=lambda c: float(c.get("seconds") or 0))
        submission.slowest_cell = (int(slowest.get("index", 0)) + 1, float(slowest.get("seconds") or 0))
        submission.cells_seconds = sum(float(c.get("seconds") or 0) for c in cells)
    probes = observations.get("probes") or {}
    if isinstance(probes, dict):
        submission.probes_seconds = sum(float(p.get("seconds") or 0) for p in probes.values()
                                        if isinstance(p, dict))


def _question_stats(submissions: Sequence[GradedSubmission], titles: dict[str, str]) -> list[QuestionStats]:
    stats = []
    for qid, title in titles.items():
        graded = [s.questions[qid] for s in submissions if qid in s.questions]
        checks = [c for s in submissions for c in s.checks if c.question == qid]
        possible = max((p for _, p in graded), default=0.0)
        stats.append(QuestionStats(
            id=qid, title=title, possible=possible,
            mean=statistics.fmean([e for e, _ in graded]) if graded else 0.0,
            full=sum(e >= p - 1e-9 and p > 0 for e, p in graded),
            zero=sum(e <= 1e-9 for e, _ in graded),
            checks_passed=sum(c.passed for c in checks), checks_run=len(checks)))
    return stats


# --- grouping failure messages ------------------------------------------------------------

SHAPE = re.compile(r"(?<![\w.])\d+(?:x\d+)+(?![\w.])")  # 6x6, 3x3x2
NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_\d])")
SPACES = re.compile(r"\s+")


def normalise(message: str) -> str:
    """The first line of a failure message with numbers replaced by ``#`` (and shapes such
    as ``6x6`` by ``#x#``), so failures that differ only in values group together."""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else "(no message)"
    text = SHAPE.sub(lambda m: "x".join("#" for _ in m.group(0).split("x")), first)
    text = NUMBER.sub("#", text)
    return SPACES.sub(" ", text).strip()


def common_failures(submissions: Sequence[GradedSubmission], top: int = 3) -> dict[str, list[FailureGroup]]:
    """Per question, the ``top`` failure patterns by how many submissions show them."""
    groups: dict[tuple[str, str], FailureGroup] = {}
    for submission in submissions:
        for check in submission.checks:
            if check.passed:
                continue
            pattern = normalise(check.message)
            group = groups.setdefault((check.question, pattern), FailureGroup(
                check.question, pattern, _first_line(check.message)))
            group.checks += 1
            if submission.name not in group.submissions:
                group.submissions.append(submission.name)
    by_question: dict[str, list[FailureGroup]] = defaultdict(list)
    for group in groups.values():
        by_question[group.question].append(group)
    order = list(dict.fromkeys(c.question for s in submissions for c in s.checks))
    return {q: sorted(by_question[q], key=lambda g: (-len(g.submissions), -g.checks, g.pattern))[:top]
            for q in order if q in by_question}


def _first_line(message: str, limit: int = 300) -> str:
    text = (message or "").strip()
    first = text.splitlines()[0] if text else "(no message)"
    return first if len(first) <= limit else first[: limit - 3] + "..."


# --- terminal -----------------------------------------------------------------------------

def tables(report: ClassReport, slowest: int = 10) -> list[Any]:
    """rich renderables: scores, questions, common failures, slowest submissions (what
    students wrote is shown as ``Text``, never read as rich markup)."""
    from rich.table import Table
    from rich.text import Text

    stats = report.stats()
    title = f"{report.assignment}: {len(report.submissions)} submission(s)"
    overview = Table(title=title + (f" (seed {report.seed})" if report.seed is not None else ""))
    overview.add_column("score range", no_wrap=True)
    overview.add_column("submissions", justify="right")
    overview.add_column("", no_wrap=True)
    counts = histogram(report.scores, report.max_score)
    peak = max((n for _, _, n in counts), default=1) or 1
    for low, high, n in counts:
        overview.add_row(f"{low:g} to {'<' if high < report.max_score else ''}{high:g}", str(n),
                         "\u2588" * round(24 * n / peak))
    overview.caption = ", ".join(f"{k} {v:.3g}" for k, v in stats.items())

    questions = Table(title="questions")
    for name, justify in (("question", "left"), ("mean", "right"), ("full marks", "right"),
                          ("no points", "right"), ("checks passed", "right")):
        questions.add_column(name, justify=justify)  # type: ignore[arg-type]
    for q in report.questions:
        questions.add_row(q.title, f"{q.mean:.3g} / {q.possible:g}", str(q.full), str(q.zero),
                          f"{100 * q.pass_rate:.0f}% of {q.checks_run}")

    failures = Table(title="most common failures (numbers shown as #)")
    failures.add_column("question", no_wrap=True)
    failures.add_column("submissions", justify="right")
    failures.add_column("checks", justify="right")
    failures.add_column("message (an example)", overflow="fold")
    titles = {q.id: q.title for q in report.questions}
    for qid, groups in report.failures.items():
        for group in groups:
            failures.add_row(titles.get(qid, qid), str(len(group.submissions)), str(group.checks),
                             Text(terminal_text(group.example)))  # a student's text: no markup

    slow = Table(title=f"slowest {slowest} submissions (seconds)")
    for name in SLOW_COLUMNS:
        slow.add_column(name, justify="left" if name in ("submission", "ended") else "right")
    for s in report.slowest(slowest):
        slow.add_row(*map(Text, _slow_row(s)))
    return [overview, questions, failures, slow]


SLOW_COLUMNS = ("submission", "total", "cells", "slowest cell", "checks' calls", "ended", "score")


def _slow_row(s: GradedSubmission) -> list[str]:
    cell = f"cell {s.slowest_cell[0]}: {s.slowest_cell[1]:.1f}" if s.slowest_cell else ""
    return [terminal_text(s.name), f"{s.seconds or 0:.1f}", f"{s.cells_seconds:.1f}", cell,
            f"{s.probes_seconds:.1f}", terminal_text(s.ending), f"{s.score:.4g} / {s.max_score:g}"]


def histogram(scores: Sequence[float], max_score: float, bins: int = 10) -> list[tuple[float, float, int]]:
    """(low, high, count) per bin of equal width from 0 to ``max_score``; the last bin
    includes full marks."""
    if max_score <= 0:
        return [(0.0, 0.0, len(scores))]
    width = max_score / bins
    counts = [0] * bins
    for score in scores:
        counts[min(bins - 1, max(0, int(score / width + 1e-9)))] += 1
    return [(round(i * width, 4), round((i + 1) * width, 4), n) for i, n in enumerate(counts)]


# --- HTML ---------------------------------------------------------------------------------

def write_html(report: ClassReport, path: Path | None = None, slowest: int = 10) -> Path:
    path = path or report.out / REPORT_FILE
    atomic_write(path, class_page(report, slowest).encode("utf-8"))
    return path


def class_page(report: ClassReport, slowest: int = 10) -> str:
    from grader.report.feedback import STYLE

    e = html.escape
    stats = report.stats()
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{e(report.assignment)}: class report</title>", f"<style>{STYLE}</style>",
             "</head>", "<body>", f"<h1>{e(report.assignment)}: class report</h1>",
             f'<p class="sub">{len(report.submissions)} submission(s) in {e(str(report.out))}'
             + (f", seed {report.seed}" if report.seed is not None else "") + "</p>",
             "<p>" + ", ".join(f"{e(k)} <b>{v:.3g}</b>" for k, v in stats.items()) + "</p>"]
    parts += _roster(report)
    parts += ["<h2>Score distribution</h2>", _plot(_draw_histogram, report, _histogram_text(report))]
    parts += ["<h2>Questions</h2>", _plot(_draw_questions, report, ""), "<table>",
              "<tr><th>question</th><th>mean</th><th>full marks</th><th>no points</th>"
              "<th>checks passed</th></tr>"]
    for q in report.questions:
        parts.append(f'<tr><td>{e(q.title)}</td><td class="num">{q.mean:.3g} / {q.possible:g}</td>'
                     f'<td class="num">{q.full}</td><td class="num">{q.zero}</td>'
                     f'<td class="num">{100 * q.pass_rate:.0f}% of {q.checks_run}</td></tr>')
    parts.append("</table>")
    parts += ["<h2>Most common failures</h2>",
              "<p>Messages are grouped once numbers are replaced by #; the example is one of them.</p>"]
    titles = {q.id: q.title for q in report.questions}
    for qid, groups in report.failures.items():
        parts.append(f"<h3>{e(titles.get(qid, qid))}</h3><table>"
                     "<tr><th>submissions</th><th>checks</th><th>message</th></tr>")
        for group in groups:
            names = ", ".join(_linked(report, name) for name in group.submissions[:30])
            names += f" and {len(group.submissions) - 30} more" if len(group.submissions) > 30 else ""
            parts.append(f'<tr><td class="num">{len(group.submissions)}</td>'
                         f'<td class="num">{group.checks}</td><td><pre>{e(group.example)}</pre>'
                         f"<small>{names}</small></td></tr>")
        parts.append("</table>")
    parts += [f"<h2>Slowest {slowest} submissions (seconds)</h2>", "<table>",
              "<tr>" + "".join(f"<th>{e(c)}</th>" for c in SLOW_COLUMNS) + "</tr>"]
    for s in report.slowest(slowest):
        cells = [e(v) for v in _slow_row(s)]
        link = f"submissions/{s.name}/feedback.html"
        if (report.out / link).is_file():
            cells[0] = f'<a href="{e(link)}">{cells[0]}</a>'
        parts.append("<tr>" + "".join(f'<td class="num">{c}</td>' if 0 < i < 5 or i == 6 else f"<td>{c}</td>"
                                      for i, c in enumerate(cells)) + "</tr>")
    parts += ["</table>", f"<script>{SORT_SCRIPT}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


#: Click a column's header of a sortable table to sort by it (again: the other way).
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach((th, column) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], rows = [...body.rows];
  const key = r => { const v = r.cells[column].dataset.sort ?? r.cells[column].textContent;
                     return isNaN(parseFloat(v)) ? v : parseFloat(v); };
  const down = th.dataset.down !== 'true'; th.dataset.down = down;
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (down ? -1 : 1));
  rows.forEach(r => body.appendChild(r));
}));
"""


def _linked(report: ClassReport, name: str) -> str:
    """A submission's name, linked to its feedback page when there is one."""
    link = f"submissions/{name}/feedback.html"
    if (report.out / link).is_file():
        return f'<a href="{html.escape(link)}">{html.escape(name)}</a>'
    return html.escape(name)


def _roster(report: ClassReport) -> list[str]:
    """Every submission: its total and each question's points, linked to its feedback page;
    sortable by any column (a click on its header)."""
    e = html.escape
    questions = report.questions
    head = "".join(f'<th title="{e(q.title)}">{e(q.id)}</th>' for q in questions)
    parts = ["<h2>Roster</h2>", "<p>Click a column to sort by it.</p>",
             '<table class="sortable"><thead><tr><th>submission</th><th>total</th>'
             f"{head}</tr></thead><tbody>"]
    for s in sorted(report.submissions, key=lambda s: s.name):
        cells = "".join(f'<td class="num" data-sort="{s.questions.get(q.id, (0.0, 0.0))[0]}">'
                        f"{s.questions.get(q.id, (0.0, 0.0))[0]:.3g}</td>" for q in questions)
        parts.append(f"<tr><td>{_linked(report, s.name)}</td><td class=\"num\" data-sort=\"{s.score}\">"
                     f"{s.score:.4g} / {s.max_score:g}</td>{cells}</tr>")
    parts.append("</tbody></table>")
    return parts


def _plot(draw: Any, report: ClassReport, fallback: str) -> str:
    from grader.report.feedback import png

    try:
        data = png(lambda figure: draw(figure, report))
    except Exception as exc:  # noqa: BLE001 - a report without a plot is still a report
        note = "matplotlib is not installed" if isinstance(exc, ImportError) else f"{type(exc).__name__}"
        return f"<p>(plot left out: {html.escape(note)})</p>" + (
            f"<pre>{html.escape(fallback)}</pre>" if fallback else "")
    import base64

    return (f'<figure><img alt="plot" src="data:image/png;base64,'
            f'{base64.b64encode(data).decode("ascii")}"></figure>')


def _histogram_text(report: ClassReport) -> str:
    return "\n".join(f"{low:>6g} - {high:<6g} {n:>4} " + "#" * n
                     for low, high, n in histogram(report.scores, report.max_score))


def _draw_histogram(figure: Any, report: ClassReport) -> None:
    figure.set_size_inches(8, 3.2)
    ax = figure.subplots(gridspec_kw={"left": 0.08, "right": 0.98, "bottom": 0.16, "top": 0.93})
    counts = histogram(report.scores, report.max_score, bins=min(20, max(5, int(report.max_score))))
    ax.bar([low for low, _, _ in counts], [n for _, _, n in counts],
           width=[high - low for low, high, _ in counts], align="edge", color="#2e86c1",
           edgecolor="white")
    stats = report.stats()
    if stats:
        ax.axvline(stats["median"], color="black", linestyle="--", linewidth=1,
                   label=f"median {stats['median']:.3g}")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(0, report.max_score or 1)
    ax.set_xlabel(f"score (of {report.max_score:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)


def _draw_questions(figure: Any, report: ClassReport) -> None:
    questions = report.questions
    figure.set_size_inches(8, 1.2 + 0.42 * len(questions))
    height = 0.8 + 0.42 * len(questions)
    ax = figure.subplots(gridspec_kw={"left": 0.36, "right": 0.97, "bottom": 0.6 / height,
                                      "top": 1 - 0.4 / height})
    labels = [q.title if len(q.title) <= 45 else q.title[:42] + "..." for q in questions]
    mean = [q.mean / q.possible if q.possible else 0.0 for q in questions]
    rate = [q.pass_rate for q in questions]
    rows = range(len(questions))
    ax.barh([r - 0.2 for r in rows], mean, height=0.4, color="#2e86c1", label="mean share of points")
    ax.barh([r + 0.2 for r in rows], rate, height=0.4, color="#a9cce3", label="checks passed")
    ax.set_yticks(list(rows), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    # above the bars, never on them
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=8, frameon=False)
