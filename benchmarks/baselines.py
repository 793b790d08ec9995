"""The two baselines ``grader grade`` is timed against: nbgrader autograde and bare nbconvert.

Both run on N copies of one correct notebook, in one throwaway virtual environment that holds
nbgrader 0.9.6 (from PyPI, with numpy and ipykernel) and nothing of ours: nbgrader pins Jupyter
packages that could break the grader's own, so it never goes into the system Python. The
environment is cached (default ``/tmp/grader-bench-nbgrader-0.9.6``) and reused while it holds a
working nbgrader of that version; ``--fresh-env`` rebuilds it, and the install time is printed
when an install happens. Its kernels are the environment's own (checked: a notebook executed
through it reports the environment's ``sys.prefix``), and the Jupyter and IPython user folders
are pointed inside the cache, so no user-level kernel or start-up file takes part.

* **nbgrader autograde**: a real course folder in a temporary directory (``nbgrader_config.py``,
  ``source/<assignment>/<notebook>.ipynb``), where the source notebook is the given one marked up
  as an nbgrader assignment: the code cells that define the student's functions (or hold
  ``### BEGIN SOLUTION``) become solution cells, and 2-3 locked autograder test cells with plain
  asserts are appended (for convolve-by-hand they call ``output_size``, ``conv2d``,
  ``x_feature_maps``, ``conv_layer``, ``relu``, ``max_pool2d`` and ``softmax`` on small inputs
  with hand-written expectations). ``nbgrader generate_assignment`` releases it, N copies of the
  same marked-up notebook (solutions present: a correct student's submission) are placed at
  ``submitted/student000/<assignment>/...``, and only ``nbgrader autograde <assignment>`` is
  timed (wall clock, around the subprocess: nbgrader's start-up, database and its serial
  kernel per notebook included). It must exit 0, write N autograded notebooks, and give every
  student full marks (read back with ``nbgrader export``, untimed), or the run fails.
* **nbconvert**: ``jupyter nbconvert --to notebook --execute`` on the same N copies, one process
  per notebook, serially, in the same environment; the whole loop is timed.

Nothing here asserts anything about time.

Usage::

    python benchmarks/baselines.py [--copies 40] [--repeats 3]
        [--notebook reference/convolve-by-hand.ipynb] [--fresh-env]
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parent.parent
NBGRADER_VERSION = "0.9.6"
DEFAULT_ENV = Path(tempfile.gettempdir()) / f"grader-bench-nbgrader-{NBGRADER_VERSION}"
DEFAULT_NOTEBOOK = REPO / "reference" / "convolve-by-hand.ipynb"
REQUIREMENTS = [f"nbgrader=={NBGRADER_VERSION}", "numpy", "ipykernel"]
READY_MARK = ".grader-bench-ready"  # written once the environment has passed its checks
COURSE_ID = "grader-bench"
BEGIN_SOLUTION = "### BEGIN SOLUTION"


class BaselineError(Exception):
    """A baseline could not be set up or did not grade every copy correctly."""


# --------------------------------------------------------------------------- the environment


def _run_env(command: list[str], env_bin: Path, cwd: Path | None = None,
             timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=_environment(env_bin), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def _environment(env_bin: Path) -> dict[str, str]:
    """os.environ with the venv first on PATH and Jupyter/IPython user folders inside the cache."""
    root = env_bin.parent
    for folder in ("data", "config", "runtime", "ipython"):  # absent, IPython would use a temp dir
        (root / "jupyter-user" / folder).mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONPATH", "PYTHONHOME", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"}}
    env.update({
        "VIRTUAL_ENV": str(root),
        "PATH": f"{env_bin}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONNOUSERSITE": "1",
        "JUPYTER_DATA_DIR": str(root / "jupyter-user" / "data"),
        "JUPYTER_CONFIG_DIR": str(root / "jupyter-user" / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "jupyter-user" / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(root / "jupyter-user" / "ipython"),
    })
    return env


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _check_env(env_bin: Path) -> str | None:
    """Why the environment at ``env_bin`` is not usable, or None if it is."""
    python = env_bin / "python"
    for script in ("python", "nbgrader", "jupyter", "jupyter-nbconvert"):
        if not (env_bin / script).exists():
            return f"{env_bin / script} is missing"
    try:
        found = _run_env([str(python), "-c", "import ipykernel, nbconvert, numpy, nbgrader; "
                          "print(nbgrader.__version__)"], env_bin, timeout=120)
    except subprocess.TimeoutExpired:
        return "importing nbgrader timed out"
    if found.returncode != 0:
        return "import failed:\n" + _tail(found.stderr)
    if found.stdout.strip() != NBGRADER_VERSION:
        return f"nbgrader {found.stdout.strip()} installed, not {NBGRADER_VERSION}"
    # The kernel must be the environment's own (kernel.json says "python"; jupyter_client maps
    # it to its own interpreter): execute one cell through nbconvert and ask.
    with tempfile.TemporaryDirectory(prefix="nbgrader-env-check-") as scratch:
        probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
        probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(probe, Path(scratch) / "probe.ipynb")
        ran = _run_env([str(env_bin / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                        "--output", "ran", "probe.ipynb"], env_bin, cwd=Path(scratch), timeout=300)
        if ran.returncode != 0:
            return "nbconvert could not execute a notebook:\n" + _tail(ran.stderr)
        outputs = nbformat.read(Path(scratch) / "ran.ipynb", as_version=4).cells[0].outputs
        prefix = "".join(output.get("text", "") for output in outputs).strip()
    if Path(prefix).resolve() != env_bin.parent.resolve():
        return f"the python3 kernel runs in {prefix!r}, not in the environment {env_bin.parent}"
    return None


def nbgrader_env(cache: Path = DEFAULT_ENV, fresh: bool = False) -> Path:
    """A virtual environment with nbgrader 0.9.6, numpy and ipykernel; returns its ``bin/``.

    Reused if ``cache`` already holds one that works; otherwise (or with ``fresh``) built anew
    with ``python -m venv`` (no system site-packages) and pip from PyPI, and the install time
    is printed.
    """
    cache = Path(cache)
    env_bin = cache / "bin"
    if not fresh and (cache / READY_MARK).is_file() and _check_env(env_bin) is None:
        return env_bin
    if cache.exists():
        shutil.rmtree(cache)
    print(f"installing {' '.join(REQUIREMENTS)} into a new virtual environment {cache} ...", flush=True)
    started = time.perf_counter()
    made = subprocess.run([sys.executable, "-m", "venv", str(cache)], capture_output=True, text=True)
    if made.returncode != 0:
        raise BaselineError(f"python -m venv {cache} failed:\n{_tail(made.stdout + made.stderr)}")
    installed = _run_env([str(env_bin / "python"), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
                         env_bin)
    seconds = time.perf_counter() - started
    (cache / "pip-install.log").write_text(installed.stdout + installed.stderr)
    if installed.returncode != 0:
        raise BaselineError(f"pip install {' '.join(REQUIREMENTS)} failed (log in {cache}/pip-install.log):\n"
                            + _tail(installed.stderr))
    print(f"installed in {seconds:.1f} s (venv + pip install)", flush=True)
    problem = _check_env(env_bin)
    if problem:
        raise BaselineError(f"the new nbgrader environment {cache} does not work: {problem}")
    (cache / READY_MARK).write_text(f"nbgrader {NBGRADER_VERSION}, installed in {seconds:.1f} s\n")
    return env_bin


# --------------------------------------------------------------------------- notebook surgery

# Autograder test cells for the convolve-by-hand notebook: (grade_id, points, names the cell
# needs, source). A cell is added only if the notebook defines every name it needs.
CONVOLVE_TESTS: list[tuple[str, int, tuple[str, ...], str]] = [
    ("test-conv2d", 2, ("output_size", "conv2d"), """\
# autograder test: output size and the sliding sum of products
assert output_size(5, 3) == 3
assert output_size(8, 4, stride=2) == 3
assert output_size(5, 3, stride=1, padding=1) == 5
_image = np.array([[1, 1, 1, 0, 0],
                   [0, 1, 1, 1, 0],
                   [0, 0, 1, 1, 1],
                   [0, 0, 1, 1, 0],
                   [0, 1, 1, 0, 0]])
_kernel = np.array([[1, 0, 1],
                    [0, 1, 0],
                    [1, 0, 1]])
assert np.array_equal(conv2d(_image, _kernel), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
assert np.array_equal(conv2d(_image, _kernel, stride=2), [[4, 4], [2, 4]])
assert conv2d(_image, _kernel, padding=1).shape == (5, 5)
# not flipped: [1, -1] gives x[i, j] - x[i, j + 1]
assert np.array_equal(conv2d(np.arange(9).reshape(3, 3), np.array([[1, -1]])), [[-1, -1]] * 3)
"""),
    ("test-feature-maps", 2, ("X_FILTERS", "X_IMAGE", "x_feature_maps", "conv_layer"), """\
# autograder test: the X filters, their feature maps and a convolutional layer
assert X_FILTERS.shape == (3, 3, 3)
assert np.array_equal(X_FILTERS[:, :, 1], [[1, -1, 1], [-1, 1, -1], [1, -1, 1]])
_maps = x_feature_maps(X_IMAGE)
assert _maps.shape == (7, 7, 3)
assert _maps[1, 1, 0] == 1.0 and _maps[3, 3, 1] == 1.0 and _maps[1, 5, 2] == 1.0
_out = conv_layer(np.ones((3, 3, 2)), np.ones((2, 2, 2, 1)), np.array([0.5]))
assert _out.shape == (2, 2, 1)
assert np.array_equal(_out[:, :, 0], [[8.5, 8.5], [8.5, 8.5]])
"""),
    ("test-relu-pool-softmax", 1, ("relu", "max_pool2d", "softmax"), """\
# autograder test: ReLU, max pooling and a stable softmax
assert np.array_equal(relu(np.array([[-2.0, 0.5], [3.0, -0.1]])), [[0.0, 0.5], [3.0, 0.0]])
_fmap = np.array([[1, 1, 2, 4],
                  [5, 6, 7, 8],
                  [3, 2, 1, 0],
                  [1, 2, 3, 4]])
assert np.array_equal(max_pool2d(_fmap), [[6, 8], [3, 4]])
_p = softmax(np.array([1000.0, 0.0]))
assert np.all(np.isfinite(_p)) and np.allclose(_p, [1.0, 0.0])
assert np.allclose(softmax(np.zeros((2, 4))), 0.25)
"""),
]


def _defined_names(source: str) -> tuple[list[str], list[str]]:
    """Top-level (functions, other assigned names) of a code cell; nothing if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics and the like: not a cell defining the student's code
        return [], []
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    names = [target.id for node in tree.body if isinstance(node, ast.Assign)
             for target in node.targets if isinstance(target, ast.Name)]
    return functions, names


def _grade_id(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-zA-Z0-9_\-]", "-", name) or "cell"
    grade_id, number = base, 2
    while grade_id in taken:
        grade_id, number = f"{base}-{number}", number + 1
    taken.add(grade_id)
    return grade_id


def nbgrader_notebook(notebook: NotebookNode) -> NotebookNode:
    """A copy of ``notebook`` marked up as an nbgrader (schema 3) assignment.

    Code cells that hold ``### BEGIN SOLUTION`` or define a top-level function become solution
    cells (``generate_assignment`` replaces their solution regions, or the whole cell, by its
    stub); then locked autograder test cells are appended: those of ``CONVOLVE_TESTS`` whose
    names the notebook defines, or, if none applies, one that checks each defined function
    is callable. The input is not modified.
    """
    marked = copy.deepcopy(notebook)
    taken: set[str] = set()
    defined: set[str] = set()
    functions: list[str] = []
    for cell in marked.cells:
        if cell.cell_type != "code":
            continue
        cell_functions, names = _defined_names(cell.source)
        defined.update(cell_functions, names)
        functions.extend(cell_functions)
        if BEGIN_SOLUTION in cell.source or cell_functions:
            label = (cell_functions or names or ["solution"])[0]
            cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False,
                                         "grade_id": _grade_id(label, taken), "schema_version": 3}
    tests = [(grade_id, points, source) for grade_id, points, needs, source in CONVOLVE_TESTS
             if defined.issuperset(needs)]
    if not tests:
        names = ", ".join(repr(name) for name in functions)
        tests = [("test-defined", 1, f"# autograder test: the functions are defined\n"
                                     f"for _name in [{names}]:\n    assert callable(globals()[_name])\n")]
    for grade_id, points, source in tests:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"solution": False, "grade": True, "locked": True, "points": points,
                                     "grade_id": _grade_id(grade_id, taken), "schema_version": 3}
        marked.cells.append(cell)
    return marked


def max_points(notebook: NotebookNode) -> float:
    return float(sum(cell.metadata.get("nbgrader", {}).get("points", 0) for cell in notebook.cells
                     if cell.metadata.get("nbgrader", {}).get("grade")))


# --------------------------------------------------------------------------- the two baselines


def _assignment_name(notebook: Path) -> str:
    return re.sub(r"[^a-zA-Z0-9_\-]", "-", notebook.stem)


def time_nbgrader_autograde(notebook: Path, copies: int, env_bin: Path) -> float:
    """Seconds that ``nbgrader autograde`` takes over ``copies`` submissions of ``notebook``.

    The course folder (config, source, release, submissions) is built in a temporary directory
    before the timing; only the autograde subprocess is timed. Raises BaselineError unless it
    exits 0, writes one autograded notebook per copy and gives each student full marks.
    """
    assignment = _assignment_name(notebook)
    marked = nbgrader_notebook(nbformat.read(notebook, as_version=4))
    nbformat.validate(marked)
    name = f"{assignment}.ipynb"
    with tempfile.TemporaryDirectory(prefix="nbgrader-course-") as scratch:
        root = Path(scratch)
        (root / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.CourseDirectory.root = {str(root)!r}\n")
        (root / "source" / assignment).mkdir(parents=True)
        nbformat.write(marked, root / "source" / assignment / name)

        def nbgrader(*arguments: str) -> tuple[subprocess.CompletedProcess[str], float]:
            started = time.perf_counter()
            done = _run_env([str(env_bin / "nbgrader"), *arguments], env_bin, cwd=root)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise BaselineError(f"nbgrader {' '.join(arguments)} exited {done.returncode}:\n"
                                    + _tail(done.stderr or done.stdout))
            return done, seconds

        nbgrader("generate_assignment", assignment, "--force")
        if not (root / "release" / assignment / name).is_file():
            raise BaselineError(f"nbgrader generate_assignment wrote no release/{assignment}/{name}")
        students = [f"student{number:03d}" for number in range(copies)]
        for student in students:
            folder = root / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(marked, folder / name)

        done, seconds = nbgrader("autograde", assignment)  # students are created as it goes

        graded = sorted(root.glob(f"autograded/*/{assignment}/{name}"))
        if len(graded) != copies:
            raise BaselineError(f"nbgrader autograde wrote {len(graded)} autograded notebooks, expected "
                                f"{copies}:\n" + _tail(done.stderr))
        nbgrader("export", "--to", str(root / "grades.csv"))
        expected = max_points(marked)
        with (root / "grades.csv").open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row["assignment"] == assignment]
        short = [f"{row['student_id']}: {row['score']}/{row['max_score']}" for row in rows
                 if float(row["score"]) != expected or float(row["max_score"]) != expected]
        if len(rows) != copies or short:
            raise BaselineError(f"nbgrader graded {len(rows)} of {copies} students, expected full marks "
                                f"({expected:g}) for each; short: {short[:5]}\n" + _tail(done.stderr))
    return seconds


def time_nbconvert(notebook: Path, copies: int, env_bin: Path) -> float:
    """Seconds for ``jupyter nbconvert --to notebook --execute``, one process per copy, serially.

    The copies are those ``time_nbgrader_autograde`` grades (the marked-up notebook, test cells
    included), written before the timing; the outputs go to a temporary folder.
    """
    marked = nbgrader_notebook(nbformat.read(notebook, as_version=4))
    with tempfile.TemporaryDirectory(prefix="nbconvert-") as scratch:
        inputs, outputs = Path(scratch) / "in", Path(scratch) / "out"
        inputs.mkdir()
        paths = []
        for number in range(copies):
            path = inputs / f"copy-{number:03d}.ipynb"
            nbformat.write(marked, path)
            paths.append(path)
        jupyter = str(env_bin / "jupyter")
        environment = _environment(env_bin)
        started = time.perf_counter()
        for path in paths:
            done = subprocess.run([jupyter, "nbconvert", "--to", "notebook", "--execute", str(path),
                                   "--output-dir", str(outputs)], env=environment, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, cwd=scratch)
            if done.returncode != 0:
                raise BaselineError(f"nbconvert --execute {path.name} exited {done.returncode}:\n"
                                    + _tail(done.stderr))
        seconds = time.perf_counter() - started
        written = len(list(outputs.glob("*.ipynb")))
        if written != copies:
            raise BaselineError(f"nbconvert wrote {written} notebooks, expected {copies}")
    return seconds


# --------------------------------------------------------------------------- the script


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=40, help="notebooks per run (default 40)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each baseline (default 3)")
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK,
                        help="correct notebook to copy (default: reference/convolve-by-hand.ipynb)")
    parser.add_argument("--env", type=Path, default=DEFAULT_ENV,
                        help=f"where the nbgrader environment is cached (default {DEFAULT_ENV})")
    parser.add_argument("--fresh-env", action="store_true", help="rebuild the nbgrader environment")
    args = parser.parse_args(argv)
    if args.copies < 1 or args.repeats < 1:
        parser.error("--copies and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"python {platform.python_version()}; {os.cpu_count()} cores; {platform.platform()}; "
          f"load average before {os.getloadavg()[0]:.2f}")
    try:
        env_bin = nbgrader_env(args.env, fresh=args.fresh_env)
        print(f"nbgrader {NBGRADER_VERSION} environment: {env_bin.parent}")
        print(f"{args.copies} copies of {args.notebook}, {args.repeats} repeat(s)")
        figures: dict[str, list[float]] = {"nbgrader 0.9.6 autograde": [], "nbconvert --execute, serial": []}
        for repeat in range(1, args.repeats + 1):
            print(f"repeat {repeat}/{args.repeats}:", end="", flush=True)
            for label, measure in zip(figures, (time_nbgrader_autograde, time_nbconvert), strict=True):
                seconds = measure(args.notebook, args.copies, env_bin)
                figures[label].append(seconds)
                print(f" {label.split()[0]} {seconds:.1f}s;", end="", flush=True)
            print()
    except BaselineError as exc:
        print(flush=True)
        print(f"BASELINE FAILED, figures withheld: {exc}", file=sys.stderr)
        return 1
    print()
    print(f"{'baseline':<30} {'s/run':>7} {'s/nb':>6}   each repeat, s/run")
    for label, seconds in figures.items():
        median = statistics.median(seconds)
        print(f"{label:<30} {median:7.2f} {median / args.copies:6.3f}   "
              + ", ".join(f"{value:.2f}" for value in seconds))
    print(f"\ns/run: median wall time over the repeats for all {args.copies} copies; s/nb = s/run / copies. "
          f"Load average after: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
