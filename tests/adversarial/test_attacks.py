"""The adversarial suite: one notebook per attack, each with the outcome it must get.

Every notebook is a real submission (the reference, the untouched template or the partly
correct example) with the attack appended as its last cell(s), graded in one isolated batch
through the normal engine. An attack either is stopped or changes nothing: the score is
exactly what the submission's code earns.
"""

from __future__ import annotations

import json
import subprocess

import nbformat
import pytest

from grader.execution.sandbox import detect
from tests.conftest import EXAMPLES, REFERENCE, SANDBOX, grade_all

REFERENCE_SCORE, UNTOUCHED_SCORE, PARTLY_SCORE = 20.0, 0.0, 11.8333
BASES = {"reference": EXAMPLES / "reference.ipynb", "untouched": EXAMPLES / "untouched.ipynb",
         "partly": EXAMPLES / "partly-correct.ipynb"}

LIAR = '''
import numpy as np

class Liar:
    """Claims to equal anything, to be any array, to have any length."""
    def __eq__(self, other):
        return True
    def __array__(self, *args, **kwargs):
        return np.ones((3, 3))
    def __len__(self):
        return 10**9

class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), bool)
    def __array_ufunc__(self, *args, **kwargs):
        return True

def conv2d(image, kernel, stride=1, padding=0):
    return Liar()

def softmax(logits):
    return np.zeros(np.shape(logits)).view(Agreeable)
'''

ATTACKS = {
    # survival: the process dies or misbehaves; the batch goes on and the code is graded
    "os-exit": ("reference", "import os\nos._exit(0)", REFERENCE_SCORE),
    "segfault": ("reference", "import ctypes\nctypes.string_at(0)", REFERENCE_SCORE),
    "kill-self": ("reference", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
                  REFERENCE_SCORE),
    "sys-exit": ("reference", "import sys\nsys.exit(1)", REFERENCE_SCORE),
    "keyboard-interrupt": ("reference", "raise KeyboardInterrupt", REFERENCE_SCORE),
    "daemon": ("reference", "import subprocess\n"
               "subprocess.Popen(['setsid', 'sh', '-c', 'sleep 3301 & sleep 3301'])",
               REFERENCE_SCORE),
    "fill-tmp": ("reference", "chunk = b'x' * 2**20\nwith open('/tmp/fill', 'wb') as f:\n"
                 "    for _ in range(4096):\n        f.write(chunk)", REFERENCE_SCORE),
    "delete-working-folder": ("reference", "import os, shutil\nshutil.rmtree(os.getcwd())",
                              REFERENCE_SCORE),
    "fork-bomb": ("reference", "import os, time\nfor _ in range(2000):\n    try:\n"
                  "        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n"
                  "    except OSError:\n        break", REFERENCE_SCORE),
    "memory-bomb": ("reference", "import numpy as np\nblock = np.ones(10**10)", REFERENCE_SCORE),
    "huge-output": ("reference", "for _ in range(20000):\n    print('y' * 5000)", REFERENCE_SCORE),
    # integrity: what the process reports cannot raise its score
    "print-fake-results": ("untouched", "import json\nprint(json.dumps({'score': 20, 'tests': []}))",
                           UNTOUCHED_SCORE),
    "write-results-files": ("untouched", "import json, os\nfake = json.dumps({'score': 20})\n"
                            "for path in ['results.json', '../results.json', '/tmp/results.json',"
                            " os.path.expanduser('~/results.json')]:\n    try:\n"
                            "        open(path, 'w').write(fake)\n    except OSError:\n        pass",
                            UNTOUCHED_SCORE),
    "read-the-reference": ("untouched", "import json\ntry:\n"
                           f"    notebook = json.load(open({str(REFERENCE)!r}))\n"
                           "    for cell in notebook['cells']:\n"
                           "        if cell['cell_type'] == 'code':\n"
                           "            exec(''.join(cell['source']))\nexcept OSError:\n    pass",
                           UNTOUCHED_SCORE),
    "patch-numpy": ("partly", "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                    "np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
                    "np.testing.assert_allclose = lambda *a, **k: None", PARTLY_SCORE),
    "patch-grader": ("partly", "import grader.wire, grader.child.runner as runner\n"
                     "try:\n    import grader.authoring as authoring\n"
                     "    authoring.assert_close = lambda *a, **k: None\nexcept Exception:\n"
                     "    pass\nrunner.TIMEOUT_STRIKES = 0", PARTLY_SCORE),
    "forge-events": ("untouched", "import json, os\nline = json.dumps({'event': 'probe', "
                     "'key': 'x', 'status': 'ok', 'value': 1}) + '\\n'\n"
                     "for fd in range(3, 12):\n    try:\n        os.write(fd, b'{garbage\\n' + "
                     "line.encode())\n    except OSError:\n        pass", UNTOUCHED_SCORE),
    # lying values: they arrive as plain data and are compared by the grader
    "liar-objects": ("reference", LIAR, REFERENCE_SCORE - 5 - 4 - 2 - 2),
    "nan-and-inf": ("reference", "import numpy as np\ndef relu(x):\n"
                    "    return np.full(np.shape(x), np.nan)", REFERENCE_SCORE - 1),
    "huge-array": ("reference", "import numpy as np\ndef relu(x):\n"
                   "    return np.zeros(30_000_000)", REFERENCE_SCORE - 1),
    "raises-when-inspected": ("reference", "class Bomb:\n    def __array__(self, *a, **k):\n"
                              "        raise RuntimeError('boom')\n    def __repr__(self):\n"
                              "        raise RuntimeError('boom')\ndef relu(x):\n    return Bomb()",
                              REFERENCE_SCORE - 1),
    "hangs-when-inspected": ("reference", "class Sloth:\n    def __array__(self, *a, **k):\n"
                             "        while True:\n            pass\ndef relu(x):\n    return Sloth()",
                             REFERENCE_SCORE - 1),
}

#: Attacks only namespaces stop: without them the file is there to read, and /tmp is the
#: host's. Without isolation they are left out of the batch (CI requires isolation).
NEEDS_ISOLATION = {"read-the-reference": "without namespaces the reference is readable",
                   "fill-tmp": "without namespaces /tmp is the host's own"}

#: One batch grades every attack, several of which run into a time limit on purpose.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def isolated() -> bool:
    """Whether this machine's notebooks run in namespaces (strict in CI: never a fallback)."""
    return detect(SANDBOX).isolated


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory, isolated):
    folder = tmp_path_factory.mktemp("attacks")
    for name, (base, attack, _) in ATTACKS.items():
        if name in NEEDS_ISOLATION and not isolated:
            continue
        notebook = nbformat.read(str(BASES[base]), as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(attack))
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))
    _write_odd_but_valid(folder)
    return grade_all(assignment, [folder], tmp_path_factory.mktemp("out"))


def _write_odd_but_valid(folder):
    """Colab metadata, duplicate cell ids and attachments: a valid submission all the same."""
    data = json.loads(REFERENCE.read_text())
    data["metadata"]["colab"] = {"provenance": [], "name": "lab.ipynb"}
    for cell in data["cells"]:
        cell["id"] = "same-id"
        if cell["cell_type"] == "markdown":
            cell["attachments"] = {"x.png": {"image/png": "iVBORw0KGgo="}}
    (folder / "colab-duplicate-ids-attachments.ipynb").write_text(json.dumps(data))


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gets_exactly_what_the_code_earns(graded, name, isolated):
    if name in NEEDS_ISOLATION and not isolated:
        pytest.skip(f"needs bubblewrap: {NEEDS_ISOLATION[name]}")
    assert graded[name].score == pytest.approx(ATTACKS[name][2], abs=1e-3)


def test_odd_but_valid_notebook_is_graded(graded):
    assert graded["colab-duplicate-ids-attachments"].score == REFERENCE_SCORE


def test_crashes_are_explained(graded):
    for name, signal_name in [("segfault", "SIGSEGV"), ("kill-self", "SIGKILL"),
                              ("os-exit", "exited (code 0)")]:
        notes = "\n".join(graded[name].notes)
        assert "crashed the notebook's process" in notes and signal_name in notes


def test_no_process_outlives_its_grading(graded):
    leftover = subprocess.run(["pgrep", "-f", "sleep 3301"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_huge_results_are_refused_not_loaded(graded):
    failed = [c for c in graded["huge-array"].checks if not c.passed]
    assert failed and all("size limit" in c.message for c in failed)


def test_memory_bomb_is_a_memory_error(graded):
    assert "MemoryError" in "\n".join(graded["memory-bomb"].notes)
