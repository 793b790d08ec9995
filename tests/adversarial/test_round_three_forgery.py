"""Hostile submissions, round three (issue 21): answers the notebook forges on the grader's
channel, the grader's code patched in memory, and forbidden modules loaded where the import
guard used to look away. Each notebook is graded through the normal engine, in one batch,
and must get exactly what its code earns.

Forgeries start from ``conv2d`` stubbed out (so conv2d, conv_layer and x_feature_maps earn
nothing: 9, the score of the honest notebook that uses ``scipy.signal``) and add a cell that
finds the hidden inputs in memory and forges the answers computed with ``scipy.signal``.
Every one is caught as tampering: the run is void (the template's 0). Guard evasions keep
the reference's hand-written ``conv2d`` and wrap it, touching a forbidden module in a way
the static analysis cannot see: 9 (the questions reaching ``conv2d`` are void). Beside them,
correct notebooks that use threads, allowed imports that load forbidden modules, and the
grader's own helpers keep their 20.
"""

from __future__ import annotations

import base64

import pytest

from tests.adversarial.test_round_two import wrapper
from tests.conftest import EXAMPLES, grade_appended

REFERENCE_SCORE, UNTOUCHED_SCORE, CONV2D_VOIDED = 20.0, 0.0, 9.0
STUB = "def conv2d(image, kernel, stride=1, padding=0):\n    raise NotImplementedError\n"

#: What every forger needs: the channel, the hidden inputs, and answers made with scipy.
FORGER = '''
import gc, sys
import numpy as np
from scipy.signal import correlate2d
from grader import wire
from grader.child.runner import ArrayStore, EventLog
_log = next(o for o in gc.get_objects() if isinstance(o, EventLog))
_store = next(o for o in gc.get_objects() if isinstance(o, ArrayStore))
from grader.child.job import Job
_job = next(o for o in gc.get_objects() if isinstance(o, Job))

def _hidden_inputs():
    """The probe's hidden arrays, from the grader's frames (in reach once probes run; during
    the cells, IPython's coroutines hide them, and the forgery writes zeros instead)."""
    frame = sys._getframe()
    while frame is not None and not isinstance(frame.f_locals.get("arrays"), dict):
        frame = frame.f_back
    return frame.f_locals["arrays"] if frame is not None else {}

def _conv2d(image, kernel, stride=1, padding=0):
    image = np.pad(np.asarray(image, dtype=float), padding)
    return correlate2d(image, np.asarray(kernel, dtype=float), mode="valid")[::stride, ::stride]

def _conv_layer(x, filters, biases, stride=1):
    x, filters = np.asarray(x, dtype=float), np.asarray(filters, dtype=float)
    return np.stack([sum(_conv2d(x[:, :, c], filters[:, :, c, d], stride)
                         for c in range(x.shape[2])) + biases[d]
                     for d in range(filters.shape[3])], axis=-1)

def _x_feature_maps(image):
    return np.stack([_conv2d(image, X_FILTERS[:, :, f]) / 9.0 for f in range(3)], axis=-1)

_FORGED = {"conv2d": _conv2d, "conv_layer": _conv_layer, "x_feature_maps": _x_feature_maps}

def _value(probe):
    copies = {k: v.copy() for k, v in _hidden_inputs().items()}
    try:
        args, kwargs = wire.decode(probe.args, copies), wire.decode(probe.kwargs, copies)
    except wire.WireFormatError:
        return np.zeros((1, 1))
    function = _FORGED.get(probe.name) or globals()[probe.name]
    return function(*args, **kwargs) if probe.kind == "call" else function

def _answer(probe):
    tree, arrays = wire.encode(_value(probe))
    line = {"event": "probe", "key": probe.key, "status": "ok", "value": tree}
    if arrays:
        line["arrays"] = _store.append(wire.save_arrays(arrays))
    return line
'''

FORGERIES = {
    # the attack of the issue: the answers written during the cells, before the probes
    "forge-answers-during-the-cells": FORGER + (
        "for _probe in _job.probes:\n"
        "    if _probe.name in _FORGED:\n"
        "        _log.write(_answer(_probe))\n"),
    # the whole protocol of the probes, in the plan's order, before the grader's own
    "forge-the-whole-probe-phase": FORGER + (
        "_log.write({'event': 'probes'})\n"
        "for _n, _probe in enumerate(_job.probes):\n"
        "    _log.write({'event': 'probe-start', 'number': _n, 'key': _probe.key})\n"
        "    _log.write(_answer(_probe))\n"),
    # a thread that writes the answers once the grader's probes run
    "forge-from-a-thread": FORGER + (
        "import threading, time\n"
        "def _later():\n"
        "    main = threading.main_thread().ident\n"
        "    for _ in range(2000):\n"
        "        frame = sys._current_frames().get(main)\n"
        "        while frame is not None and frame.f_code.co_name != 'probe':\n"
        "            frame = frame.f_back\n"
        "        if frame is not None:\n"
        "            for probe in _job.probes:\n"
        "                if probe.name in _FORGED:\n"
        "                    _log.write(_answer(probe))\n"
        "            return\n"
        "        time.sleep(0.005)\n"
        "threading.Thread(target=_later, daemon=True).start()\n"),
    # the function probed writes its own answer line, then the grader writes its answer
    "forge-inside-the-probed-function": FORGER + (
        "def conv2d(image, kernel, stride=1, padding=0):\n"
        "    frame = sys._getframe()\n"
        "    while frame.f_code.co_name != 'probe':\n"
        "        frame = frame.f_back\n"
        "    _log.write(_answer(frame.f_locals['probe']))\n"
        "    return np.zeros((1, 1))\n"),
    # the grader's code patched in memory, so that the grader itself writes the forgeries
    "patch-the-runner": FORGER + (
        "import grader.child.runner as _runner\n"
        "_real = _runner.NotebookRunner.probe\n"
        "def _probe(self, number, probe, *args):\n"
        "    if probe.name not in _FORGED:\n"
        "        return _real(self, number, probe, *args)\n"
        "    self.events.write({'event': 'probe-start', 'number': number, 'key': probe.key})\n"
        "    self.events.write(_answer(probe))\n"
        "_runner.NotebookRunner.probe = _probe\n"),
    "patch-the-dispatcher": FORGER + (
        "import grader.child.runner as _runner\n"
        "_real = _runner.answer\n"
        "def _forged(namespace, custom, kind, name, args, kwargs):\n"
        "    function = _FORGED.get(name)\n"
        "    return function(*args, **kwargs) if function else _real(namespace, custom, kind, "
        "name, args, kwargs)\n"
        "_runner.answer = _forged\n"),
    "patch-json": FORGER + (
        "import json\n"
        "_dumps = json.dumps\n"
        "_by_key = {p.key: p for p in _job.probes if p.name in _FORGED}\n"
        "def _forging_dumps(event, *a, **k):\n"
        "    if event.get('event') == 'probe' and event.get('key') in _by_key:\n"
        "        event = _answer(_by_key[event['key']])\n"
        "    return _dumps(event, *a, **k)\n"
        "json.dumps = _forging_dumps\n"),
    "patch-wire-encode": FORGER + (
        "import grader.wire as _wire\n"
        "_encode = _wire.encode\n"
        "def _forging_encode(value):\n"
        "    frame = sys._getframe(1)\n"
        "    probe = frame.f_locals.get('probe')\n"
        "    if probe is not None and probe.name in _FORGED:\n"
        "        value = _value(probe)\n"
        "    return _encode(value)\n"
        "_wire.encode = _forging_encode\n"),
}

SIGNAL = "importlib.import_module('scipy.' + 'signal')"
QUOTED_SIGNAL = SIGNAL.replace("'", '"')  # inside a string of the notebook's
TOUCH = "correlate2d(np.ones((2, 2)), np.ones((1, 1)))"
HIDDEN_SOURCE = wrapper(f"import importlib; _ = {SIGNAL}.{TOUCH}")
HELPER = ("from scipy.signal import correlate2d\n"
          "def touch():\n    import numpy as np\n"
          f"    return {TOUCH}\n")

EVASIONS = {
    "import-in-a-thread": [wrapper(
        "import importlib, threading; box = []\n"
        f"    thread = threading.Thread(target=lambda: box.append({SIGNAL})); thread.start()\n"
        f"    thread.join(); _ = box[0].{TOUCH}")],
    "import-in-a-thread-at-a-cell-top": [
        "import importlib, threading\n"
        f"_thread = threading.Thread(target=lambda: {SIGNAL}); _thread.start(); _thread.join()\n",
        wrapper(f"import sys; _ = sys.modules['scipy.' + 'signal'].{TOUCH}")],
    "vendored-module-name": [
        f"_ns = {{'__name__': 'scipy.signal.vendored'}}\n"
        f"exec('import importlib\\nm = {QUOTED_SIGNAL}', _ns)\n",
        wrapper(f"_ = _ns['m'].{TOUCH}")],
    "code-relabelled-as-a-library-file": [
        "import json\n_ns = {}\nexec(compile('def touch():\\n    import importlib\\n"
        f"    return {QUOTED_SIGNAL}\\n', json.__file__, 'exec'), _ns)\n",
        wrapper(f"_ = _ns['touch']().{TOUCH}")],
    "exec-of-base64-source": [
        "import base64\nexec(base64.b64decode("
        f"{base64.b64encode(HIDDEN_SOURCE.encode())!r}).decode())\n"],
    "side-effect-of-an-allowed-import": [
        "import scipy.stats",
        wrapper("import sys; _ = sys.modules['scipy.' + 'ndimage'].correlate("
                "np.ones((2, 2)), np.ones((1, 1)))")],
    "helper-module-written-to-disk": [
        f"import os, sys\nopen('helper_conv.py', 'w').write({HELPER!r})\n"
        "sys.path.insert(0, os.getcwd())\nimport helper_conv\n",
        wrapper("_ = helper_conv.touch()")],
    "signal-loaded-under-another-name": [
        "import importlib.util, os, sys\n"
        "_dir = os.path.join(importlib.util.find_spec('scipy').submodule_search_locations[0], "
        "'sig' + 'nal')\n"
        "_spec = importlib.util.spec_from_file_location('sigx', os.path.join(_dir, "
        "'__init__.py'), submodule_search_locations=[_dir])\n"
        "_sigx = importlib.util.module_from_spec(_spec); sys.modules['sigx'] = _sigx\n"
        "_spec.loader.exec_module(_sigx)\n",
        wrapper(f"_ = _sigx.{TOUCH}")],
    "finder-removed": [
        "import sys\nsys.meta_path[:] = [f for f in sys.meta_path "
        "if type(f).__name__ != '_GuardFinder']\n", HIDDEN_SOURCE],
    "profile-switched-off-in-the-function": [wrapper(
        f"import sys, importlib; sys.setprofile(None); _ = {SIGNAL}.{TOUCH}")],
}

#: Switching the guard off by changing the grader's objects is tampering: the run is void.
GUARD_TAMPERING = {
    "guard-emptied": [
        "import gc\nfrom grader.child.guard import ImportGuard\n"
        "for _g in [o for o in gc.get_objects() if isinstance(o, ImportGuard)]:\n"
        "    _g.forbidden = ()\n    _g.paths = {}\n", HIDDEN_SOURCE],
    "guard-method-patched": [
        "from grader.child.guard import ImportGuard\n"
        "ImportGuard.calls_watched = lambda self: __import__('contextlib').nullcontext()\n"
        "ImportGuard.find = lambda self, module: None\n", HIDDEN_SOURCE],
    "thread-left-running": [
        "import threading, time\n"
        "threading.Thread(target=lambda: time.sleep(30), daemon=True).start()\n"],
}

#: Correct notebooks beside the attacks: nothing here is a forgery or a forbidden use.
HONEST = {
    "thread-joined": [
        "import threading\n_box = []\n_t = threading.Thread(target=lambda: _box.append(relu(-1)))\n"
        "_t.start(); _t.join()\n"],
    "allowed-import-that-loads-forbidden-modules": [
        "import scipy.stats\n_p = scipy.stats.norm.pdf(0.0)\n"],
    "unused-scipy-signal-in-a-thread": [
        f"import importlib, threading\n_t = threading.Thread(target=lambda: {SIGNAL}); "
        "_t.start(); _t.join()\n"],
    "reads-the-grader-without-changing-it": [
        "import grader.child.runner, grader.wire\n_n = len(dir(grader.child.runner))\n"],
}

NOTEBOOKS: dict[str, tuple[str, list[str], float]] = {
    **{name: ("reference", [STUB, cell], UNTOUCHED_SCORE) for name, cell in FORGERIES.items()},
    "stub-alone": ("reference", [STUB], CONV2D_VOIDED),
    **{name: ("reference", cells, CONV2D_VOIDED) for name, cells in EVASIONS.items()},
    **{name: ("reference", cells, UNTOUCHED_SCORE) for name, cells in GUARD_TAMPERING.items()},
    **{name: ("reference", cells, REFERENCE_SCORE) for name, cells in HONEST.items()},
    "reference": ("reference", [], REFERENCE_SCORE),
    "uses-scipy": ("uses-scipy", [], CONV2D_VOIDED),
}
BASES = {"reference": EXAMPLES / "reference.ipynb", "uses-scipy": EXAMPLES / "uses-scipy.ipynb"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    return grade_appended(assignment, NOTEBOOKS, BASES, tmp_path_factory.mktemp("round-three"),
                          tmp_path_factory.mktemp("out"))


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_gets_exactly_what_the_code_earns(graded, name):
    assert graded[name].score == pytest.approx(NOTEBOOKS[name][2], abs=1e-3)


@pytest.mark.parametrize("name", sorted([*FORGERIES, *GUARD_TAMPERING]))
def test_tampering_voids_the_run_and_says_why(graded, name):
    assert "tampered with grading" in (graded[name].problem or "")


@pytest.mark.parametrize("name", sorted(EVASIONS))
def test_the_evasions_are_named(graded, name):
    voided = [c for c in graded[name].checks if c.message.startswith("no credit")]
    assert {c.check.question for c in voided} == {"conv2d", "conv_layer", "x_feature_maps"}
    assert any(note.startswith("Forbidden") for note in graded[name].notes)
