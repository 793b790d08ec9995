"""Mutation testing of an assignment's checks: how many plausible wrong answers do they catch?

The reference solution is mutated the way students get it wrong (an operator swapped, an
off-by-one in a range or a slice, a stride forgotten, ``h`` where ``w`` was meant, a
statement left out...), one change per mutant, and only inside the solution regions
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``). Every mutant is a complete notebook (the
reference with that one change, solution markers removed) graded in one batch by the normal
engine (``grader.grading.grade``: isolated child processes, hidden inputs from the seed, in
parallel). A mutant is *killed* when the question whose code it changed loses points; a
crash or a timeout counts only through the points the grade takes away.

Mutants are made with Python's ``ast`` (positions of the parsed nodes), as text edits of the
smallest span that carries the change, so a diff shows exactly the student's slip. Each
edit is verified: the mutated cell must parse to the reference's tree with exactly that one
node replaced, or the mutant is dropped. The operator set follows mutmut (operator and
keyword swaps, constants changed by one, arguments removed) and cosmic-ray (binary,
comparison, unary and boolean operator replacement, number replacement), with MutPy's
arithmetic-operand and statement deletion, and operators for this material: ``axis=``
changed, arguments swapped, ``range``/slice bounds off by one, sibling names confused
(``kh``/``kw``, ``i``/``j``), reductions and activations swapped or dropped, a return
value replaced by zeros of its shape (see ``OPERATORS``).

Ids are stable across runs and across edits elsewhere in the notebook: a hash of the
top-level name the code belongs to, the operator, the changed code before and after, and
which occurrence of that same change it is. Equivalent mutants (that behave exactly like
the reference) are listed by id with a written reason in the assignment's
``equivalent-mutants.toml`` (or ``[[equivalent]]`` tables in ``assignment.toml``) and are
excluded and reported as excluded, never silently.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.errors import GraderError
from grader.results import SubmissionResult
from grader.spec import Assignment
from grader.tools.equivalents import EQUIVALENTS_FILE, Equivalent, load_equivalents
from grader.tools.mutants import OPERATORS, UNMUTATED, Mutant, _cells, _short, generate_mutants, sample
from grader.tools.mutation_reports import mutation_table, summary_lines, survivors_text, write_reports
from grader.tools.mutation_results import MutationReport, Outcome, Tally

_SENTINEL = ".grader-mutants"  # marks a folder of mutant notebooks this module may replace

__all__ = ["EQUIVALENTS_FILE", "OPERATORS", "UNMUTATED", "Equivalent", "MutateOptions", "MutationReport",
           "Mutant", "Outcome", "Tally", "generate_mutants", "load_equivalents", "mutate",
           "mutation_table", "run_mutants", "sample", "summary_lines", "survivors_text",
           "write_notebooks", "write_reports"]


# --- running -------------------------------------------------------------------------------

@dataclass
class MutateOptions:
    out: Path
    jobs: int = 1
    seed: int | None = None  # hidden inputs and the sample; default: fresh, recorded in the report
    max: int | None = None  # grade at most this many mutants (a seeded sample)
    questions: tuple[str, ...] = ()  # only mutants of these questions
    sandbox: str = "auto"


def mutate(assignment: Assignment, options: MutateOptions,
           on_start: Callable[[int], None] | None = None,
           on_result: Callable[[SubmissionResult], None] | None = None) -> MutationReport:
    """Generate, select and grade the mutants of ``assignment``; the library side of ``grader mutate``.

    Selection: mutants of ``options.questions`` (all questions by default), minus the listed
    equivalent ones, then at most ``options.max`` of them sampled with ``options.seed``. The
    graded notebooks and the engine's own results land in ``options.out``.
    """
    started = time.perf_counter()
    for question in options.questions:
        assignment.question(question)  # raises SpecError for an unknown question
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    equivalents = load_equivalents(assignment)
    everything = generate_mutants(assignment)
    known = {m.id for m in everything}
    wanted = [m for m in everything if not options.questions or m.question in options.questions]
    excluded = [Outcome(m, "excluded", reason=equivalents[m.id].reason)
                for m in wanted if m.id in equivalents]
    unowned = [Outcome(m, "unowned") for m in wanted if m.question is None]
    candidates = [m for m in wanted if m.id not in equivalents and m.question is not None]
    chosen = sample(candidates, options.max, seed)
    graded = run_mutants(assignment, chosen, options.out, seed, options.jobs, options.sandbox,
                         on_start=on_start, on_result=on_result)
    order = {m.id: i for i, m in enumerate(everything)}
    outcomes = sorted(graded + excluded + unowned, key=lambda o: order[o.mutant.id])
    return MutationReport(
        assignment=assignment.name, seed=seed, generated=len(everything), considered=len(wanted),
        outcomes=outcomes, seconds=time.perf_counter() - started, jobs=options.jobs,
        max=options.max, questions_filter=tuple(options.questions),
        stale_equivalents=sorted(set(equivalents) - known),
        question_ids=tuple(q.id for q in assignment.questions),
    )


def write_notebooks(assignment: Assignment, mutants: Sequence[Mutant], folder: Path) -> list[Path]:
    """Each mutant as a complete notebook in ``folder`` (``<id>.ipynb``), plus the unmutated one."""
    notebook = nbformat.read(str(assignment.reference), as_version=4)
    cells = {c.index: c for c in _cells(assignment.reference)}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = cells[index].text
            cell.outputs, cell.execution_count = [], None
    if folder.exists():
        if not (folder / _SENTINEL).is_file():
            raise GraderError(f"{folder} exists and was not written by grader mutate; choose another "
                              "--out (its mutant notebooks are rewritten on every run)")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / _SENTINEL).write_text("mutant notebooks of `grader mutate`, rewritten on every run\n")
    paths = [folder / f"{UNMUTATED}.ipynb"]
    nbformat.write(notebook, str(paths[0]))
    for mutant in mutants:
        original = notebook.cells[mutant.cell].source
        notebook.cells[mutant.cell].source = mutant.source
        paths.append(folder / f"{mutant.id}.ipynb")
        nbformat.write(notebook, str(paths[-1]))
        notebook.cells[mutant.cell].source = original
    return paths


def run_mutants(assignment: Assignment, mutants: Sequence[Mutant], out: Path, seed: int,
                jobs: int = 1, sandbox: str = "auto",
                on_start: Callable[[int], None] | None = None,
                on_result: Callable[[SubmissionResult], None] | None = None) -> list[Outcome]:
    """Grade ``mutants`` (and the unmutated reference as the baseline) in one batch."""
    from grader.checks import Selection
    from grader.grading import GradeOptions, grade

    if any(m.question is None for m in mutants):
        raise GraderError("run_mutants needs mutants that belong to a question")
    if not mutants:
        return []
    paths = write_notebooks(assignment, mutants, out / "mutant-notebooks")
    questions = tuple(sorted({m.question for m in mutants if m.question is not None}))
    selection = Selection() if len(questions) == len(assignment.questions) else Selection(questions)
    run = grade(assignment, paths,
                GradeOptions(out=out / "grading", jobs=jobs, seed=seed, selection=selection,
                             sandbox=sandbox), on_start=on_start, on_result=on_result)
    results = {Path(r.path).stem: r for r in run.results}
    baseline = results[UNMUTATED]
    short = [f"{q.id} {q.earned:g}/{q.possible:g}" for q in baseline.questions if q.earned < q.possible]
    if baseline.problem or short:
        raise GraderError(f"the reference itself loses points with seed {seed} "
                          f"({baseline.problem or ', '.join(short)}); fix the checks or the "
                          f"reference first (grader validate {assignment.name} --seed {seed})")
    full = {q.id: q.earned for q in baseline.questions}
    return [_outcome(m, results[m.id], full) if m.id in results
            else Outcome(m, "not graded", problem="not graded: the batch returned no result for it")
            for m in mutants]


def _outcome(mutant: Mutant, result: SubmissionResult, full: dict[str, float]) -> Outcome:
    """Killed or survived; "not graded" (counted apart, never the end of the run) when the
    mutant's result lacks its question, e.g. an edition the alternatives did not pick."""
    question = mutant.question or ""
    mine = next((q for q in result.questions if q.id == question), None)
    if mine is None or question not in full:
        why = result.problem or (f"its question {question!r} is not in the reference's or the mutant's "
                                 "result (another edition, or an optional question left out)")
        return Outcome(mutant, "not graded", problem=f"not graded: {why}")
    killed = mine.earned < full[question] - 1e-9
    failing = next((c for c in result.checks if c.check.question == question and not c.passed), None)
    collateral = {q.id: round(full[q.id] - q.earned, 4) for q in result.questions
                  if q.id != question and q.earned < full.get(q.id, 0.0) - 1e-9}
    problem = result.problem or result.interrupted.split("\n")[0]
    killed_by = ""
    if failing is not None:
        first_line = failing.message.splitlines()[0] if failing.message else ""
        killed_by = f"{failing.check.name}: {_short(first_line, 160)}"
    return Outcome(mutant, "killed" if killed else "survived", earned=mine.earned,
                   possible=mine.possible, killed_by=killed_by, collateral=collateral, problem=problem)


