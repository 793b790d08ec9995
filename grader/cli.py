"""The ``grader`` command: thin click glue over the library (parse, call one function, render)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from grader.errors import GraderError
from grader.version import __version__

if TYPE_CHECKING:  # the CLI imports the library lazily: `grader --help` stays fast
    from grader.results import SubmissionResult
    from grader.spec import Assignment


def _fail_cleanly(function):  # noqa: ANN001, ANN202 - decorator
    """Turn the grader's own errors into a one-line message and exit code 1, not a traceback."""

    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return function(*args, **kwargs)
        except GraderError as exc:
            raise click.ClickException(str(exc)) from exc

    wrapper.__name__, wrapper.__doc__ = function.__name__, function.__doc__
    return wrapper


@click.group()
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Grade deep-learning lab notebooks in isolation, against a reference solution."""


# --- options shared by several commands ----------------------------------------------------

SANDBOX_MODES = click.Choice(["auto", "strict", "off"])


def sandbox_option(help: str):  # noqa: ANN201, A002 - a decorator, click's word
    return click.option("--sandbox", type=SANDBOX_MODES, default="auto", show_default=True, help=help)


def jobs_option(help: str):  # noqa: ANN201, A002
    return click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
                        help=help)


def only_option(help: str):  # noqa: ANN201, A002
    return click.option("--only", "only", multiple=True, metavar="QUESTION", help=help)


def quiet_option(help: str):  # noqa: ANN201, A002
    return click.option("--quiet", "-q", is_flag=True, help=help)


def junit_option(function):  # noqa: ANN001, ANN201
    """``--junit FILE``; with it, and on GitHub Actions, the run's CI reporters."""
    return click.option("--junit", type=click.Path(path_type=Path), default=None,
                        help="Also write JUnit XML here (a testcase per check, points as "
                             "properties).")(function)


def _ci_reporters(junit: Path | None) -> list:
    """What a run reports for CI besides its gradebook: JUnit XML when asked, and on GitHub
    Actions a job summary and annotations (see grader.report.reporters)."""
    from grader.report import reporters

    chosen = [reporters.get("junit", junit)] if junit is not None else []
    return [*chosen, reporters.get("github")]


def _print_table(results, title: str) -> None:  # noqa: ANN001 - SubmissionResults
    from rich.console import Console

    from grader.report.formats import summary_table

    Console().print(summary_table(results, title))


@main.command()
def doctor() -> None:
    """Report what this machine offers for grading: isolation, Python, TensorFlow.

    Exits 0 with namespaces (bubblewrap), 2 with the unprivileged fallback, 1 without
    protection."""
    import importlib.util
    import shutil
    import subprocess

    from grader.execution.sandbox import describe_sandbox, detect
    from grader.spec import known_assignments

    chosen = detect("auto")
    bwrap = shutil.which("bwrap")
    version = (subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
               if bwrap else "not installed")
    rows = [
        ("protection", chosen.protection),
        ("isolation", describe_sandbox(chosen)),
        ("bubblewrap", version),
        ("python", sys.version.split()[0]),
        ("tensorflow", "installed" if importlib.util.find_spec("tensorflow") else "missing"),
        ("assignments", ", ".join(known_assignments()) or "none found"),
    ]
    for name, value in rows:
        click.echo(f"{name:12} {value}")
    if not chosen.isolated:  # 2: a fallback that still protects (uid 65534); 1: none
        raise SystemExit(2 if chosen.kind == "unprivileged" else 1)


@main.command("list")
def list_assignments() -> None:
    """List the assignments the grader knows."""
    from grader.spec import known_assignments, load_assignment

    for name in known_assignments():
        try:
            click.echo(f"{name}\t{load_assignment(name).title}")
        except GraderError as exc:  # one broken spec must not hide the others
            click.echo(f"{name}\tBROKEN: {exc}")


def _parse_shard(context: click.Context, parameter: click.Parameter,
                 value: str | None) -> tuple[int, int] | None:
    """``--shard K/N`` as (K, N), with 1 <= K <= N."""
    if value is None:
        return None
    k, slash, n = value.partition("/")
    if slash and k.strip().isdigit() and n.strip().isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise click.BadParameter(f"{value!r} is not K/N with 1 <= K <= N, e.g. 2/4 for the second of "
                             "four shares")


@main.command()
@click.argument("assignment")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("grader-results"),
              show_default=True, help="Folder for results.json files, observations, gradebook.")
@jobs_option("Submissions graded in parallel.")
@click.option("--seed", type=int, default=None,
              help="Seed of the hidden inputs (default: fresh each run). Same seed, same grade.")
@only_option("Grade only this question (repeatable).")
@sandbox_option("Isolation of notebooks: auto uses bubblewrap when it works and warns when it "
                "does not; strict refuses to grade without it; off turns it off.")
@click.option("--force", "--no-cache", "force", is_flag=True,
              help="Run every notebook again, even those whose observations --out already "
                   "holds (by default a notebook runs only when its code or what it is run "
                   "with changed; a change of points or thresholds only rescores it), and "
                   "pick a new seed unless --seed is given.")
@click.option("--warm/--cold", default=True, show_default=True,
              help="Fork each notebook's fresh, isolated process from a warm worker that "
                   "imported numpy, IPython (and TensorFlow) once; --cold starts a new "
                   "interpreter per notebook.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the notebooks on the workers of this Dask scheduler instead of here "
                   "(--jobs is then the workers' business; see docs/scale-out.md).")
@click.option("--shard", default=None, metavar="K/N", callback=_parse_shard,
              help="Grade only share K of N of the notebooks found (for a CI matrix; the same "
                   "notebooks give the same shares everywhere); join the outputs with "
                   "`grader merge`.")
@junit_option
@click.option("--fail-under", type=float, default=None, metavar="SCORE",
              help="Exit 1 when a submission scores below SCORE points (for CI).")
@quiet_option("No progress bar or table.")
@_fail_cleanly
def grade(assignment: str, paths: tuple[Path, ...], out: Path, jobs: int, seed: int | None,
          only: tuple[str, ...], sandbox: str, force: bool, warm: bool, scheduler: str | None,
          shard: tuple[int, int] | None, junit: Path | None, fail_under: float | None,
          quiet: bool) -> None:
    """Grade the notebooks in PATHS (files or folders) for ASSIGNMENT.

    Exits 0 when grading completed, whatever the scores (unless --fail-under is given);
    non-zero when the grader itself could not grade (bad arguments, unknown assignment,
    broken spec) or PATHS hold no notebook at all. Rerunning into the same --out keeps its
    seed and runs only the notebooks whose code, or what they are run with, changed: an
    interrupted batch resumes, and a change of points or thresholds only rescores.
    """
    from grader.checks import Selection
    from grader.grading import GradeOptions
    from grader.spec import load_assignment

    spec = load_assignment(assignment)
    for question in only:
        spec.question(question)
    options = GradeOptions(out=out, jobs=jobs, seed=seed, selection=Selection(questions=only),
                           sandbox=sandbox, force=force, warm=warm, scheduler=scheduler, shard=shard,
                           reporters=_ci_reporters(junit))
    if scheduler is None:  # on a cluster, the workers' isolation is checked when connecting
        _warn_without_isolation(sandbox)
    from grader.grading import grade as grade_batch

    run = _with_progress(f"grading {spec.name}", quiet, lambda on_start, on_result: grade_batch(
        spec, paths, options, on_start=on_start, on_result=on_result))
    if not quiet:
        _print_table(run.results, f"{spec.name} (seed {run.seed})")
    from grader.report.formats import terminal_text

    for line in run.skipped:
        click.echo(f"not graded: {terminal_text(line, one_line=True)}", err=True)
    share = f" (shard {shard[0]}/{shard[1]})" if shard else ""
    click.echo(f"graded {len(run.results)} submission(s){share}; results in {out}/ "
               f"(gradebook.csv, submissions/*/results.json)")
    if scheduler and run.sandbox and not run.sandbox.isolated:
        click.secho(f"WARNING: {run.isolation}.", fg="red", bold=True, err=True)
    low = [r for r in run.results if fail_under is not None and r.score < fail_under]
    if low:
        names = ", ".join(f"{r.submission} ({r.score:.4g})" for r in low)
        raise click.ClickException(f"below --fail-under {fail_under:g}: {names}")


def _warn_without_isolation(mode: str) -> None:
    from grader.execution.sandbox import describe_sandbox, detect

    chosen = detect(mode)
    if not chosen.isolated:
        click.secho(f"WARNING: {describe_sandbox(chosen)}. Grade untrusted notebooks only with "
                    "isolation (install bubblewrap; --sandbox strict enforces it).",
                    fg="red", bold=True, err=True)


def _with_progress(description: str, quiet: bool, work):  # noqa: ANN001, ANN202
    """Run ``work(on_start, on_result)`` under a progress bar (none when quiet); where stdout
    is no terminal (a CI log), one line per finished submission instead."""
    if quiet:
        return work(None, None)
    if not sys.stdout.isatty():
        return work(*_progress_lines(description))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(description, total=None)
        return work(lambda total: progress.update(task, total=total),
                    lambda result: progress.advance(task))



def _progress_lines(description: str):  # noqa: ANN202
    """on_start and on_result that print ``[3/12] name: 17.5/20 (4.2 s)`` as each finishes,
    flushed, so a CI log shows the batch moving."""
    from grader.report.formats import printable

    state = {"total": 0, "done": 0}

    def on_start(total: int) -> None:
        state["total"] = total
        click.echo(f"{description}: {total} submission(s)")

    def on_result(result: SubmissionResult) -> None:
        state["done"] += 1
        seconds = result.timings.get("total")
        took = f" ({seconds:.1f} s)" if seconds is not None else ""
        outcome = (f"not graded: {result.problem.splitlines()[0][:120]}" if result.problem
                   else f"{round(result.score, 2):g}/{result.max_score:g}")
        click.echo(printable(f"[{state['done']}/{state['total'] or '?'}] {result.submission}: "
                             f"{outcome}{took}"))
        sys.stdout.flush()

    return on_start, on_result

@main.command()
@click.argument("notebook", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--assignment", default=None,
              help="The assignment (default: read from the notebook's metadata).")
@click.option("--question", "questions", multiple=True, metavar="ID",
              help="Check only this question (repeatable; default: every question).")
@click.option("--kit", "kit", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None,
              help="The student kit (default: ASSIGNMENT.grader-kit.zip in the notebook's folder, "
                   "the current folder, then $GRADER_KIT_PATH's folders; else the assignment's "
                   "reference, on an instructor's machine).")
@click.option("--fail-under", type=float, default=None, metavar="POINTS",
              help="Exit 1 when the public checks earn fewer than POINTS (instead of when any "
                   "public check fails).")
@sandbox_option("Isolation of the notebook, as for grade.")
def check(notebook: Path, assignment: str | None, questions: tuple[str, ...], kit: Path | None,
          fail_under: float | None, sandbox: str) -> None:
    """Check NOTEBOOK as a student does before submitting: every question with its points,
    its public checks passed or failed (hidden checks are neither run nor shown), and the
    names it asks for that are still undefined or not implemented.

    On GitHub Actions the per-question table is also appended to the job summary.

    Exits 0 when every public check that ran passed, 1 when one failed, 2 when the notebook
    could not be checked (not a notebook, unreadable, unknown assignment or question).
    """
    from grader.tools.check import EXIT_NOT_CHECKED, render_markdown
    from grader.tools.check import check as run_public_checks

    try:
        report = run_public_checks(notebook, assignment, sandbox=sandbox, show=False,
                                   questions=questions, kit=kit)
    except GraderError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(EXIT_NOT_CHECKED) from exc
    click.echo(report.text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(render_markdown(report) + "\n")
    raise SystemExit(report.exit_status_under(fail_under))


@main.command()
@click.argument("out", type=click.Path(path_type=Path, exists=True, file_okay=False))
@only_option("Rescore only this question (repeatable).")
@junit_option
@quiet_option("No table.")
@_fail_cleanly
def rescore(out: Path, only: tuple[str, ...], junit: Path | None, quiet: bool) -> None:
    """Score the run in OUT again from its stored observations, without running any notebook.

    Use it after changing points, thresholds or feedback in the assignment's spec or checks.
    """
    from grader.checks import Selection
    from grader.grading import rescore as rescore_run

    run = rescore_run(out, Selection(questions=only), reporters=_ci_reporters(junit))
    if not quiet:
        _print_table(run.results, f"{run.assignment.name} (rescored)")
    click.echo(f"rescored {len(run.results)} submission(s) in {out}/")


@main.command()
@click.argument("runs", nargs=-1, required=True,
                type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="The new folder for the merged run.")
@junit_option
@quiet_option("No progress bar or table.")
@_fail_cleanly
def merge(runs: tuple[Path, ...], out: Path, junit: Path | None, quiet: bool) -> None:
    """Join the output folders RUNS of `grader grade --shard K/N` into one folder, with one
    gradebook.csv and run.json (rescore and report work on it). Nothing is graded again.

    Refuses runs of different assignments, specs or seeds, and one submission name standing
    for different notebooks in two runs.
    """
    from grader.tools.merge import merge as merge_runs

    merged = _with_progress("merging", quiet, lambda on_start, on_result: merge_runs(
        runs, out, on_start=on_start, on_result=on_result, reporters=_ci_reporters(junit)))
    if not quiet:
        _print_table(merged.results, f"{merged.assignment} (seed {merged.seed})")
    if merged.missing:
        click.secho(f"WARNING: not graded in any of these runs (an unfinished shard?): "
                    f"{', '.join(merged.missing)}", fg="yellow", err=True)
    click.echo(f"merged {len(merged.results)} submission(s) from {len(runs)} run(s) into {out}/ "
               "(gradebook.csv, submissions/*/results.json)")


@main.command()
@click.argument("outdir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--to", "to", type=click.Choice(["canvas", "moodle", "csv"]), required=True,
              help="The LMS whose grade-import file to write.")
@click.option("--file", "path", type=click.Path(path_type=Path), default=None,
              help="Where to write it (default: OUTDIR/<to>-grades.csv).")
@click.option("--assignment", "assignment", default="",
              help="Canvas: the assignment's name as in Canvas (default: the graded assignment).")
@click.option("--assignment-id", "assignment_id", default="",
              help="Canvas: the number in the assignment's URL, so Canvas matches the column.")
@_fail_cleanly
def export(outdir: Path, to: str, path: Path | None, assignment: str, assignment_id: str) -> None:
    """Write a graded run's grades as the import file of Canvas, Moodle or a plain CSV.

    For Moodle, also OUTDIR/moodle-feedback.zip, for "Upload multiple feedback files in a
    zip". Students are identified by the roster of an LMS download graded with
    `grader grade ASSIGNMENT download.zip`, or else by the submissions' names."""
    from grader.tools.export import export_run

    exported = export_run(outdir, to, path, assignment, assignment_id)  # type: ignore[arg-type]
    for written in exported.files:
        click.echo(f"wrote {written}")
    for note in exported.notes:
        click.echo(note)


@main.command()
@click.argument("assignment")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the student notebook and kit (default: the notebook at the spec's "
                   "notebook path, the kit beside it).")
@click.option("--seed", type=int, default=None, help="Seed of the public checks' inputs.")
@click.option("--no-kit", "no_kit", is_flag=True,
              help="Write only the student notebook (the kit runs the reference).")
@_fail_cleanly
def release(assignment: str, out: Path | None, seed: int | None, no_kit: bool) -> None:
    """Write what a student of ASSIGNMENT receives: the student notebook (solutions blanked,
    stamped with the assignment) and its student kit ASSIGNMENT.grader-kit.zip (the public
    checks and their plan; no reference, no hidden check, input or answer)."""
    from grader.spec import load_assignment
    from grader.tools.studentkit import release as release_assignment

    released = release_assignment(load_assignment(assignment), out, seed, kit=not no_kit)
    click.echo(f"wrote {released.notebook}")
    if released.kit is not None and released.manifest is not None:
        public = sum(1 for q in released.manifest["questions"] if q["public_checks"])
        click.echo(f"wrote {released.kit} ({released.kit.stat().st_size / 2**20:.1f} MB): public "
                   f"checks of {public} of {len(released.manifest['questions'])} questions; "
                   "give it to students with the notebook")


@main.command()
@click.argument("assignment")
@click.option("--seed", type=int, default=None, help="Seed of the hidden inputs.")
@click.option("--kit", "kit", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="A student kit to check for staleness (default: "
                                 "ASSIGNMENT.grader-kit.zip in the assignment's folder, if any).")
@_fail_cleanly
def validate(assignment: str, seed: int | None, kit: Path | None) -> None:
    """Check that the reference of ASSIGNMENT earns full marks and the released notebook none,
    and that the shipped student notebook (and kit) are what `grader release` writes now."""
    from grader.grading import GradeOptions
    from grader.grading import grade as grade_batch
    from grader.spec import load_assignment
    from grader.spec.release import release as release_notebook
    from grader.tools.studentkit.freshness import stale_release

    spec = load_assignment(assignment)
    with tempfile.TemporaryDirectory(prefix="grader-validate-") as scratch:
        template = release_notebook(spec.reference, Path(scratch) / "released" / "template.ipynb")
        run = grade_batch(spec, [spec.reference, template],
                          GradeOptions(out=Path(scratch) / "out", jobs=2, seed=seed, sandbox="auto"))
    by_path = {Path(r.path).name: r for r in run.results}
    reference, released = by_path[spec.reference.name], by_path["template.ipynb"]
    problems = [f"reference fails {c.check.question}: {c.check.name}: {c.message}"
                for c in reference.checks if not c.passed]
    if released.score > 0:
        problems.append(f"the released student notebook earns {released.score:g} points "
                        "without any work; some check gives credit for untouched code")
    problems += stale_release(spec, kit)
    if problems:
        raise click.ClickException("validation failed:\n  " + "\n  ".join(problems))
    click.echo(f"{spec.name}: reference earns {reference.score:g}/{reference.max_score:g}, "
               f"released notebook {released.score:g}; seed {run.seed}. OK")


@main.command()
@click.argument("assignment")
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("mutation-results"),
              show_default=True,
              help="Folder for mutation.json, mutants.csv, survivors.diff and the graded mutants.")
@click.option("--max", "limit", type=click.IntRange(1), default=None, metavar="N",
              help="Grade at most N mutants: a sample drawn with --seed (same seed, same sample).")
@click.option("--seed", type=int, default=None,
              help="Seed of the hidden inputs and of the --max sample (default: fresh each run).")
@jobs_option("Mutants graded in parallel.")
@click.option("--question", "questions", multiple=True, metavar="Q",
              help="Only mutants of this question's code (repeatable).")
@sandbox_option("Isolation of the mutant notebooks, as for `grader grade`.")
@click.option("--fail-under", type=click.FloatRange(0, 100), default=None, metavar="PERCENT",
              help="Exit 1 when the overall kill rate is below PERCENT (for CI).")
@quiet_option("No progress bar, table or diffs.")
@_fail_cleanly
def mutate(assignment: str, out: Path, limit: int | None, seed: int | None, jobs: int,
           questions: tuple[str, ...], sandbox: str, fail_under: float | None, quiet: bool) -> None:
    """Mutate the reference of ASSIGNMENT and report which wrong solutions its checks miss.

    Each mutant is the reference with one student-like slip in a solution region, graded like
    a submission; it is killed when the question whose code it changed loses points. Prints
    the kill rate per question and every surviving mutant's diff; writes mutation.json,
    mutants.csv and survivors.diff to --out. Equivalent mutants listed (with a reason) in the
    assignment's equivalent-mutants.toml are excluded and reported as excluded.
    """
    from grader.spec import load_assignment
    from grader.tools.mutate import MutateOptions, mutation_table, summary_lines, write_reports
    from grader.tools.mutate import mutate as mutate_assignment

    spec = load_assignment(assignment)
    options = MutateOptions(out=out, jobs=jobs, seed=seed, max=limit, questions=questions,
                            sandbox=sandbox)
    _warn_without_isolation(sandbox)
    report = _with_progress(
        f"grading mutants of {spec.name}", quiet,
        lambda on_start, on_result: mutate_assignment(spec, options, on_start=on_start,
                                                      on_result=on_result))
    write_reports(report, out)
    lines = list(summary_lines(report))
    if not quiet:
        from rich.console import Console

        Console().print(mutation_table(report))
        for line in lines[1:]:
            click.echo(line)
    click.echo(f"{lines[0]}; reports in {out}/ (mutation.json, mutants.csv, survivors.diff)")
    rate = report.overall().kill_rate
    if fail_under is not None and (rate is None or 100 * rate < fail_under):
        shown = "no mutant graded" if rate is None else f"kill rate {100 * rate:.1f}%"
        raise click.ClickException(f"{shown} is below --fail-under {fail_under:g}%")


@main.command()
@click.argument("out", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--top", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Most common failure messages shown per question.")
@click.option("--slowest", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many of the slowest submissions to list.")
@click.option("--html/--no-html", "write_page", default=True, show_default=True,
              help="Also write OUT/report.html (with plots).")
@_fail_cleanly
def report(out: Path, top: int, slowest: int, write_page: bool) -> None:
    """The class view of the run in OUT: score distribution, pass rate per question, most
    common failures (numbers normalised away), slowest submissions."""
    from rich.console import Console

    from grader.report.classview import load, tables, write_html

    class_report = load(out, top_failures=top)
    console = Console()
    for table in tables(class_report, slowest=slowest):
        console.print(table)
    if write_page:
        click.echo(f"wrote {write_html(class_report, slowest=slowest)}")


@main.command()
@click.argument("assignment")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("grader-similarity"),
              show_default=True, help="Folder for similarity.csv and similarity.html.")
@click.option("--top", type=click.IntRange(1, 10_000), default=10, show_default=True,
              help="Pairs listed in the terminal and in similarity.html.")
@click.option("--show", type=click.IntRange(0, 100), default=3, show_default=True,
              help="Pairs whose shared code is printed side by side.")
@click.option("--max-share", type=click.IntRange(2, None), default=None, metavar="N",
              help="Ignore code found in more than N submissions as common (default: 10, or a "
                   "tenth of the class if larger).")
@_fail_cleanly
def similarity(assignment: str, paths: tuple[Path, ...], out: Path, top: int, show: int,
               max_share: int | None) -> None:
    """Rank pairs of notebooks in PATHS by similarity of the code they wrote for ASSIGNMENT.

    The released notebook's lines and the reference's code do not count; renamed variables,
    reformatting and reordered cells do not hide shared code. Nothing is executed.
    """
    from rich.console import Console

    from grader.spec import load_assignment
    from grader.tools.similarity import compare, side_by_side, table, write

    result = compare(load_assignment(assignment), list(paths), max_share=max_share)
    written = write(result, out, top=top)
    console = Console()
    console.print(table(result, top=top))
    for pair in result.pairs[:show]:
        for shown in side_by_side(pair):
            console.print(shown)
    click.echo(f"wrote {written[0]} ({len(result.pairs)} pair(s) sharing code) and {written[1]}")


@main.command("ci-template")
@click.argument("assignment")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="The workflow file (default: .github/workflows/check-ASSIGNMENT.yml).")
@click.option("--notebook", default=None,
              help="The notebook's path in the student repository (default: the released name).")
@click.option("--kit", default=None, metavar="PATH",
              help="The student kit's path in the student repository (default: "
                   "ASSIGNMENT.grader-kit.zip, as grader release names it).")
@click.option("--fail-under", type=float, default=None, metavar="POINTS",
              help="Fail the job when the public checks earn fewer than POINTS (default: when "
                   "any public check fails).")
@click.option("--install", default=None, metavar="SPEC",
              help="What pip installs: a wheel committed to the repository, a public URL or a "
                   "requirement (default: cv-lab-grader of this version, [tensorflow] for the "
                   "Keras assignments).")
@click.option("--gradescope", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Also write a Gradescope autograder bundle into DIR (setup.sh, run_autograder, "
                   "autograder.zip).")
@click.option("--seed", type=int, default=None,
              help="Seed of the hidden inputs in the Gradescope bundle (default: fresh).")
@_fail_cleanly
def ci_template(assignment: str, out: Path | None, notebook: str | None, kit: str | None,
                fail_under: float | None, install: str | None, gradescope: Path | None,
                seed: int | None) -> None:
    """Write a GitHub Actions workflow that runs the public checks of ASSIGNMENT's student kit
    in a student repository (no token, no reference); optionally a Gradescope bundle too."""
    from grader.spec import load_assignment
    from grader.tools.ci_template import write_github_workflow

    spec = load_assignment(assignment)
    path = write_github_workflow(spec, out, notebook=notebook, kit=kit, fail_under=fail_under,
                                 install=install)
    click.echo(f"wrote {path}: commit it with the student notebook and kit "
               f"(grader release {spec.name}) to the starter repository")
    if gradescope is not None:
        _build_gradescope_bundle(spec, gradescope, seed)


@main.command()
@click.argument("assignment")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Folder for the bundle (default: gradescope-ASSIGNMENT).")
@click.option("--seed", type=int, default=None,
              help="Seed of the hidden inputs fixed in the bundle (default: fresh).")
@_fail_cleanly
def gradescope(assignment: str, out: Path | None, seed: int | None) -> None:
    """Build the autograder zip Gradescope expects for ASSIGNMENT (setup.sh, run_autograder
    reading /autograder/submission/ and writing /autograder/results/results.json), with the
    plan made here: Gradescope's container only runs the student's notebook and scores it."""
    from grader.spec import load_assignment

    spec = load_assignment(assignment)
    _build_gradescope_bundle(spec, out or Path(f"gradescope-{spec.name}"), seed)


def _build_gradescope_bundle(spec: Assignment, folder: Path, seed: int | None) -> None:
    """Build the bundle into ``folder`` and say what it holds and what container it needs."""
    from grader.tools.gradescope import bundle_summary, container_advice, write_gradescope_bundle

    click.echo(f"building the bundle of {spec.name}: running the reference once to make its plan")
    archive = write_gradescope_bundle(spec, folder, seed=seed)
    for line in bundle_summary(folder):
        click.echo(f"  {line}")
    advice, warning = container_advice(spec.name)
    click.secho(f"  {advice}", fg="yellow" if warning else None, err=warning)
    click.echo(f"wrote {archive}: upload it as the autograder (base image with Python 3.11+)")


if __name__ == "__main__":
    sys.exit(main())
