"""Hostile submissions, round two (issue 13): forbidden APIs that the static check used to
miss, the runtime import guard, a forged child-to-grader channel, and control characters in
what reports show. Each notebook is graded through the normal engine, in one batch, and
must get exactly what its code earns.

Most variants keep the reference's hand-written ``conv2d`` and append a cell that wraps it,
touching a forbidden API on the way: the code is right (20 without the rule), and the rule
takes away every question whose names reach ``conv2d``.
"""

from __future__ import annotations

import html.parser
import json
import xml.etree.ElementTree as ET

import pytest

from grader.report.feedback import write_feedback
from grader.report.formats import github_annotations, junit_xml, markdown_summary
from tests.conftest import EXAMPLES, grade_appended

REFERENCE_SCORE, UNTOUCHED_SCORE = 20.0, 0.0
#: The reference with conv2d voided: conv2d, conv_layer and x_feature_maps (which call it)
#: earn nothing.
CONV2D_VOIDED = 9.0
BASES = {"reference": EXAMPLES / "reference.ipynb", "untouched": EXAMPLES / "untouched.ipynb"}


def wrapper(touch: str, head: str = "") -> str:
    """A cell that rebinds conv2d to the hand-written one after running ``touch``."""
    return (f"{head}import numpy as np\n_by_hand = conv2d\n"
            "def conv2d(image, kernel, stride=1, padding=0):\n"
            f"    {touch}\n"
            "    return _by_hand(image, kernel, stride, padding)\n")


TOUCH = "_ = correlate2d(np.ones((2, 2)), np.ones((1, 1)))"
DEEP = "_deep = " + "1 if _by_hand else " * 1000 + "2\n"

ATTACKS = {
    # IPython magics: the Python they run is analysed
    "line-magic-time": ("reference", [wrapper(TOUCH, "%time from scipy.signal import correlate2d\n")],
                        CONV2D_VOIDED),
    "cell-magic-time": ("reference", ["%%time\n" + wrapper(TOUCH, "from scipy.signal import "
                                                           "correlate2d\n")], CONV2D_VOIDED),
    "cell-magic-capture": ("reference", ["%%capture\nimport scipy.signal as sps\n"
                                         + wrapper("_ = sps.correlate2d(np.ones((2, 2)), "
                                                   "np.ones((1, 1)))")], CONV2D_VOIDED),
    "line-magic-timeit-options": ("reference", ["%timeit -n1 -r1 import scipy.signal as sps",
                                                "import scipy.signal as sps\n"
                                                + wrapper("_ = sps.correlate2d(np.ones((2, 2)), "
                                                          "np.ones((1, 1)))")], CONV2D_VOIDED),
    # namespace dictionaries, charged to the function that uses them
    "globals-dict": ("reference", ["import scipy.signal as sps",
                                   wrapper("_ = globals()['sps'].correlate2d(np.ones((2, 2)), "
                                           "np.ones((1, 1)))")], CONV2D_VOIDED),
    "globals-get-numpy": ("reference", [wrapper("_ = globals().get('np').convolve([1.0], [1.0])")],
                          CONV2D_VOIDED),
    "vars-dict": ("reference", [wrapper("_ = vars()['np'].convolve([1.0], [1.0])")], CONV2D_VOIDED),
    "sys-modules": ("reference", ["import sys, scipy.signal",
                                  wrapper("_ = sys.modules['scipy.signal'].correlate2d("
                                          "np.ones((2, 2)), np.ones((1, 1)))")], CONV2D_VOIDED),
    # name-resolving functions other than import
    "pkgutil-resolve-name": ("reference", [wrapper(
        "import pkgutil; _ = pkgutil.resolve_name('scipy.signal:correlate2d')("
        "np.ones((2, 2)), np.ones((1, 1)))")], CONV2D_VOIDED),
    "operator-attrgetter": ("reference", [wrapper(
        "import operator, scipy; _ = operator.attrgetter('signal.correlate2d')(scipy)("
        "np.ones((2, 2)), np.ones((1, 1)))")], CONV2D_VOIDED),
    "dunder-import": ("reference", [wrapper(
        "_ = __import__('scipy.signal', fromlist=['x']).correlate2d(np.ones((2, 2)), "
        "np.ones((1, 1)))")], CONV2D_VOIDED),
    "find-spec-loader": ("reference", [wrapper(
        "import importlib.util; spec = importlib.util.find_spec('scipy.signal'); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)")],
        CONV2D_VOIDED),
    # names built at run time: only the runtime guard sees them
    "import-module-joined": ("reference", [wrapper(
        "import importlib; _ = importlib.import_module('.'.join(['scipy', 'signal']))"
        ".correlate2d(np.ones((2, 2)), np.ones((1, 1)))")], CONV2D_VOIDED),
    "exec-built-string": ("reference", [wrapper("exec('import scipy.' + 'sig' + 'nal')")],
                          CONV2D_VOIDED),
    "import-at-top-of-defining-cell": ("reference", [
        "import importlib\n_m = importlib.import_module('scipy.' + 'signal')\n"
        "_by_hand = conv2d\ndef conv2d(image, kernel, stride=1, padding=0):\n"
        "    return _m.correlate2d(image, kernel) if False else _by_hand(image, kernel, stride, "
        "padding)\n"], CONV2D_VOIDED),
    # where analysis cannot decide, the cell's questions are voided
    "too-deep-to-analyse": ("reference", [wrapper("pass") + DEEP], CONV2D_VOIDED),
    # false positives the guard must not make
    "unused-import-alone": ("reference", ["import scipy.signal"], REFERENCE_SCORE),
    "unused-dynamic-import": ("reference", ["import importlib\n"
                                            "_unused = importlib.import_module('scipy.' + 'signal')"],
                              REFERENCE_SCORE),
    "unused-import-beside-hand-written": ("reference", ["import scipy.signal\n" + wrapper("pass")],
                                          REFERENCE_SCORE),
}

FORGE = '''
import gc
from grader import wire
from grader.child.job import Probe
from grader.child.runner import ArrayStore, EventLog
import numpy as np
log = next(o for o in gc.get_objects() if isinstance(o, EventLog))
store = next(o for o in gc.get_objects() if isinstance(o, ArrayStore))
keys = sorted({o.key for o in gc.get_objects() if isinstance(o, Probe)})
'''
CHANNEL = {
    # 30 lines per key pointing at one 96 MB array, for every key of the plan
    "forged-huge-arrays": ("untouched", [FORGE + (
        "tree, arrays = wire.encode(np.zeros(12_000_000))\n"
        "where = store.append(wire.save_arrays(arrays))\n"
        "for key in keys:\n    for _ in range(30):\n"
        "        log.write({'event': 'probe', 'key': key, 'status': 'ok', 'value': tree, "
        "'arrays': where})\n")], UNTOUCHED_SCORE),
    # 400 lines for one key, and lines for keys the plan never asked for
    "forged-many-lines": ("untouched", [FORGE + (
        "tree, arrays = wire.encode(np.zeros((50, 50)))\n"
        "where = store.append(wire.save_arrays(arrays))\n"
        "for n in range(400):\n"
        "    log.write({'event': 'probe', 'key': keys[0], 'status': 'ok', 'value': tree, "
        "'arrays': where})\n"
        "    log.write({'event': 'probe', 'key': f'made-up-{n}', 'status': 'ok', 'value': 1})\n")],
        UNTOUCHED_SCORE),
}

CONTROL = "\x1b[31m\x00\x0b\x0c\x7f\x1b]0;title\x07\x9b"
UNPRINTABLE = [ch for ch in CONTROL if ord(ch) < 32 or 0x7f <= ord(ch) <= 0x9f]
REPORTS = {
    "control-characters-in-errors": ("reference", [
        f"def relu(x):\n    raise ValueError({CONTROL!r} * 3)\n"], REFERENCE_SCORE - 1),
}

NOTEBOOKS = {**ATTACKS, **CHANNEL, **REPORTS}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    return grade_appended(assignment, NOTEBOOKS, BASES, tmp_path_factory.mktemp("round-two"),
                          tmp_path_factory.mktemp("out"))


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_gets_exactly_what_the_code_earns(graded, name):
    assert graded[name].score == pytest.approx(NOTEBOOKS[name][2], abs=1e-3)


@pytest.mark.parametrize("name", sorted(n for n, v in ATTACKS.items() if v[2] == CONV2D_VOIDED))
def test_the_voided_questions_say_why(graded, name):
    voided = [c for c in graded[name].checks if c.message.startswith("no credit")]
    assert voided and {c.check.question for c in voided} >= {"conv2d"}
    assert all("conv2d" in c.message or "code cell" in c.message for c in voided)


def test_runtime_loads_are_named_in_the_notes(graded):
    notes = "\n".join(graded["import-module-joined"].notes)
    assert "Forbidden module loaded: scipy.signal" in notes and "in conv2d" in notes


def test_too_deep_a_cell_is_voided_with_a_message(graded):
    messages = "\n".join(c.message for c in graded["too-deep-to-analyse"].checks)
    assert "could not be checked for forbidden APIs" in messages


def test_forged_lines_void_the_run_before_any_array_is_read(graded):
    """Written during the cells, forged answers are out of place (issue 21): the run is void,
    and none of their arrays is read (the budget on arrays is tested in
    tests/test_channel_and_reports.py)."""
    for name in CHANNEL:
        assert "an answer written before the probes began" in graded[name].problem


def test_every_report_holds_control_characters(graded, tmp_path):
    results = list(graded.values())
    ET.fromstring(junit_xml(results).encode())  # well-formed XML
    summary = markdown_summary(results, "title") + "\n".join(github_annotations(results))
    assert not any(ch in summary for ch in UNPRINTABLE)
    result = graded["control-characters-in-errors"]
    write_feedback(result, tmp_path)
    for page in ("feedback.html", "feedback.md"):
        text = (tmp_path / page).read_text(encoding="utf-8")
        assert not any(ch in text for ch in UNPRINTABLE), page
        assert "\\x1b" in text, page
    html.parser.HTMLParser().feed((tmp_path / "feedback.html").read_text(encoding="utf-8"))
    json.dumps(result.notes)  # results.json stays writable
