"""Per-submission feedback: ``feedback.html`` and ``feedback.md`` beside ``results.json``.

Both show what results.json already tells the student (score per question, each failing
check's message, notes such as cells that raised) in a form people read, plus pictures
where looking beats reading:

- any confusion matrix a check printed (``true\\pred`` tables, as build-cnn notes them) as
  a heat map beside the accuracy of each class as bars;
- pictures the assignment draws itself: an optional ``feedback.py`` in the assignment
  folder defines ``figures(context)`` returning figures of this module (convolve-by-hand
  shows the student's feature maps of the lecture's X beside the expected ones). It is
  instructor code run in the grader's process, like ``checks.py``, and it must show only
  answers to *public* inputs: every expected value it draws is visible to the student.

The figures are ``grader.report.figures``, the confusion matrices are read from the
checks' messages by ``grader.report.confusion``, and the hook's API is
``grader.report.hooks``; their public names are importable from here too (assignments'
hooks import them from ``grader.feedback``). Nothing here may fail a grading run:
``write_feedback`` never raises.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.files import atomic_write
from grader.observations import Observations, ProbeRecord
from grader.plan.harness import ProbePlan
from grader.report.causes import Cause, QuestionCauses, notebook_cells, question_causes
from grader.report.confusion import confusion_matrices
from grader.report.figures import (
    ANNOTATE_ALL,
    DPI,
    MATPLOTLIB_MISSING,
    MAX_ANNOTATED,
    MAX_CHANNELS,
    MAX_PIXELS,
    PNG_SIGNATURE,
    Confusion,
    Figure,
    GridRow,
    ImageGrid,
    Picture,
    png,
    render,
)
from grader.report.formats import markdown_fence, printable
from grader.report.hooks import HOOK_FILE, Answer, FeedbackContext, assignment_figures
from grader.results import CheckResult, SubmissionResult
from grader.spec import Assignment
from grader.spec.notebook import CodeCell

__all__ = ["ANNOTATE_ALL", "DPI", "HOOK_FILE", "MATPLOTLIB_MISSING", "MAX_ANNOTATED", "MAX_CHANNELS",
           "MAX_PIXELS", "PNG_SIGNATURE", "STYLE", "Answer", "Confusion", "Feedback", "FeedbackContext",
           "Figure", "GridRow", "ImageGrid", "Picture", "assignment_figures", "attached_pictures", "build",
           "cell_tracebacks", "confusion_matrices", "html_page", "markdown", "png", "render",
           "write_feedback"]


# --- the feedback itself ------------------------------------------------------------------

@dataclass
class Feedback:
    result: SubmissionResult
    title: str
    pictures: list[Picture] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # for the instructor: why pictures are missing
    tracebacks: list[tuple[str, str]] = field(default_factory=list)  # (cell, its traceback)
    questions: list[QuestionCauses] = field(default_factory=list)  # each with why it lost points
    notes: list[str] = field(default_factory=list)  # the result's notes, cells named by first line


def cell_tracebacks(observations: Observations | None,
                    cells: Sequence[CodeCell] = ()) -> list[tuple[str, str]]:
    """The traceback (notebook frames only) of each code cell that raised, for the student;
    the cell named by its first line when the notebook's ``cells`` are given."""
    from grader.tools.standing import cell_label

    found = []
    for cell in observations.cells if observations is not None else []:
        error = cell.error or {}
        if cell.status == "error" and error.get("traceback") and error.get("type") != "NotImplementedError":
            found.append((cell_label(cells, cell.index) if cells else f"Code cell {cell.index + 1}",
                          f"{error['traceback']}\n{error.get('type')}: {error.get('message', '')}"))
    return found


def build(result: SubmissionResult, assignment: Assignment | None = None,
          observations: Observations | None = None,
          reference: Mapping[str, ProbeRecord] | None = None,
          probes: ProbePlan | None = None) -> Feedback:
    """Collect what the feedback shows, drawing every picture (never raises for a picture).

    ``probes`` (the plan's inputs) lets the known mistakes of the assignment be named."""
    from grader.tools.standing import with_cell_labels

    feedback = Feedback(result, assignment.title if assignment else result.assignment)
    cells = notebook_cells(result, assignment)
    feedback.questions = question_causes(result, assignment, observations, probes, reference)
    feedback.notes = [with_cell_labels(note, cells) for note in result.notes]
    figures: list[Figure] = []
    if assignment is not None and not result.problem:
        context = FeedbackContext(assignment, result, observations, reference or {})
        own, problems = assignment_figures(context)
        figures += own
        feedback.problems += problems
    try:
        figures += confusion_matrices(result)
    except Exception as exc:  # noqa: BLE001 - a message that fooled the parser costs a picture
        feedback.problems.append(f"could not read a confusion matrix: {exc}")
    feedback.pictures = [render(f) for f in figures] + attached_pictures(result)
    feedback.tracebacks = cell_tracebacks(observations, cells)
    return feedback


def attached_pictures(result: SubmissionResult) -> list[Picture]:
    """PNG files the checks attached to the result (``SubmissionResult.attachments``, name ->
    bytes, where the engine provides it), shown as they are."""
    attachments = getattr(result, "attachments", None) or {}
    return [Picture(str(name), "Attached by the checks.", bytes(data), "")
            for name, data in sorted(attachments.items())
            if isinstance(data, (bytes, bytearray)) and bytes(data[:8]) == PNG_SIGNATURE]


def write_feedback(result: SubmissionResult, folder: Path, assignment: Assignment | None = None,
                   observations: Observations | None = None,
                   reference: Mapping[str, ProbeRecord] | None = None,
                   probes: ProbePlan | None = None) -> list[Path]:
    """Write ``feedback.html`` and ``feedback.md`` into ``folder``; never raises.

    ``observations``, ``reference`` (the plan's reference records) and ``probes`` (its
    inputs) are needed for the assignment's own pictures and its known mistakes. Returns
    the files written.
    """
    try:
        feedback = build(result, assignment, observations, reference, probes)
    except Exception as exc:  # noqa: BLE001 - the grade is written already; keep the words
        feedback = Feedback(result, result.assignment,
                            problems=[f"pictures left out: {type(exc).__name__}: {exc}"],
                            questions=question_causes(result), notes=list(result.notes))
    written = []
    for name, renderer in (("feedback.html", html_page), ("feedback.md", markdown)):
        try:
            atomic_write(folder / name, renderer(feedback).encode("utf-8"))
            written.append(folder / name)
        except Exception as exc:  # noqa: BLE001 - feedback must never fail a grading run
            print(f"grader: could not write {folder / name}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
    return written


#: How many checks of one cause are listed with their messages.
MAX_CHECKS_SHOWN = 20


def _points(value: float) -> str:
    return f"{value:.4g}"


# --- HTML ---------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2329;
       max-width: 980px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .1em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
.sub { color: #5b6670; margin-top: 0; }
.score { font-size: 2em; font-weight: 700; }
.problem { background: #fdecea; border-left: 4px solid #c0392b; padding: .6em 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e3e7ea; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.bar { background: #e3e7ea; width: 160px; height: 10px; border-radius: 5px; }
.bar span { display: block; height: 10px; border-radius: 5px; background: #2e86c1; }
.bar span.full { background: #27ae60; } .bar span.none { background: #c0392b; }
pre { background: #f5f7f8; padding: .6em .8em; overflow-x: auto; font-size: 13px;
      white-space: pre-wrap; word-break: break-word; }
.check { margin: .7em 0; } .check .name { font-weight: 600; }
.tag { font-size: 11px; border-radius: 3px; padding: 0 .4em; margin-left: .4em;
       background: #eaf2f8; color: #1f618d; }
.fail { color: #c0392b; } .pass { color: #27ae60; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ea; }
figcaption { color: #5b6670; font-size: 13px; }
footer { color: #5b6670; font-size: 12px; margin-top: 3em; }
table.questions td { vertical-align: top; } table.questions td:first-child { width: 12em; }
table.questions td:nth-child(2) { width: 6em; }
details.cause { margin: .15em 0; } details.cause > summary { cursor: pointer; }
details.cause[open] { background: #fafbfc; padding-bottom: .3em; }
p.mistake { margin: .2em 0 .4em; padding: .35em .6em; background: #fef5e7;
            border-left: 4px solid #e67e22; }
"""


def html_page(feedback: Feedback) -> str:
    """The page a student opens: the score, then one row per question with why it lost
    points (each cause one line, its checks one click away), then pictures and notes."""
    result = feedback.result
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(result.submission)}: {e(feedback.title)}</title>",
        f"<style>{STYLE}</style>", "</head>", "<body>",
        f"<h1>{e(feedback.title)}</h1>",
        f'<p class="sub">Feedback for <b>{e(result.submission)}</b> ({e(Path(result.path).name)})</p>',
        f'<p class="score">{_points(result.score)} / {_points(result.max_score)} points</p>',
    ]
    if result.problem:
        parts.append(f'<div class="problem"><b>Could not grade this notebook:</b> '
                     f"{e(result.problem)}</div>")
    parts += ['<table class="questions">',
              "<tr><th>question</th><th>points</th><th>why points were lost</th></tr>"]
    parts += [_html_question(question) for question in feedback.questions]
    parts.append("</table>")
    if feedback.pictures:
        parts.append("<h2>Pictures</h2>")
        parts += [_html_picture(picture) for picture in feedback.pictures]
    if feedback.notes:
        parts.append("<h2>Notes on your notebook</h2>")
        parts += [f"<pre>{e(note)}</pre>" for note in feedback.notes]
    for cell, trace in feedback.tracebacks:
        parts.append(f"<details><summary>Traceback of {e(cell)}</summary><pre>{e(trace)}</pre></details>")
    parts.append('<footer>Checks marked <span class="tag">public</span> use inputs from your '
                 "notebook; the others use hidden inputs. Click a cause to see its checks."
                 "</footer>")
    if feedback.problems:  # for the instructor, as a comment: students need not see it
        parts.append("<!-- " + e(" | ".join(feedback.problems)).replace("--", "- -") + " -->")
    parts += ["</body>", "</html>", ""]
    return printable("\n".join(parts))


def _html_question(question: QuestionCauses) -> str:
    e = html.escape
    share = question.earned / question.possible if question.possible else 0.0
    kind = "full" if share >= 0.9999 else "none" if share <= 0 else ""
    why = "".join(_html_cause(cause) for cause in question.causes) or \
        f'<span class="pass">\u2713 {e(question.headline())}</span>'
    noted = [c for c in question.checks if c.passed and c.message]
    if noted:
        why += (f"<details><summary>notes of {len(noted)} passing check"
                f'{"s" if len(noted) != 1 else ""}</summary>'
                + "".join(_html_check(c) for c in noted) + "</details>")
    return (f'<tr><td>{e(question.title)}<div class="bar"><span class="{kind}" '
            f'style="width:{100 * share:.0f}%"></span></div></td>'
            f'<td class="num">{_points(question.earned)} / {_points(question.possible)}'
            f'<br><small>{question.passed} of {len(question.checks)} checks</small></td>'
            f"<td>{why}</td></tr>")


def _html_cause(cause: Cause) -> str:
    e = html.escape
    if not cause.checks:
        return f'<p class="{cause.kind}">{e(cause.text)}</p>'
    shown = cause.checks[:MAX_CHECKS_SHOWN]
    more = len(cause.checks) - len(shown)
    body = "".join(_html_check(c) for c in shown)
    body += f"<p>... and {more} more</p>" if more else ""
    return (f'<details class="cause"><summary><span class="fail">\u2717</span> {e(cause.text)}'
            f"</summary>{body}</details>")


def _public_tag(check: CheckResult) -> str:
    return '<span class="tag">public</span>' if check.check.public else ""


def _html_check(check: CheckResult) -> str:
    e = html.escape
    mark = '<span class="pass">\u2713</span>' if check.passed else '<span class="fail">\u2717</span>'
    body = f"<pre>{e(check.message)}</pre>" if check.message else ""
    return (f'<div class="check">{mark} <span class="name">{e(check.check.name)}</span>'
            f"{_public_tag(check)}{body}</div>")


def _html_picture(picture: Picture) -> str:
    e = html.escape
    caption = e(picture.caption)
    if picture.png is not None:
        return (f'<figure><img src="{picture.data_uri}" alt="{e(picture.title)}">'
                f"<figcaption><b>{e(picture.title)}</b>. {caption}</figcaption></figure>")
    why = f" ({e(picture.why_text)})" if picture.why_text else ""
    return (f"<figure><figcaption><b>{e(picture.title)}</b>. {caption}{why}</figcaption>"
            f"<pre>{e(picture.text)}</pre></figure>")


# --- Markdown -----------------------------------------------------------------------------

def markdown(feedback: Feedback) -> str:
    """The same as the page, as Markdown: a table of questions with their first cause, then
    each question's causes with their checks."""
    result = feedback.result
    lines = [f"# {feedback.title}", "",
             f"Feedback for **{result.submission}** ({Path(result.path).name}): "
             f"**{_points(result.score)} / {_points(result.max_score)} points**", ""]
    if result.problem:
        lines += [f"> **Could not grade this notebook:** {result.problem}", ""]
    lines += ["| question | points | checks passed | why points were lost |", "|---|---:|---:|---|"]
    for question in feedback.questions:
        why = question.headline() if question.causes else ""
        lines.append(f"| {_md_cell(question.title)} | {_points(question.earned)} / "
                     f"{_points(question.possible)} | {question.passed} of {len(question.checks)} | "
                     f"{_md_cell(why)} |")
    lines.append("")
    for question in feedback.questions:
        noted = [c for c in question.checks if c.passed and c.message]
        if not question.causes and not noted:
            continue
        lines += [f"## {question.title} ({_points(question.earned)} / {_points(question.possible)})", ""]
        for cause in question.causes:
            lines += [f"- {'**' + cause.text + '**' if not cause.checks else cause.text}", ""]
            lines += _md_checks(cause.checks[:MAX_CHECKS_SHOWN])
        lines += _md_checks(noted)
    if feedback.pictures:
        lines += ["## Pictures", "", "The pictures are in feedback.html; here are their numbers.", ""]
        for picture in feedback.pictures:
            lines += [f"**{picture.title}**. {picture.caption}", ""]
            lines += [markdown_fence(picture.text), ""] if picture.text else []
    if feedback.notes:
        lines += ["## Notes on your notebook", ""]
        for note in feedback.notes:
            lines += [markdown_fence(note), ""]
    for cell, trace in feedback.tracebacks:
        lines += [f"Traceback of {cell}:", "", markdown_fence(trace), ""]
    return printable("\n".join(lines).rstrip() + "\n")


def _md_checks(checks: Sequence[CheckResult]) -> list[str]:
    lines = []
    for check in checks:
        mark = "\u2713" if check.passed else "\u2717"
        public = " *(public)*" if check.check.public else ""
        lines += [f"  - {mark} {check.check.name}{public}", ""]
        if check.message:
            lines += [markdown_fence(check.message, indent="    "), ""]
    return lines


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

