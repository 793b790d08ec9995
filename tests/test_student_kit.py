"""The student kit (`grader release`): what a student receives holds nothing of the hidden side,
and `grader check` works from it alone (issue 20).

The kits of the Keras assignments run their references (and a full plan, to know what is
hidden): those tests are slow; convolve-by-hand's run in the fast tier.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import textwrap
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.errors import KitError
from grader.execution.sandbox import detect
from grader.plan import make_plan
from grader.spec import load_assignment
from grader.tools.check import check
from grader.tools.studentkit import StudentKit, kit_name, public_checks, release, write_kit
from grader.tools.studentkit.freshness import stale_release
from tests.conftest import EXAMPLES, REPO, SANDBOX, copy_assignment, make_variant

NAME, SEED = "convolve-by-hand", 11
BEGIN, END = re.compile(r"^\s*### BEGIN SOLUTION"), re.compile(r"^\s*### END SOLUTION")


# --- what the kit holds ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("released")
    return release(load_assignment(NAME), out, seed=SEED)


def kit_bytes(path: Path) -> list[tuple[str, bytes]]:
    """Every file of the kit, decompressed, and every array file inside it, expanded."""
    found = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            found.append((name, data))
            if name.endswith(".npz"):
                with zipfile.ZipFile(io.BytesIO(data)) as arrays:
                    found += [(f"{name}:{inner}", arrays.read(inner)) for inner in arrays.namelist()]
    return found


def solution_lines(reference: Path) -> set[str]:
    """The non-trivial lines of the reference's solution regions."""
    lines, inside = set(), False
    for cell in nbformat.read(str(reference), as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if BEGIN.match(line):
                inside = True
            elif END.match(line):
                inside = False
            elif inside and len(line.strip()) >= 12:
                lines.add(line.strip())
    return lines


def _arrays_in(value, out: list[np.ndarray]) -> None:
    if isinstance(value, np.ndarray):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _arrays_in(item, out)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _arrays_in(item, out)


def hidden_side(name: str, seed: int,
                tmp_path: Path) -> tuple[dict[str, bytes], dict[str, bytes], list[str], list[bytes]]:
    """From full and public plans of one seed: the raw bytes of the hidden probes' input
    arrays and of the reference's answers to them (each named by its probe), the hidden
    checks' names, and (a control) the bytes of the public inputs, which the kit must hold.

    Not counted as hidden: arrays of the public probes, constant arrays (zeros are in any
    file), and arrays found in the files every notebook gets under $HOME (a hidden check
    may use the notebook's own test images: they are the notebook's data, not hidden)."""
    spec = load_assignment(name)
    full = make_plan(spec, seed, cache=tmp_path)
    public = make_plan(spec, seed, cache=tmp_path, public_only=True)
    public_keys = {p.key for p in public.probes.probes}
    given = {a.tobytes() for a in public.probes.arrays.values()}
    home = b"".join(path.read_bytes() for path in full.home_files.values())

    def hidden(array: np.ndarray) -> bool:
        data = array.tobytes()
        return len(data) >= 32 and np.unique(array).size > 2 and data not in given \
            and data not in home

    inputs, answers = {}, {}
    for probe in full.probes.probes:
        if probe.key in public_keys:
            continue
        tree = json.dumps([probe.args, probe.kwargs])
        for array_name, array in full.probes.arrays.items():
            if f'"{array_name}"' in tree and hidden(array):
                inputs[f"{probe.name} {array_name} {array.shape} {array.dtype}"] = array.tobytes()
        found: list[np.ndarray] = []
        if probe.key in full.reference:  # a probe only of the student has no answer here
            _arrays_in(full.reference[probe.key].value, found)
        answers.update({f"{probe.name} answer {i} {a.shape}": a.tobytes()
                        for i, a in enumerate(found) if hidden(a)})
    hidden_checks = sorted({c.id.split("::")[1].split("[")[0] for c in full.checks if not c.public})
    control = [a.tobytes() for a in public.probes.arrays.values() if a.nbytes >= 32]
    return inputs, answers, hidden_checks, control


def assert_kit_hides_everything(name: str, kit: Path, seed: int, tmp_path: Path) -> None:
    files = kit_bytes(kit)
    blob = b"\n".join(data for _, data in files)
    names = [n for n, _ in files]
    assert not any(n.endswith(".ipynb") and "reference" not in n for n in names)
    placeholder = [n for n in names if "reference" in n]
    assert placeholder == [], f"the kit ships {placeholder}: the placeholder is written on unpacking"
    # lines the student notebook has, or that every notebook's process gets at grading
    # (probes.py, prelude.py: docs/security.md, section 7), are no news from the kit
    spec = load_assignment(name)
    released = nbformat.read(str(spec.notebook), as_version=4)
    known = "\n".join([*(c.source for c in released.cells), spec.custom_probes_source(),
                       spec.prelude_source()])
    leaked = sorted(line for line in solution_lines(REPO / "reference" / f"{name}.ipynb")
                    if line.encode() in blob and line not in known)
    assert leaked == []
    inputs, answers, hidden_checks, control = hidden_side(name, seed, tmp_path)
    assert inputs and hidden_checks, "the assignment has hidden probes and checks to look for"
    assert [what for what, b in inputs.items() if b in blob] == [], "hidden inputs in the kit"
    assert [what for what, b in answers.items() if b in blob] == [], "hidden answers in the kit"
    assert [c for c in hidden_checks if c.encode() in blob] == []
    if control:  # the search does find what the kit must hold
        assert all(b in blob for b in control)


def test_convolve_by_hand_kit_holds_nothing_hidden(released, tmp_path):
    assert_kit_hides_everything(NAME, released.kit, SEED, tmp_path)
    blob = b"".join(d for _, d in kit_bytes(released.kit))
    for hidden_only in (b"OUTPUT_SIZE_CASES", b"X_DEFORMED", b"CONV_STRIDE", b"POOL_CASES"):
        assert hidden_only not in blob
    assert b"X_CLEAN" in blob and b"test_x_feature_maps_lecture" in blob


@pytest.mark.slow
@pytest.mark.parametrize("name", ["build-cnn", "facial-detection"])
def test_keras_kits_hold_nothing_hidden(name, tmp_path):
    kit = tmp_path / kit_name(name)
    manifest = write_kit(load_assignment(name), kit, seed=5)
    assert_kit_hides_everything(name, kit, 5, tmp_path / "plans")
    if name == "build-cnn":  # the architecture probes' images, computed from data.py, frozen
        assert manifest["frozen"] == ["SAMPLE"]
        checks = dict(kit_bytes(kit))["spec/checks.py"]
        assert b"load_sibling(" not in checks and b"DATA" not in checks


def test_the_manifest_outlines_every_question_with_its_points(released):
    kit = StudentKit.open(released.kit)
    questions = {q.id: q for q in kit.questions}
    assert len(questions) == 8 and sum(q.points for q in questions.values()) == pytest.approx(20)
    assert {q.id for q in questions.values() if q.has_public_checks} == {
        "conv2d", "x_filters", "x_feature_maps"}
    assert questions["conv2d"].points == 5 and questions["conv2d"].public_points == 1
    assert questions["output_size"].public_points == 0 and questions["output_size"].points == 2
    assert "reference" not in json.dumps(kit.manifest["spec"])


def test_release_stamps_the_notebook_the_kit_records(released):
    stamp = json.loads(released.notebook.read_text())["metadata"]["grader"]
    assert stamp["assignment"] == NAME
    assert stamp["release"] == StudentKit.open(released.kit).release
    assert released.notebook.read_text() == (REPO / "assignments" / NAME / f"{NAME}.ipynb").read_text()


# --- tree-shaking the checks ---------------------------------------------------------------

SOURCE = textwrap.dedent('''\
    """Docstring naming a hidden threshold 0.93."""
    from __future__ import annotations

    import numpy as np
    import pytest

    from grader.authoring import check, load_sibling

    CASES = [1, 2]
    HIDDEN_CASES = [3, 4]  # only the hidden check uses these
    DATA = load_sibling(__file__, "data.py").load()
    IMAGES = DATA.images[:2]
    SHAPE = DATA.shape


    @pytest.fixture
    def doubled(student):
        return 2


    def helper(x):
        return x + 1


    def hidden_helper(x):
        return x * 93


    @check("q", points=1, public=True)
    @pytest.mark.parametrize("n", CASES)
    def test_public(student, doubled, n):
        assert helper(n) == student.f(IMAGES, SHAPE)


    @check("q", points=1)
    @pytest.mark.parametrize("n", HIDDEN_CASES)
    def test_hidden(student, n):
        assert hidden_helper(n) == student.f(n)
    ''')


class _Data:
    images = np.arange(12.0).reshape(3, 4)
    shape = (3, 4)


def test_shaking_keeps_what_public_checks_reach_and_freezes_what_reads_files():
    shaken = public_checks(SOURCE, {"data"}, lambda: {"IMAGES": _Data.images[:2], "SHAPE": (3, 4)})
    text = shaken.source
    assert text.index("from __future__") < text.index("load_frozen")
    for kept in ("CASES = [1, 2]", "def doubled", "def helper", "def test_public",
                 "IMAGES = load_frozen(__file__, 'IMAGES')", "SHAPE = (3, 4)"):
        assert kept in text
    for dropped in ("HIDDEN_CASES", "hidden_helper", "test_hidden", "0.93", "load_sibling(", "DATA"):
        assert dropped not in text
    assert shaken.frozen == ["IMAGES", "SHAPE"] and list(shaken.arrays) == ["IMAGES"]
    compile(text, "checks.py", "exec")


def test_a_value_that_cannot_be_frozen_is_an_actionable_error():
    with pytest.raises(KitError, match="SHAPE.*make them hidden"):
        public_checks(SOURCE, {"data"}, lambda: {"IMAGES": _Data.images, "SHAPE": _Data()})


def test_a_public_check_using_a_file_reading_function_is_an_actionable_error():
    source = SOURCE.replace("student.f(IMAGES, SHAPE)", "student.f(DATA)")
    with pytest.raises(KitError, match="DATA"):
        public_checks(source, {"data"}, lambda: {"DATA": _Data()})
    reading = ("from grader.authoring import check\n\ndef path():\n    return __file__\n\n"
               "@check('q', points=1, public=True)\ndef test_p(student):\n    assert path()\n")
    with pytest.raises(KitError, match="path .*reads files beside checks.py"):
        public_checks(reading)


# --- grader check from the kit alone ------------------------------------------------------

@pytest.fixture
def student_folder(released, tmp_path, monkeypatch):
    """A student's folder: the kit and notebooks only; no assignment is known here."""
    folder = tmp_path / "student"
    folder.mkdir()
    shutil.copy(released.kit, folder)
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path / "no-assignments"))
    monkeypatch.delenv("GRADER_KIT_PATH", raising=False)
    monkeypatch.chdir(folder)
    return folder


def _check(folder: Path, notebook: Path, *extra: str):
    target = folder / notebook.name
    if not target.exists():
        shutil.copy(notebook, target)
    return CliRunner().invoke(main, ["check", str(target), "--sandbox", SANDBOX, *extra])


def test_check_from_the_kit_alone(student_folder):
    done = _check(student_folder, EXAMPLES / "reference.ipynb")
    assert done.exit_code == 0, done.output
    assert done.output.count("✓") == 3 and "✗" not in done.output
    done = _check(student_folder, EXAMPLES / "untouched.ipynb")
    assert done.exit_code == 1 and done.output.count("✗") == 3, done.output
    assert "3 of 3 public checks failed" in done.output


def test_partly_correct_notebook_fails_exactly_the_public_checks_it_gets_wrong(student_folder):
    notebook = make_variant(student_folder, "x-filters-reversed", {
        "], axis=-1).astype(float)": "][::-1], axis=-1).astype(float)"})
    report = check(notebook, show=False)
    assert report.kit == student_folder / kit_name(NAME)
    outcome = {c.check.name.split(" ")[0]: c.passed for c in report.result.checks}
    assert outcome == {"conv2d": True, "X_FILTERS": False, "x_feature_maps": False}, report.text
    assert report.result.score == 1 and not report.passed
    assert [s.question.id for s in report.questions if not s.question.public] == [
        "output_size", "conv_layer", "relu", "max_pool2d", "softmax"]


def test_the_kit_is_found_on_grader_kit_path_and_by_option(student_folder, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (student_folder / kit_name(NAME)).rename(elsewhere / kit_name(NAME))
    notebook = tmp_path / "lab.ipynb"
    shutil.copy(EXAMPLES / "reference.ipynb", notebook)
    with pytest.raises(KitError, match="no student kit convolve-by-hand.grader-kit.zip"):
        check(notebook, show=False)
    assert check(notebook, show=False, kit=elsewhere / kit_name(NAME)).passed
    monkeypatch.setenv("GRADER_KIT_PATH", str(elsewhere))
    assert check(notebook, show=False).kit == elsewhere / kit_name(NAME)


def _rewrite(kit: Path, target: Path, change) -> Path:
    with zipfile.ZipFile(kit) as source, zipfile.ZipFile(target, "w") as copy:
        for name in source.namelist():
            copy.writestr(name, change(name, source.read(name)))
    return target


def test_a_damaged_or_edited_kit_is_refused(student_folder, tmp_path):
    kit = student_folder / kit_name(NAME)
    edited = _rewrite(kit, tmp_path / "edited.zip", lambda name, data: data.replace(
        b"points=1, public=True", b"points=9, public=True") if name == "spec/checks.py" else data)
    notebook = student_folder / "reference.ipynb"
    shutil.copy(EXAMPLES / "reference.ipynb", notebook)
    with pytest.raises(KitError, match="spec/checks.py differs from what its manifest records"):
        check(notebook, show=False, kit=edited)
    seed = _rewrite(kit, tmp_path / "seed.zip", lambda name, data: data.replace(
        f'"seed": {SEED}'.encode(), b'"seed": 12') if name == "kit.json" else data)
    with pytest.raises(KitError, match="manifest does not match its digest"):
        check(notebook, show=False, kit=seed)


def test_a_notebook_of_another_assignment_is_refused(student_folder):
    notebook = student_folder / "cnn.ipynb"
    shutil.copy(REPO / "assignments" / "build-cnn" / "build-cnn.ipynb", notebook)
    done = CliRunner().invoke(main, ["check", str(notebook), "--kit", kit_name(NAME)])
    assert done.exit_code == 2  # could not be checked
    assert "cnn.ipynb is for 'build-cnn', but the kit convolve-by-hand.grader-kit.zip is for " \
           "'convolve-by-hand'" in done.output


SEARCH = textwrap.dedent('''\
    import os
    wanted_names = {"kit.json", "plan.json", "plan.npz", "checks.py", "checks.frozen.npz"}
    # written reversed, so that the notebook's own source (IPython's history) does not match
    wanted_text = [w[::-1].encode() for w in ("neddih_d2vnoc_tset", "SESAC_EZIS_TUPTUO", FINGERPRINT)]
    found, scanned = [], 0
    for key, value in os.environ.items():
        if any(w.decode() in value for w in wanted_text) or "grader-check-" in value \
                or "grader-kit" in value:
            found.append("env " + key)
    for top in ["/tmp", os.path.expanduser("~"), os.getcwd(), "/work", "/root", "/home", "/var/tmp"]:
        for folder, folders, files in os.walk(top):
            if "site-packages" in folder or "/.git" in folder:
                folders[:] = []
                continue
            for name in files:
                path = os.path.join(folder, name)
                scanned += 1
                if name in wanted_names or name.endswith(".grader-kit.zip"):
                    found.append(path)
                    continue
                try:
                    with open(path, "rb") as handle:
                        data = handle.read(2_000_000)
                except OSError:
                    continue
                if any(w in data for w in wanted_text):
                    found.append(path)
            if scanned > 20000:
                break
    raise RuntimeError(f"scanned {scanned} files; found {sorted(found)[:40]}")
    ''')


def test_a_notebook_under_check_finds_nothing_of_the_kit_or_the_hidden_side(student_folder):
    if not detect(SANDBOX).isolated:
        pytest.skip("without namespaces the notebook runs with the student's own rights: "
                    "the kit beside it is readable (docs/security.md)")
    fingerprint = StudentKit.open(student_folder / kit_name(NAME)).manifest["fingerprint"]
    search = f"FINGERPRINT = {fingerprint[::-1]!r}\n" + SEARCH  # in kit.json and the plan's name
    notebook = make_variant(student_folder, "searches", {}, extra_cells=(search,))
    report = check(notebook, show=False, sandbox=SANDBOX)
    note = next(n for n in report.result.notes if "scanned" in n)
    assert re.search(r"scanned [1-9]\d* files; found \[\]", note), note
    assert report.passed  # the search costs nothing: every public check passes


# --- a new assignment, authored as docs/authoring.md says -------------------------------------

def test_a_new_assignment_releases_a_checkable_notebook(tmp_path, monkeypatch):
    folder = tmp_path / "assignments" / "pool"
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text(
        '[assignment]\ntitle = "Pooling"\nreference = "../../reference/pool.ipynb"\n\n'
        '[[questions]]\nid = "pool"\ntitle = "Max pooling"\nnames = ["pool"]\n')
    (folder / "checks.py").write_text(textwrap.dedent('''\
        import numpy as np
        from grader.authoring import assert_close, check

        SECRET_INPUT = np.arange(16.0).reshape(4, 4) * 7.25

        @check("pool", points=1, public=True)
        def test_pool_example(student, reference):
            """pool on a 2x2 example"""
            x = np.array([[1.0, 2.0], [3.0, 4.0]])
            assert_close(student.pool(x), reference.pool(x), "pool(example)")

        @check("pool", points=3)
        def test_pool_hidden(student, reference):
            """pool on a hidden input"""
            assert_close(student.pool(SECRET_INPUT), reference.pool(SECRET_INPUT), "pool(hidden)")
        '''))
    (tmp_path / "reference").mkdir()
    reference = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np\n\ndef pool(x):\n    ### BEGIN SOLUTION\n"
        "    return np.asarray(x).max(keepdims=True)\n    ### END SOLUTION\n")])
    nbformat.write(reference, str(tmp_path / "reference" / "pool.ipynb"))
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path / "assignments"))
    out = tmp_path / "handout"
    done = CliRunner().invoke(main, ["release", "pool", "--out", str(out), "--seed", "1"])
    assert done.exit_code == 0, done.output
    assert "public checks of 1 of 1 questions" in done.output
    blob = b"".join(d for _, d in kit_bytes(out / kit_name("pool")))
    assert b"max(keepdims=True)" not in blob and b"SECRET_INPUT" not in blob
    assert np.arange(16.0).reshape(4, 4).__mul__(7.25).tobytes() not in blob
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path / "nothing-here"))
    monkeypatch.chdir(out)
    untouched = check(out / "pool.ipynb", show=False, sandbox=SANDBOX)
    assert not untouched.passed and untouched.result.score == 0
    pool = untouched.questions[0]
    assert pool.question.points == 4 and sum(c.check.points for c in pool.checks) == 1
    solved = out / "solved.ipynb"
    solved.write_text((out / "pool.ipynb").read_text().replace(
        "# YOUR CODE HERE\\n\",\n    \"    raise NotImplementedError()",
        "return np.asarray(x).max(keepdims=True)"))
    assert "max(keepdims" in solved.read_text()
    assert check(solved, show=False, sandbox=SANDBOX).passed


# --- stale notebook and kit ---------------------------------------------------------------

def test_validate_notices_a_stale_notebook_and_a_stale_kit(tmp_path, monkeypatch):
    folder = copy_assignment(tmp_path, monkeypatch)
    spec = load_assignment(NAME)
    assert stale_release(spec) == []
    kit = folder / kit_name(NAME)
    write_kit(spec, kit, seed=1)
    assert stale_release(spec) == []  # the kit in the assignment's folder is found
    notebook = spec.notebook.read_text()
    spec.notebook.write_text(notebook.replace("Convolution", "Convolutions", 1))
    (problem,) = stale_release(spec)
    assert "student notebook convolve-by-hand.ipynb is stale" in problem
    spec.notebook.write_text(notebook)
    (folder / "checks.py").write_text((folder / "checks.py").read_text() + "\n# a new check\n")
    (problem,) = stale_release(load_assignment(NAME))
    assert "the kit convolve-by-hand.grader-kit.zip" in problem and "is stale" in problem
    done = CliRunner().invoke(main, ["validate", NAME, "--kit", str(kit), "--seed", "1"])
    assert done.exit_code == 1 and "grader-kit.zip" in done.output and "is stale" in done.output
