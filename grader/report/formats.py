"""Renderers over a run's results: the CSV gradebook, the terminal table, JUnit XML, GitHub's
job summary and annotations (``results.json`` is ``grader.report.results_json``).

Each is a function of ``SubmissionResult`` values; none of them decides a score or writes a
file (``grader.report.reporters`` does).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from grader.report.spreadsheet import csv_text
from grader.results import SubmissionResult

#: What XML 1.0 cannot hold, and what a terminal, a browser or a log would act on rather than
#: show: C0 and C1 controls but tab, newline and carriage return; surrogates; U+FFFE, U+FFFF.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` with every character a report format cannot hold shown as its escape
    (``\\x1b``): a student's error message reaches every reporter, and a control
    character in it must neither break the file (XML) nor drive a terminal or a log."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                            else f"\\u{ord(m.group()):04x}", text)


def terminal_text(text: str, one_line: bool = False) -> str:
    """``text`` as a terminal shows it and never acts on it: every control character (escape
    sequences that clear the screen or set the window title, a carriage return that writes
    over a line) as its escape; with ``one_line``, line breaks too (a line of a CI log that a
    student's text starts could be read as a workflow command). For every name or message
    printed to a terminal: LMS member names, file names and messages are a student's text."""
    shown = printable(text).replace("\r", "\\r")
    return shown.replace("\n", "\\n") if one_line else shown


def gradebook_csv(results: Sequence[SubmissionResult], roster: Mapping[str, Any] | None = None) -> str:
    """One row per submission, one column per question, for a spreadsheet. With a
    ``roster`` (the run collected an LMS download: ``grader.execution.intake``), the
    student's id, name and late flag follow the submission's name."""
    questions: list[str] = []
    for result in results:
        for question in result.questions:
            if question.id not in questions:
                questions.append(question.id)
    student = ["student_id", "name", "late"] if roster else []
    rows: list[list[object]] = [["submission", *student, "path", "score", "max_score", *questions,
                                 "problem"]]
    for result in sorted(results, key=lambda r: r.submission):
        by_id = {q.id: q.earned for q in result.questions}
        entry = (roster or {}).get(result.submission)
        who = ([entry.student_id, entry.name, "late" if entry.late else ""] if entry
               else ["", "", ""]) if roster else []
        rows.append([result.submission, *who, result.path, result.score, result.max_score,
                     *[by_id.get(q, "") for q in questions], result.problem or ""])
    return csv_text(rows)


def summary_table(results: Sequence[SubmissionResult], title: str) -> Any:
    """A rich Table, one row per submission: score, questions that lost points, first note.

    Every cell is a ``rich.text.Text``, never a string rich would read as markup: a student's
    message beginning ``[/]`` is shown as written, not taken for a closing tag."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    table.add_column("submission", no_wrap=True, max_width=24)
    table.add_column("score", justify="right", style="bold", no_wrap=True, min_width=8)
    table.add_column("lost points in", overflow="fold", min_width=18)
    table.add_column("note", overflow="fold", max_width=30)
    for result in sorted(results, key=lambda r: r.submission):
        lost = ", ".join(f"{q.id} {q.earned:.3g}/{q.possible:g}"
                         for q in result.questions if q.earned < q.possible)
        note = result.problem or (result.notes[0].splitlines()[0] if result.notes else "")
        short = note if len(note) <= 60 else note[:57] + "..."
        table.add_row(Text(terminal_text(result.submission)),
                      Text(f"{result.score:.4g}/{result.max_score:g}"),
                      Text(terminal_text(lost)), Text(terminal_text(short)))
    return table


def junit_xml(results: Sequence[SubmissionResult]) -> str:
    """JUnit XML for CI systems: a suite per submission, a testcase per check, points as
    properties; a submission that could not be graded is one errored testcase."""
    from xml.etree import ElementTree as ET

    root = ET.Element("testsuites", name="grader")
    for result in sorted(results, key=lambda r: r.submission):
        failures = sum(not c.passed for c in result.checks)
        suite = ET.SubElement(root, "testsuite", name=result.submission,
                              tests=str(len(result.checks) or 1), failures=str(failures),
                              errors="1" if result.problem else "0")
        properties = ET.SubElement(suite, "properties")
        for name, value in (("score", result.score), ("max_score", result.max_score)):
            ET.SubElement(properties, "property", name=name, value=f"{value:g}")
        if result.problem:
            case = ET.SubElement(suite, "testcase", name="notebook", classname=result.assignment)
            ET.SubElement(case, "error", message=result.problem[:500]).text = result.problem
        for check in result.checks:
            case = ET.SubElement(suite, "testcase", name=check.check.name,
                                 classname=f"{result.assignment}.{check.check.question}")
            points = ET.SubElement(case, "properties")
            ET.SubElement(points, "property", name="points", value=f"{check.earned:g}")
            ET.SubElement(points, "property", name="max_points", value=f"{check.check.points:g}")
            if not check.passed:
                first = check.message.splitlines()[0] if check.message else "failed"
                ET.SubElement(case, "failure", message=first[:500]).text = check.message
    ET.indent(root)
    return printable(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n"


def markdown_summary(results: Sequence[SubmissionResult], title: str) -> str:
    """A Markdown summary (GitHub's job summary): scores per question and failing checks."""
    lines = [f"## {_markdown(title)}", ""]
    for result in sorted(results, key=lambda r: r.submission):
        lines += [f"### {_markdown(result.submission)}: {result.score:.4g} / {result.max_score:g}", ""]
        if result.problem:
            lines += [f"**Could not grade:** {_markdown(result.problem)}", ""]
        lines += ["| question | points |", "|---|---|"]
        lines += [f"| {_markdown(q.title)} | {q.earned:.3g} / {q.possible:g} |" for q in result.questions]
        failing = [c for c in result.checks if not c.passed]
        if failing:
            lines += ["", "<details><summary>failing checks</summary>", ""]
            lines += [f"- **{_markdown(c.check.name)}**: {_markdown(_one_line(c.message))}"
                      for c in failing[:50]]
            lines += ["", "</details>"]
        lines.append("")
    return printable("\n".join(lines))


def github_annotations(results: Sequence[SubmissionResult]) -> list[str]:
    """Workflow commands that show failed checks as annotations of the notebook file."""
    annotations = []
    for result in results:
        for check in (c for c in result.checks if not c.passed):
            title = _escape(f"{check.check.question}: {check.check.name}", title=True)
            annotations.append(f"::error file={_escape(result.path, title=True)},title={title}::"
                               f"{_escape(_one_line(check.message))}")
    return [printable(line) for line in annotations]


def _one_line(text: str, limit: int = 300) -> str:
    first = (text or "failed").splitlines()[0]
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _escape(text: str, title: bool = False) -> str:
    """A workflow command's message (or, with ``title``, a property such as ``file`` or
    ``title``) escaped as GitHub's runner reads it back (actions/toolkit, ``command.ts``): a
    line break in a file name would otherwise end the command and start another
    (``::stop-commands::`` silences every later annotation)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if title else text


#: What Markdown or HTML would act on in GitHub's job summary: markup, links, tables, HTML.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def _markdown(text: str) -> str:
    """A student's text (a file name, an error message) as one line of literal Markdown:
    HTML escaped, Markdown's punctuation backslash-escaped, line breaks as spaces, so it can
    neither start a heading of its own nor add a row, a link or a tag to the summary."""
    one_line = " ".join(str(text).splitlines())
    return _MARKDOWN.sub(r"\\\1", html.escape(one_line, quote=False))


def markdown_fence(text: str, indent: str = "") -> str:
    """``text`` as a fenced Markdown code block, its fence longer than any run of backticks in
    it (a student's message cannot close the block early)."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    body = "\n".join(indent + line for line in text.splitlines())
    return f"{indent}{ticks}\n{body}\n{indent}{ticks}"
