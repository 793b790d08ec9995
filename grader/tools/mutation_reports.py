"""What ``grader mutate`` writes and prints: ``mutation.json``, ``mutants.csv``,
``survivors.diff``, the kill-rate table and the summary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.files import atomic_write
from grader.report.spreadsheet import csv_text
from grader.tools.mutation_results import MutationReport, Tally

# --- reports -------------------------------------------------------------------------------

def write_reports(report: MutationReport, out: Path) -> list[Path]:
    """``mutation.json`` (everything), ``mutants.csv`` (one row per mutant), ``survivors.diff``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "mutation.json", out / "mutants.csv", out / "survivors.diff"]
    atomic_write(written[0], json.dumps(report.to_dict(), indent=2).encode())
    rows: list[list[object]] = [["id", "question", "operator", "status", "code_cell", "line", "earned",
                                 "possible", "description", "killed_by", "collateral", "problem", "reason"]]
    for o in report.outcomes:
        m = o.mutant
        rows.append([m.id, m.question or "", m.operator, o.status, m.code_cell, m.line,
                         "" if o.earned is None else o.earned, "" if o.possible is None else o.possible,
                         m.description, o.killed_by,
                         "; ".join(f"{q} -{p:g}" for q, p in o.collateral.items()), o.problem, o.reason])
    atomic_write(written[1], csv_text(rows).encode())
    atomic_write(written[2], survivors_text(report).encode())
    return written


def survivors_text(report: MutationReport) -> str:
    """Every surviving mutant: the question that should have failed it, and its diff."""
    blocks = [f"# {report.assignment}: {len(report.survivors)} surviving mutant(s), seed {report.seed}\n"]
    for outcome in report.survivors:
        m = outcome.mutant
        blocks.append(f"\n## {m.id}: question {m.question!r} should have lost points "
                      f"({m.operator}: {m.description})\n{m.diff}")
    return "".join(blocks)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def mutation_table(report: MutationReport) -> Any:
    """A rich Table: per question, mutants graded, killed, survived, excluded, kill rate."""
    from rich.table import Table

    sampled = f", sample of {report.max}" if report.max is not None else ""
    table = Table(title=f"{report.assignment}: mutation score (seed {report.seed}{sampled})")
    for name in ("question", "mutants", "killed", "survived", "excluded", "not graded", "kill rate"):
        table.add_column(name, justify="left" if name == "question" else "right", no_wrap=True)

    def add(tally: Tally, **style: Any) -> None:
        table.add_row(tally.question, str(tally.graded), str(tally.killed), str(tally.survived),
                      str(tally.excluded), str(tally.not_graded), _percent(tally.kill_rate), **style)

    for tally in report.tallies():
        add(tally)
    table.add_section()
    add(report.overall(), style="bold")
    return table


def summary_lines(report: MutationReport) -> Iterable[str]:
    """Plain-text lines for a terminal or a log: survivors with their diffs, warnings."""
    overall = report.overall()
    yield (f"{report.assignment}: {overall.killed}/{overall.graded} mutants killed "
           f"({_percent(overall.kill_rate)}), {overall.excluded} excluded as equivalent, "
           f"{report.generated} generated, seed {report.seed}, {report.seconds:.0f} s")
    for outcome in report.survivors:
        yield f"survived {outcome.mutant.id} ({outcome.mutant.question}): {outcome.mutant.description}"
        yield outcome.mutant.diff.rstrip("\n")
    not_graded = report.by_status("not graded")
    if not_graded:
        yield (f"warning: {len(not_graded)} mutant(s) not graded, counted apart "
               f"(e.g. {not_graded[0].mutant.id}: {not_graded[0].problem})")
    unowned = report.by_status("unowned")
    if unowned:
        yield (f"warning: {len(unowned)} mutant(s) change code no question's names cover "
               f"(e.g. {unowned[0].mutant.scope}); add the name to a question's names")
    for stale in report.stale_equivalents:
        yield f"warning: equivalent mutant {stale} is listed but no longer generated; remove it"
