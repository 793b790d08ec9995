"""Tests for grader.analysis.forbidden: static detection of forbidden API uses in notebook code."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from grader.analysis.forbidden import find_forbidden_uses, tainted_scopes
from grader.analysis.uses import ForbiddenUse

FORBIDDEN = [
    "scipy.signal",
    "numpy.convolve",
    "numpy.correlate",
    "tensorflow.nn.conv2d",
    "tensorflow.keras.layers",
    "keras.layers",
]

Row = tuple[str, str, int, int, "str | None"]


def found(sources: list[str] | str, forbidden: list[str] = FORBIDDEN) -> list[Row]:
    """Uses as comparable tuples (api, resolved, cell, line, scope)."""
    cells = [sources] if isinstance(sources, str) else sources
    return [
        (u.api, u.resolved, u.cell, u.line, u.scope) for u in find_forbidden_uses(cells, forbidden)
    ]


def tainted(sources: list[str] | str, forbidden: list[str] = FORBIDDEN) -> dict[str, list[Row]]:
    cells = [sources] if isinstance(sources, str) else sources
    uses = find_forbidden_uses(cells, forbidden)
    return {
        name: [(u.api, u.resolved, u.cell, u.line, u.scope) for u in reached]
        for name, reached in tainted_scopes(cells, uses).items()
    }


SIG = "scipy.signal"
C2D = "scipy.signal.correlate2d"
CONV = "numpy.convolve"
CORR = "numpy.correlate"


# ---------------------------------------------------------------------------
# Every way of reaching scipy.signal the brief lists.

SCIPY_CASES = [
    pytest.param("import scipy.signal", [(SIG, SIG, 0, 1, None)], id="bare-import-is-a-use"),
    pytest.param(
        "import scipy.signal\nscipy.signal.correlate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="import-dotted",
    ),
    pytest.param(
        "import scipy.signal as ss\nss.correlate2d(a, k)", [(SIG, C2D, 0, 2, None)], id="import-as"
    ),
    pytest.param(
        "import scipy\nscipy.signal.correlate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="import-parent-then-chain",
    ),
    pytest.param(
        "from scipy import signal\nsignal.correlate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="from-parent-import",
    ),
    pytest.param(
        "from scipy import signal as sg\nsg.correlate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="from-parent-import-as",
    ),
    pytest.param(
        "from scipy.signal import correlate2d\ncorrelate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="from-module-import-name",
    ),
    pytest.param(
        "from scipy.signal import correlate2d as c\nc(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="from-module-import-name-as",
    ),
    pytest.param(
        "from scipy.signal import correlate2d as c",
        [(SIG, C2D, 0, 1, None)],
        id="unused-from-import",
    ),
    pytest.param("from scipy.signal import *", [(SIG, SIG, 0, 1, None)], id="star-import"),
    pytest.param(
        "from scipy.signal import *\n\ndef conv2d(a, k):\n    return correlate2d(a, k)\n",
        [(SIG, SIG, 0, 1, None), (SIG, C2D, 0, 4, "conv2d")],
        id="star-import-then-bare-name",
    ),
    pytest.param(
        "import scipy.signal\nimport scipy\nscipy.signal.correlate2d(a, k)",
        [(SIG, C2D, 0, 3, None)],
        id="submodule-loaded-by-earlier-import-reported-once",
    ),
]


@pytest.mark.parametrize(("source", "expected"), SCIPY_CASES)
def test_scipy_signal_however_imported(source: str, expected: list[Row]) -> None:
    assert found(source) == expected


# ---------------------------------------------------------------------------
# numpy, tensorflow and keras.

LIBRARY_CASES = [
    pytest.param(
        "import numpy as np\nnp.convolve(a, b)", [(CONV, CONV, 0, 2, None)], id="np-alias"
    ),
    pytest.param(
        "import numpy as xyz\nxyz.correlate(a, b)", [(CORR, CORR, 0, 2, None)], id="odd-alias"
    ),
    pytest.param("import numpy\nnumpy.convolve(a, b)", [(CONV, CONV, 0, 2, None)], id="no-alias"),
    pytest.param(
        "from numpy import convolve as conv\nconv(a, b)",
        [(CONV, CONV, 0, 2, None)],
        id="from-import-as",
    ),
    pytest.param(
        "from numpy import *\nconvolve(a, b)\ndot(a, b)\ndisplay(a)",
        [(CONV, CONV, 0, 2, None)],
        id="numpy-star-then-forbidden-bare-name",
    ),
    pytest.param(
        "import tensorflow as tf\ntf.nn.conv2d(x, w, 1, 'VALID')",
        [("tensorflow.nn.conv2d", "tensorflow.nn.conv2d", 0, 2, None)],
        id="tf-nn-conv2d",
    ),
    pytest.param(
        "import tensorflow as tf\nlayer = tf.keras.layers.Conv2D(8, 3)",
        [("tensorflow.keras.layers", "tensorflow.keras.layers.Conv2D", 0, 2, None)],
        id="tf-keras-layers-chain",
    ),
    pytest.param(
        "from tensorflow import keras\nkeras.layers.Conv2D(8, 3)",
        [("tensorflow.keras.layers", "tensorflow.keras.layers.Conv2D", 0, 2, None)],
        id="from-tensorflow-import-keras",
    ),
    pytest.param(
        "from tensorflow.keras import layers\nlayers.Conv2D(8, 3)",
        [("tensorflow.keras.layers", "tensorflow.keras.layers.Conv2D", 0, 2, None)],
        id="from-tf-keras-import-layers",
    ),
    pytest.param(
        "import keras\nL = keras.layers",
        [("keras.layers", "keras.layers", 0, 2, None)],
        id="standalone-keras",
    ),
    pytest.param(
        "import keras\nkeras.layers.Dense(3)",
        [("keras.layers", "keras.layers.Dense", 0, 2, None)],
        id="standalone-keras-call",
    ),
]


@pytest.mark.parametrize(("source", "expected"), LIBRARY_CASES)
def test_library_apis(source: str, expected: list[Row]) -> None:
    assert found(source) == expected


# ---------------------------------------------------------------------------
# Aliasing by assignment, dynamic look-ups, references without calls.

ALIAS_CASES = [
    pytest.param(
        "import numpy as np\nf = np.convolve\nf(a, b)",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 3, None)],
        id="module-level-alias",
    ),
    pytest.param(
        "import numpy as np\nf = np.convolve\n\ndef g(a, b):\n    return f(a, b)\n",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 5, "g")],
        id="module-alias-used-in-function",
    ),
    pytest.param(
        "import numpy as np\n\ndef g(a, b):\n    f = np.convolve\n    return f(a, b)\n",
        [(CONV, CONV, 0, 4, "g"), (CONV, CONV, 0, 5, "g")],
        id="alias-inside-function",
    ),
    pytest.param(
        "import scipy.signal\nsig = scipy.signal\nsig.correlate2d(a, k)",
        [(SIG, SIG, 0, 2, None), (SIG, C2D, 0, 3, None)],
        id="module-alias",
    ),
    pytest.param(
        "import numpy as np\nf = g = np.convolve\ng(a, b)",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 3, None)],
        id="chained-assignment",
    ),
    pytest.param(
        "import numpy as np\nf, g = np.dot, np.convolve\nf(a, b)\ng(a, b)",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 4, None)],
        id="tuple-assignment-pairs-up",
    ),
    pytest.param(
        "import numpy as np\nif flag:\n    f = np.convolve\nelse:\n    f = mine\nf(a, b)",
        [(CONV, CONV, 0, 3, None), (CONV, CONV, 0, 6, None)],
        id="alias-on-one-branch",
    ),
    pytest.param(
        "import numpy as np\nf = np.convolve if flag else mine\nf(a, b)",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 3, None)],
        id="conditional-expression",
    ),
    pytest.param(
        "try:\n    from scipy.signal import correlate2d as c\nexcept ImportError:\n    c = None\n"
        "def g(a, k):\n    return c(a, k)\n",
        [(SIG, C2D, 0, 6, "g")],
        id="try-import",
    ),
    pytest.param(
        "import numpy as np\nfor f in (np.convolve,):\n    f(a, b)",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 3, None)],
        id="loop-over-literal",
    ),
    pytest.param(
        "import numpy as np\nops = [np.convolve]",
        [(CONV, CONV, 0, 2, None)],
        id="reference-without-call",
    ),
    pytest.param(
        "import numpy as np\nops = {'c': np.convolve}\ndef q(a):\n    return ops['c'](a, a)\n",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 4, "q")],
        id="through-a-dict",
    ),
    pytest.param(
        "import numpy as np\nprint(np.convolve)",
        [(CONV, CONV, 0, 2, None)],
        id="passed-as-argument",
    ),
    pytest.param(
        "import numpy as np\ndef f(x, op=np.convolve):\n    return op(x, x)\n",
        [(CONV, CONV, 0, 2, "f"), (CONV, CONV, 0, 3, "f")],
        id="default-argument",
    ),
    pytest.param(
        "import numpy as np\nif (f := np.convolve):\n    pass\ndef k(a):\n    return f(a, a)\n",
        [(CONV, CONV, 0, 2, None), (CONV, CONV, 0, 5, "k")],
        id="walrus",
    ),
    pytest.param(
        "import numpy as np\ndef setup():\n    global f\n    f = np.convolve\n"
        "def use(a):\n    return f(a, a)\n",
        [(CONV, CONV, 0, 4, "setup"), (CONV, CONV, 0, 6, "use")],
        id="global-set-in-another-function",
    ),
    pytest.param(
        "import functools\nimport numpy as np\ng = functools.partial(np.convolve, mode='same')\n"
        "def h(a):\n    return g(a, a)\n",
        [(CONV, CONV, 0, 3, None), (CONV, CONV, 0, 5, "h")],
        id="functools-partial",
    ),
    pytest.param(
        "import numpy as np\nnp.convolve.__doc__",
        [(CONV, "numpy.convolve.__doc__", 0, 2, None)],
        id="attribute-of-forbidden-function",
    ),
]


@pytest.mark.parametrize(("source", "expected"), ALIAS_CASES)
def test_aliases(source: str, expected: list[Row]) -> None:
    assert found(source) == expected


DYNAMIC_CASES = [
    pytest.param(
        "import numpy as np\ngetattr(np, 'convolve')(a, b)",
        [(CONV, CONV, 0, 2, None)],
        id="getattr",
    ),
    pytest.param(
        "import numpy as np\ngetattr(np, 'convolve', None)",
        [(CONV, CONV, 0, 2, None)],
        id="getattr-default",
    ),
    pytest.param(
        "import scipy\ngetattr(scipy, 'signal').correlate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="getattr-submodule",
    ),
    pytest.param(
        "import scipy\nsig = getattr(scipy, 'signal')",
        [(SIG, SIG, 0, 2, None)],
        id="getattr-module",
    ),
    pytest.param(
        "import numpy as np\ngetattr(np, 'con' + 'volve')(a, b)",
        [(CONV, CONV, 0, 2, None)],
        id="getattr-concatenated-constant",
    ),
    pytest.param("__import__('scipy.signal')", [(SIG, SIG, 0, 1, None)], id="dunder-import"),
    pytest.param(
        "__import__('scipy.signal').signal.correlate2d(a, k)",
        [(SIG, C2D, 0, 1, None)],
        id="dunder-import-chain",
    ),
    pytest.param(
        "m = __import__('scipy.signal', fromlist=['x'])\nm.correlate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="dunder-import-fromlist",
    ),
    pytest.param(
        "import importlib\nimportlib.import_module('scipy.signal')",
        [(SIG, SIG, 0, 2, None)],
        id="import-module",
    ),
    pytest.param(
        "from importlib import import_module\n"
        "ss = import_module('scipy.signal')\nss.correlate2d(a, k)",
        [(SIG, C2D, 0, 3, None)],
        id="import-module-then-use",
    ),
    pytest.param(
        "import numpy as np\nnp.__dict__['convolve'](a, b)",
        [(CONV, CONV, 0, 2, None)],
        id="dunder-dict",
    ),
    pytest.param(
        "import numpy as np\nnp.__dict__.get('convolve')(a, b)",
        [(CONV, CONV, 0, 2, None)],
        id="dunder-dict-get",
    ),
    pytest.param(
        "import numpy as np\nvars(np)['convolve'](a, b)", [(CONV, CONV, 0, 2, None)], id="vars"
    ),
    pytest.param(
        "import sys\nsys.modules['scipy.signal'].correlate2d(a, k)",
        [(SIG, C2D, 0, 2, None)],
        id="sys-modules",
    ),
    pytest.param(
        "import numpy as np\neval('np.convolve(a, b)')",
        [(CONV, CONV, 0, 2, None)],
        id="eval-constant",
    ),
    pytest.param(
        "exec('import scipy.signal as s\\ns.correlate2d(a, k)')",
        [(SIG, C2D, 0, 1, None)],
        id="exec-constant",
    ),
    pytest.param(
        "import numpy as np\nga = getattr\nga(np, 'convolve')",
        [(CONV, CONV, 0, 3, None)],
        id="aliased-getattr",
    ),
    pytest.param(
        "import builtins\nimport numpy as np\nbuiltins.getattr(np, 'correlate')",
        [(CORR, CORR, 0, 3, None)],
        id="builtins-getattr",
    ),
]


@pytest.mark.parametrize(("source", "expected"), DYNAMIC_CASES)
def test_dynamic_lookups(source: str, expected: list[Row]) -> None:
    assert found(source) == expected


# ---------------------------------------------------------------------------
# Scopes: where a use is attributed.

SCOPE_CASES = [
    pytest.param(
        "def conv2d(a, k):\n    import scipy.signal\n    return scipy.signal.correlate2d(a, k)\n",
        [(SIG, C2D, 0, 3, "conv2d")],
        id="import-inside-function",
    ),
    pytest.param(
        "def conv2d(a, k):\n    import scipy.signal as s\n    return a\n",
        [(SIG, SIG, 0, 2, "conv2d")],
        id="unused-import-inside-function",
    ),
    pytest.param(
        "import numpy as np\nf = lambda a: np.convolve(a, a)",
        [(CONV, CONV, 0, 2, None)],
        id="lambda-module-level",
    ),
    pytest.param(
        "import numpy as np\ndef g(xs):\n    return list(map(lambda a: np.convolve(a, a), xs))\n",
        [(CONV, CONV, 0, 3, "g")],
        id="lambda-in-function",
    ),
    pytest.param(
        "import numpy as np\ndef g(xs):\n    return [np.correlate(a, a) for a in xs]\n",
        [(CORR, CORR, 0, 3, "g")],
        id="list-comprehension",
    ),
    pytest.param(
        "import numpy as np\ndef g(xs):\n    return {k: np.convolve for k in xs}\n",
        [(CONV, CONV, 0, 3, "g")],
        id="dict-comprehension",
    ),
    pytest.param(
        "import numpy as np\ndef g(xs):\n    return sum(np.convolve(a, a) for a in xs)\n",
        [(CONV, CONV, 0, 3, "g")],
        id="generator-expression",
    ),
    pytest.param(
        "def outer():\n    import numpy as np\n"
        "    def inner(a):\n        return np.convolve(a, a)\n    return inner\n",
        [(CONV, CONV, 0, 4, "outer")],
        id="nested-function",
    ),
    pytest.param(
        "import numpy as np\nclass Layer:\n    op = np.convolve\n    def forward(self, x):\n"
        "        from scipy.signal import correlate2d\n        return correlate2d(x, x)\n",
        [(CONV, CONV, 0, 3, "Layer"), (SIG, C2D, 0, 6, "Layer")],
        id="class-body-and-method",
    ),
    pytest.param(
        "import numpy as np\n@decorate(np.convolve)\ndef f():\n    pass\n",
        [(CONV, CONV, 0, 2, "f")],
        id="decorator-belongs-to-def",
    ),
    pytest.param(
        "import tensorflow as tf\nclass Net(tf.keras.layers.Layer):\n    pass\n",
        [("tensorflow.keras.layers", "tensorflow.keras.layers.Layer", 0, 2, "Net")],
        id="base-class",
    ),
    pytest.param(
        "import numpy as np\nif True:\n    def g(a):\n        return np.convolve(a, a)\n",
        [(CONV, CONV, 0, 4, "g")],
        id="def-inside-module-level-if-is-top-level",
    ),
    pytest.param(
        "import numpy as np\ndef g(a):\n    def h():\n        return f(a, a)\n    f = np.convolve\n"
        "    return h()\n",
        [(CONV, CONV, 0, 4, "g"), (CONV, CONV, 0, 5, "g")],
        id="closure-sees-later-local",
    ),
]


@pytest.mark.parametrize(("source", "expected"), SCOPE_CASES)
def test_scopes(source: str, expected: list[Row]) -> None:
    assert found(source) == expected


def test_cells_are_one_module_in_order() -> None:
    sources = [
        "import numpy as np",
        "print('hello')",
        "x = 1\ny = np.convolve(x, x)",
        "def conv(a):\n    return np.correlate(a, a)",
    ]
    assert found(sources) == [(CONV, CONV, 2, 2, None), (CORR, CORR, 3, 2, "conv")]


def test_function_body_sees_imports_from_later_cells() -> None:
    """The body runs when called, which can be after the cell that imports numpy."""
    sources = ["def g(a, b):\n    return np.convolve(a, b)", "import numpy as np", "g(1, 2)"]
    assert found(sources) == [(CONV, CONV, 0, 2, "g")]


def test_rebinding_before_a_def_is_respected() -> None:
    sources = [
        "from scipy import signal",
        "signal = load_audio()",
        "def f():\n    return signal.mean()",
    ]
    assert found(sources) == [(SIG, SIG, 0, 1, None)]


def test_loop_alias_made_late_in_body_is_seen_on_next_iteration() -> None:
    source = (
        "import numpy as np\nf = None\nfor i in range(3):\n    if f:\n        f(1)\n"
        "    f = np.convolve"
    )
    assert (CONV, CONV, 0, 5, None) in found(source)


# ---------------------------------------------------------------------------
# Things that must not be flagged.

CLEAN_CASES = [
    pytest.param(
        "import numpy as np\nnp.dot(a, b)\nnp.pad(a, 1)\nnp.lib.pad(a, 1)", id="other-numpy"
    ),
    pytest.param("import numpy as np", id="importing-numpy-itself"),
    pytest.param("import numpy\nimport numpy.linalg\nnumpy.linalg.norm(a)", id="numpy-submodule"),
    pytest.param("import numpy as np\nnp.convolve_by_hand(a)", id="longer-name-sharing-prefix"),
    pytest.param(
        "def convolve(a, b):\n    return a\nconvolve(1, 2)\nx = [convolve]", id="own-convolve"
    ),
    pytest.param(
        "import numpy as np\ndef correlate(a):\n    return a\nclass K:\n    def convolve(self):\n"
        "        return correlate(self)\n",
        id="own-correlate-and-method-named-convolve",
    ),
    pytest.param("signal = [1, 2, 3]\nsignal.append(4)", id="local-variable-signal"),
    pytest.param(
        "import numpy as np\ndef f(signal):\n    return signal.mean()\ndef g():\n"
        "    signal = np.zeros(3)\n    return signal.sum()\n",
        id="parameter-and-local-named-signal",
    ),
    pytest.param(
        "s = 'np.convolve(a, b)'\n# np.convolve(a, b)\n'''scipy.signal.correlate2d'''",
        id="strings-and-comments",
    ),
    pytest.param("import numpy as np\nx = f'{np.dot(a, b)} np.convolve'", id="f-string-text"),
    pytest.param("import scipy.special\nscipy.special.expit(1)", id="scipy-special"),
    pytest.param(
        "from scipy import special, linalg\nlinalg.norm(1)", id="from-scipy-other-modules"
    ),
    pytest.param(
        "class A:\n    def f(self, x):\n        self.convolve(x)\n        return x.correlate(x)\n",
        id="attributes-of-non-modules",
    ),
    pytest.param(
        "import numpy as np\nx = np.zeros(3)\nx.correlate(x)\nnp.zeros(3).convolve",
        id="array-methods",
    ),
    pytest.param("import numpy as np\ndel np\nnp.convolve(a, b)", id="deleted-alias"),
    pytest.param("getattr(obj, 'convolve')\ngetattr(np, name)", id="getattr-unknowns"),
    pytest.param("from . import signal\nsignal.correlate2d(a, k)", id="relative-import"),
    pytest.param("import numpy as np\nnp.convolve = my_convolve", id="assigning-to-the-attribute"),
    pytest.param(
        "import numpy as np\ndef f():\n    np = make()\n    return np.convolve(1)\n",
        id="function-local-shadows-module-alias",
    ),
    pytest.param(
        "import numpy as np\nxs = [np for np in range(3)]\ny = [np.convolve for np in objs]",
        id="comprehension-variable-shadows",
    ),
]


@pytest.mark.parametrize("source", CLEAN_CASES)
def test_not_flagged(source: str) -> None:
    assert found(source) == []


def test_shadowing_a_from_import_with_own_def() -> None:
    """Only the (unused) import is reported; the call goes to the student's function."""
    source = (
        "from scipy.signal import correlate2d\ndef correlate2d(a, k):\n    return a\n"
        "correlate2d(1, 2)"
    )
    assert found(source) == [(SIG, C2D, 0, 1, None)]


def test_parameter_shadowing_module_import() -> None:
    source = "from scipy import signal\ndef f(signal):\n    return signal.mean()"
    assert found(source) == [(SIG, SIG, 0, 1, None)]
    assert tainted(source) == {}


def test_forbidding_a_whole_package() -> None:
    source = "import tensorflow as tf\nimport keras\nx = tf.constant(1)\nkeras.ops.sum(x)"
    assert found(source, ["tensorflow", "keras"]) == [
        ("tensorflow", "tensorflow.constant", 0, 3, None),
        ("keras", "keras.ops.sum", 0, 4, None),
    ]


def test_most_specific_entry_is_reported() -> None:
    source = "import scipy.signal as s\ns.correlate2d(a, k)"
    assert found(source, ["scipy", "scipy.signal"]) == [(SIG, C2D, 0, 2, None)]


def test_forbidden_entries_are_normalised() -> None:
    assert found("import numpy as np\nnp.convolve(a)", [" numpy.convolve ", "", "."]) == [
        (CONV, CONV, 0, 2, None)
    ]


def test_empty_inputs() -> None:
    assert find_forbidden_uses([], FORBIDDEN) == []
    assert find_forbidden_uses(["import numpy as np\nnp.convolve(a, b)"], []) == []
    assert find_forbidden_uses(["", "   ", "# only a comment"], FORBIDDEN) == []


def test_star_import_blames_only_names_the_notebook_does_not_define() -> None:
    sources = [
        "from scipy.signal import *",
        "def helper(a):\n    return a",
        "def conv2d(a, k):\n    return helper(correlate2d(a, k)) + len(a)",
        "display(conv2d(1, 2))",
    ]
    assert found(sources) == [(SIG, SIG, 0, 1, None), (SIG, C2D, 2, 2, "conv2d")]


# ---------------------------------------------------------------------------
# Robustness.


def test_syntax_error_cell_is_skipped_and_indices_kept() -> None:
    sources = [
        "import numpy as np",
        "def broken(:\n    np.convolve(a, b)",
        "np.correlate(a, b)",
    ]
    assert found(sources) == [(CORR, CORR, 2, 1, None)]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("x = (", id="unclosed"),
        pytest.param("a\0b", id="null-byte"),
        pytest.param("x = " + "(" * 300 + ")" * 300, id="too-many-parentheses"),
        pytest.param("x = a" + ".b" * 5000, id="too-deep-for-the-parser", marks=pytest.mark.slow),
        pytest.param("%timeit np.convolve(a, b)", id="unconverted-magic"),
    ],
)
def test_unparseable_cells_are_skipped(bad: str) -> None:
    assert found(["import numpy as np", bad, "np.convolve(a, b)"]) == [(CONV, CONV, 2, 1, None)]


def test_deep_block_nesting() -> None:
    depth = 90
    lines = ["import numpy as np"]
    lines += [" " * i + "if x:" for i in range(depth)]
    lines.append(" " * depth + "np.convolve(a, b)")
    assert found("\n".join(lines)) == [(CONV, CONV, 0, depth + 2, None)]


def test_deep_nesting_of_defs_and_expressions() -> None:
    defs = "import numpy as np\n" + "".join(" " * (4 * i) + f"def f{i}():\n" for i in range(60))
    defs += " " * 240 + "return np.convolve(a, b)\n"
    assert found(defs) == [(CONV, CONV, 0, 62, "f0")]
    nested_calls = "import numpy as np\nx = " + "f(" * 150 + "np.convolve" + ")" * 150
    assert found(nested_calls) == [(CONV, CONV, 0, 2, None)]
    method_chain = "import numpy as np\nx = np.convolve(a, b)" + ".copy()" * 300
    assert found(method_chain) == [(CONV, CONV, 0, 2, None)]
    nested_getattr = "import numpy as np\nx = " + "getattr(" * 100 + "np" + ", 'a')" * 100
    assert found(nested_getattr, ["numpy.a.a"]) == [("numpy.a.a", "numpy" + ".a" * 100, 0, 2, None)]


@pytest.mark.parametrize(
    "weird",
    [
        "async def f():\n    async with a as b:\n        async for c in b:\n            await c\n",
        "match p:\n    case {'k': [1, *rest], **others} if rest:\n        pass\n"
        "    case Point(x=0, y=yy) | [yy, _]:\n        pass\n",
        "try:\n    pass\nexcept* ValueError as eg:\n    raise\n",
        "def f(a, /, b=1, *args, c, d=2, **kw) -> int:\n    nonlocal_thing = 1\n    return a\n",
        "def f():\n    x = 1\n    def g():\n        nonlocal x\n"
        "        x = np.convolve\n    return x\n",
        "x: int\ny: 'np.convolve' = 3\n",
        "del a.b, c[0], (d)\nglobal q\nlambda *a, **k: (yield)\n",
        "[(y := f(x)) for x in data]\nprint(y)\n",
        "from __future__ import annotations\nimport a.b.c as d\nfrom .. import e\n",
        "x = [[[[[[[[[[np.convolve]]]]]]]]]]\nx[0][0][0][0][0][0][0][0][0][0](1)\n",
        "eval(1)\nexec()\ngetattr()\n__import__()\nvars()\nimport_module = 3\nimport_module('x')\n",
        "eval('this is not python')\nexec('import scipy.signal as s\\n' * 3)\n",
        "for (a, b), *c in d:\n    a.b = c\nwhile x:\n    break\nelse:\n    pass\n",
        "with open(f) as (a, b), other as c[0]:\n    pass\n",
        "f(*args, **{'k': np.convolve})\nprint(*[np.convolve])\n",
    ],
)
def test_weird_code_never_raises(weird: str) -> None:
    uses = find_forbidden_uses(["import numpy as np", weird], FORBIDDEN)
    assert all(isinstance(u, ForbiddenUse) for u in uses)
    assert isinstance(tainted_scopes(["import numpy as np", weird], uses), dict)


def test_real_python_modules_never_raise() -> None:
    """The analyser copes with large, varied real code (the stdlib's own modules)."""
    modules = [ast, dataclasses, inspect, pytest]
    sources = [inspect.getsource(module) for module in modules]
    uses = find_forbidden_uses(sources, ["sys", "os.path", "builtins.exec", "re"])
    assert any(use.api == "sys" for use in uses)
    assert isinstance(tainted_scopes(sources, uses), dict)


def test_non_string_sources_are_skipped() -> None:
    sources = ["import numpy as np", None, b"x", "np.convolve(a)"]
    assert found(sources) == [(CONV, CONV, 3, 1, None)]  # type: ignore[arg-type]


def _big_notebook(lines: int) -> list[str]:
    cell = (
        "def conv{i}(image, kernel, stride=1):\n"
        "    out = np.zeros((3, 3))\n"
        "    for a in range(3):\n"
        "        for b in range(3):\n"
        "            if a > b:\n"
        "                out[a, b] = np.sum(image[a:a + 3, b:b + 3] * kernel)\n"
        "            else:\n"
        "                out[a, b] = sg.correlate2d(image, kernel)[0, 0]\n"
        "    vals = [np.dot(x, y) for x, y in zip(image, kernel)]  # np.convolve\n"
        "    return out, vals, conv{j}\n"
    )
    cells = ["import numpy as np\nfrom scipy import signal as sg"]
    cells += [cell.format(i=i, j=max(i - 1, 0)) for i in range(lines // 10)]
    return cells


def test_large_notebook_is_analysed() -> None:
    # its speed is measured by benchmarks/forbidden_speed.py, not asserted here
    sources = _big_notebook(5000)
    assert sum(s.count("\n") for s in sources) >= 5000
    uses = find_forbidden_uses(sources, FORBIDDEN)
    assert len(uses) == 500
    assert len(tainted_scopes(sources, uses)) == 500


def test_large_single_cell_is_analysed() -> None:
    lines = ["import numpy as np"]
    lines += [f"x{i} = np.arange({i}) * 2 + np.dot(x{max(i - 1, 0)}, 3)" for i in range(5000)]
    assert find_forbidden_uses(["\n".join(lines)], FORBIDDEN) == []


# ---------------------------------------------------------------------------
# ForbiddenUse.


def test_forbidden_use_is_a_frozen_dataclass() -> None:
    use = ForbiddenUse("scipy.signal", C2D, 3, 5, "conv2d")
    with pytest.raises(dataclasses.FrozenInstanceError):
        use.line = 6  # type: ignore[misc]
    assert ForbiddenUse(**dataclasses.asdict(use)) == use
    assert hash(use) == hash(ForbiddenUse("scipy.signal", C2D, 3, 5, "conv2d"))


def test_describe() -> None:
    assert ForbiddenUse(SIG, C2D, 3, 5, "conv2d").describe() == (
        "scipy.signal.correlate2d (code cell 4, line 5, in conv2d)"
    )
    assert ForbiddenUse(SIG, SIG, 0, 1, None).describe() == (
        "scipy.signal (code cell 1, line 1, at module level)"
    )


# ---------------------------------------------------------------------------
# tainted_scopes.

CONV_NOTEBOOK = [
    "import numpy as np\nfrom scipy.signal import correlate2d",
    "def conv2d(image, kernel):\n    return correlate2d(image, kernel, mode='valid')",
    "def conv_layer(x, filters):\n    return np.stack([conv2d(x, f) for f in filters])",
    "def relu(x):\n    return np.maximum(x, 0)",
    "def describe():\n    return 'conv2d and conv_layer'  # conv2d",
]


def test_taint_flows_to_callers() -> None:
    use = (SIG, C2D, 1, 2, "conv2d")
    assert found(CONV_NOTEBOOK) == [use]
    assert tainted(CONV_NOTEBOOK) == {"conv2d": [use], "conv_layer": [use]}


def test_mutual_recursion_terminates() -> None:
    sources = [
        "import numpy as np",
        "def even(n):\n    return n == 0 or odd(n - 1)",
        "def odd(n):\n    return n != 0 and even(n - 1) and np.convolve(n, n)",
        "def ping():\n    return pong()\ndef pong():\n    return ping()",
    ]
    use = (CONV, CONV, 2, 2, "odd")
    assert tainted(sources) == {"even": [use], "odd": [use]}


def test_self_recursion_and_long_chains() -> None:
    chain = [f"def f{i}():\n    return f{i + 1}() + f{i}()" for i in range(300)]
    chain.append("import numpy as np\ndef f300():\n    return np.convolve(1, 1)")
    result = tainted(chain)
    assert set(result) == {f"f{i}" for i in range(301)}
    assert result["f0"] == [(CONV, CONV, 300, 3, "f300")]


def test_mention_in_string_does_not_taint() -> None:
    sources = [
        *CONV_NOTEBOOK,
        "def report():\n    print('uses conv2d')\n    return \"conv_layer(x)\"",
    ]
    assert "report" not in tainted(sources)
    assert "describe" not in tainted(sources)


def test_reference_without_call_taints() -> None:
    sources = [*CONV_NOTEBOOK, "def pick():\n    return {'conv': conv2d}"]
    assert "pick" in tainted(sources)


def test_alias_of_tainted_function_taints() -> None:
    sources = [*CONV_NOTEBOOK, "helper = conv2d", "def g(x):\n    return helper(x, x)"]
    assert "g" in tainted(sources)


def test_local_shadowing_does_not_taint() -> None:
    sources = [*CONV_NOTEBOOK, "def g(conv2d):\n    return conv2d(1, 2)"]
    assert "g" not in tainted(sources)


def test_class_method_calling_tainted_function_taints_class() -> None:
    sources = [
        *CONV_NOTEBOOK,
        "class Conv:\n    def __call__(self, x, k):\n        return conv2d(x, k)",
    ]
    assert tainted(sources)["Conv"] == [(SIG, C2D, 1, 2, "conv2d")]


def test_module_level_uses_taint_no_scope() -> None:
    sources = ["import numpy as np\ny = np.convolve(1, 1)", "def f():\n    return y"]
    assert found(sources) == [(CONV, CONV, 0, 2, None)]
    assert tainted(sources) == {}


def test_taint_collects_every_use_reached() -> None:
    sources = [
        "import numpy as np",
        "def a():\n    return np.convolve(1, 1)",
        "def b():\n    return np.correlate(1, 1)",
        "def c():\n    return a() + b()",
    ]
    assert tainted(sources)["c"] == [(CONV, CONV, 1, 2, "a"), (CORR, CORR, 2, 2, "b")]


def test_tainted_scopes_accepts_uses_from_elsewhere() -> None:
    """A use's scope is tainted even if the sources do not define it; only defs propagate."""
    use = ForbiddenUse(CONV, CONV, 0, 1, "ghost")
    assert tainted_scopes(["def f():\n    return ghost()"], [use]) == {"ghost": [use]}


def test_tainted_scopes_with_broken_cells() -> None:
    sources = [*CONV_NOTEBOOK, "def broken(:", "def uses_conv():\n    return conv_layer(1, [])"]
    assert set(tainted(sources)) == {"conv2d", "conv_layer", "uses_conv"}


# --- what grading makes of the uses: taint by each name's last binding ---------------------

def _tainted(*cells: str) -> dict[str, list[str]]:
    from grader.analysis.findings import forbidden_findings
    from grader.spec.notebook import CodeCell

    code = [CodeCell(i, i, source) for i, source in enumerate(cells)]
    return forbidden_findings(code, ["scipy.signal", "numpy.convolve"])[1]


def test_module_level_bindings_are_tainted_and_spread() -> None:
    tainted = _tainted("from scipy.signal import correlate2d as c2",
                       "conv2d = lambda a, k: c2(a, k)\nKERNELS = c2([[1]], [[1]])",
                       "def conv_layer(x):\n    return conv2d(x, x)\ndef relu(x):\n    return x")
    assert set(tainted) == {"conv2d", "KERNELS", "conv_layer"}


def test_a_later_hand_written_definition_clears_an_earlier_forbidden_one() -> None:
    tainted = _tainted("import scipy.signal\ndef conv2d(a, k):\n    return scipy.signal.correlate2d(a, k)",
                       "def conv_layer(x):\n    return conv2d(x, x)",
                       "def conv2d(a, k):\n    return a")
    assert "conv2d" not in tainted and "conv_layer" not in tainted


def test_a_later_forbidden_definition_taints_an_earlier_clean_one() -> None:
    tainted = _tainted("def conv2d(a, k):\n    return a",
                       "import numpy as np\ndef conv2d(a, k):\n    return np.convolve(a, k)")
    assert "conv2d" in tainted


def test_a_parameter_named_like_a_tainted_function_does_not_spread_the_taint() -> None:
    tainted = _tainted("import numpy as np\ndef conv2d(a, k):\n    return np.convolve(a, k)",
                       "def apply(conv2d, x):\n    return conv2d(x)\n"
                       "def local(x):\n    conv2d = abs\n    return conv2d(x)")
    assert "conv2d" in tainted and "apply" not in tainted and "local" not in tainted


def test_one_walk_gives_what_the_three_entry_points_give() -> None:
    from grader.analysis.forbidden import analyse, undecided_cells

    sources = _big_notebook(40) + ["x = " + "1 if a else " * 1000 + "2"]
    analysis = analyse(sources, FORBIDDEN)
    uses = find_forbidden_uses(sources, FORBIDDEN)
    assert analysis.uses == uses
    assert analysis.scopes == tainted_scopes(sources, uses)
    assert analysis.undecided == undecided_cells(sources) == [len(sources) - 1]


def test_taint_spreads_to_every_referrer_through_cycles_and_only_to_them() -> None:
    from grader.analysis.taint import spread

    refers_to = {"a": {"b"}, "b": {"c", "a"}, "c": set(), "d": {"e"}, "e": set(), "f": {"a"}}
    reached = spread(refers_to, {"c": ["use in c"], "e": ["use in e"]})
    assert reached == {"c": {"use in c"}, "e": {"use in e"}, "a": {"use in c"}, "b": {"use in c"},
                       "d": {"use in e"}, "f": {"use in c"}}
    # the names holding items first, then as passes over refers_to find them (b before a)
    assert list(reached) == ["c", "e", "b", "d", "a", "f"]
