"""Forbidden APIs the static check used to miss (issue 13): magics, namespace dictionaries,
name-resolving functions, and cells too deep to analyse. Each case: which top-level names
the notebook's code taints."""

from __future__ import annotations

import pytest

from grader.analysis.findings import forbidden_findings, referrers
from grader.spec.notebook import CodeCell

APIS = ["scipy.signal", "numpy.convolve"]
WRAP = "def conv2d(a, k):\n    return {}\n"


def tainted(*sources: str) -> set[str]:
    cells = [CodeCell(index=i, notebook_index=i, source=s) for i, s in enumerate(sources)]
    return set(forbidden_findings(cells, APIS)[1])


CASES = [
    ("%time from scipy.signal import correlate2d\n" + WRAP.format("correlate2d(a, k)"),),
    ("%%time\nfrom scipy.signal import correlate2d\n" + WRAP.format("correlate2d(a, k)"),),
    ("%%capture out\nimport scipy.signal as s\n" + WRAP.format("s.correlate2d(a, k)"),),
    ("%%timeit -n1 -r1\n" + WRAP.format("__import__('numpy').convolve(a, k)"),),
    ("%time import scipy.signal as s", WRAP.format("s.correlate2d(a, k)")),
    ("%timeit -n 1 -r 1 import scipy.signal as s", WRAP.format("s.correlate2d(a, k)")),
    ("import scipy.signal as s", WRAP.format("globals()['s'].correlate2d(a, k)")),
    ("import numpy as np", WRAP.format("globals().get('np').convolve(a, k)")),
    ("import numpy as np", WRAP.format("vars()['np'].convolve(a, k)")),
    (WRAP.format("locals()['__builtins__'] and __import__('numpy').convolve(a, k)"),),
    ("import sys, scipy.signal", WRAP.format("sys.modules['scipy.signal'].correlate2d(a, k)")),
    ("import pkgutil", WRAP.format("pkgutil.resolve_name('scipy.signal:correlate2d')(a, k)")),
    ("import pkgutil", WRAP.format("pkgutil.resolve_name('scipy.signal.correlate2d')(a, k)")),
    ("import operator, scipy", WRAP.format("operator.attrgetter('signal.correlate2d')(scipy)(a, k)")),
    ("from operator import attrgetter\nimport numpy", WRAP.format("attrgetter('convolve')(numpy)(a, k)")),
    ("import importlib.util",
     "def conv2d(a, k):\n    spec = importlib.util.find_spec('scipy.signal')\n"
     "    m = importlib.util.module_from_spec(spec)\n    spec.loader.exec_module(m)\n"
     "    return m.correlate2d(a, k)\n"),
    (WRAP.format("__import__('scipy.signal', fromlist=['x']).correlate2d(a, k)"),),
    (WRAP.format("a") + "x = " + "1 if a else " * 1000 + "2\n",),  # too deep: voided
]


@pytest.mark.parametrize("sources", CASES)
def test_conv2d_is_tainted(sources: tuple[str, ...]) -> None:
    assert "conv2d" in tainted(*sources)


def test_callers_of_a_too_deep_cell_are_tainted_too() -> None:
    deep = WRAP.format("a") + "x = " + "1 if a else " * 1000 + "2\n"
    assert {"conv2d", "x", "layer"} <= tainted(deep, "def layer(a, k):\n    return conv2d(a, k)\n")


@pytest.mark.parametrize("sources", [
    ("%time x = 1", WRAP.format("a")),
    ("%%time\n" + WRAP.format("a"),),
    ("%%bash\necho scipy.signal",  WRAP.format("a")),
    ("%matplotlib inline", "import scipy.signal", WRAP.format("a")),
    ("import scipy.signal as s", WRAP.format("globals()['np'].zeros(3)")),
    ("import operator", WRAP.format("operator.attrgetter('shape')(a)")),
    (WRAP.format("a") + "x = " + "1 if a else " * 200 + "2\n",),  # deep, but analysable
])
def test_clean_code_is_not_tainted(sources: tuple[str, ...]) -> None:
    assert "conv2d" not in tainted(*sources)


def test_referrers_are_the_names_whose_last_binding_refers() -> None:
    cells = [CodeCell(0, 0, WRAP.format("a")), CodeCell(1, 1, "def layer(a):\n    return conv2d(a, a)\n"),
             CodeCell(2, 2, "%%time\nmaps = layer(1)\n")]
    assert referrers(cells) == {"conv2d": ["layer"], "layer": ["maps"]}
