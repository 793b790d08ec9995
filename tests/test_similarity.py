"""grader similarity: renamed and reordered copies rank first; given code makes nobody similar.

Submissions are built from the released notebook with each function's body written in: one
student's loops (A), A again with every variable renamed and the cells in another order
(A-renamed), and an independent vectorised solution (C). The shipped examples (the
reference, partly correct, scipy...) take part as the rest of the class. Nothing runs: the
comparison reads code only.
"""

from __future__ import annotations

import csv
import io
import re

import nbformat
import pytest

from grader.spec import load_assignment
from grader.tools.similarity import compare, csv_text, matches, normalised_tokens, side_by_side, table, write
from tests.conftest import EXAMPLES

BLANK = "    # YOUR CODE HERE\n    raise NotImplementedError()"

STUDENT_A = {
    "output_size": """
    span = n + 2 * padding - k
    return span // stride + 1
""",
    "conv2d": """
    img = np.pad(np.asarray(image, dtype=np.float64), padding)
    ker = np.asarray(kernel, dtype=np.float64)
    kh, kw = ker.shape
    rows = (img.shape[0] - kh) // stride + 1
    cols = (img.shape[1] - kw) // stride + 1
    result = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            window = img[r * stride:r * stride + kh, c * stride:c * stride + kw]
            result[r, c] = np.sum(window * ker)
    return result
""",
    "x_feature_maps": """
    planes = []
    for idx in range(3):
        planes.append(conv2d(image, X_FILTERS[:, :, idx]) / 9.0)
    return np.dstack(planes)
""",
    "conv_layer": """
    arr = np.asarray(x, dtype=np.float64)
    depth = filters.shape[3]
    outputs = []
    for d in range(depth):
        total = biases[d]
        for ch in range(arr.shape[2]):
            total = total + conv2d(arr[:, :, ch], filters[:, :, ch, d], stride=stride)
        outputs.append(total)
    return np.stack(outputs, axis=2)
""",
    "relu": """
    arr = np.array(x, dtype=float)
    arr[arr < 0] = 0.0
    return arr
""",
    "max_pool2d": """
    arr = np.asarray(x, dtype=np.float64)
    height = (arr.shape[0] - pool_size) // stride + 1
    width = (arr.shape[1] - pool_size) // stride + 1
    pooled = np.zeros((height, width) + arr.shape[2:])
    for r in range(height):
        for c in range(width):
            block = arr[r * stride:r * stride + pool_size, c * stride:c * stride + pool_size]
            pooled[r, c] = block.max(axis=(0, 1))
    return pooled
""",
    "softmax": """
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
""",
}

RENAMES = {"img": "padded_image", "ker": "filt", "kh": "fh", "kw": "fw", "rows": "out_h",
           "cols": "out_w", "result": "output", "window": "patch", "planes": "maps", "idx": "f",
           "arr": "data", "depth": "n_filters", "outputs": "layers", "total": "acc", "ch": "channel",
           "height": "ph", "width": "pw", "pooled": "res", "block": "region", "shifted": "stable",
           "span": "room", "z": "scores", "e": "exps"}

STUDENT_C = {
    "output_size": "\n    return int((n - k + 2 * padding) / stride) + 1\n",
    "conv2d": """
    from numpy.lib.stride_tricks import sliding_window_view
    padded = np.pad(np.asarray(image, float), ((padding, padding), (padding, padding)))
    views = sliding_window_view(padded, np.shape(kernel))[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", views, np.asarray(kernel, float))
""",
    "x_feature_maps": """
    return np.stack([conv2d(image, X_FILTERS[..., i]) for i in range(X_FILTERS.shape[2])], -1) / 9
""",
    "conv_layer": """
    maps = [sum(conv2d(x[..., c], filters[..., c, d], stride) for c in range(x.shape[-1])) + biases[d]
            for d in range(filters.shape[-1])]
    return np.stack(maps, axis=-1).astype(float)
""",
    "relu": "\n    return np.where(np.asarray(x) > 0, x, 0)\n",
    "max_pool2d": """
    from numpy.lib.stride_tricks import sliding_window_view
    views = sliding_window_view(np.asarray(x, float), (pool_size, pool_size), axis=(0, 1))
    return views[::stride, ::stride].max(axis=(-2, -1))
""",
    "softmax": """
    logits = np.asarray(logits, dtype=np.float64)
    top = np.max(logits, axis=-1, keepdims=True)
    return np.exp(logits - top) / np.sum(np.exp(logits - top), axis=-1, keepdims=True)
""",
}


def write_student(folder, name, bodies, renames=None, reorder=False):
    notebook = nbformat.read(str(EXAMPLES / "untouched.ipynb"), as_version=4)
    for cell in notebook.cells:
        for function, body in bodies.items():
            if cell.cell_type == "code" and f"def {function}(" in cell.source:
                assert BLANK in cell.source
                code = body
                for old, new in (renames or {}).items():
                    code = re.sub(rf"\b{old}\b", new, code)
                cell.source = cell.source.replace(BLANK, code.strip("\n"))
    if reorder:  # the function cells in reverse order, then the rest
        functions = [c for c in notebook.cells if c.cell_type == "code" and "def " in c.source]
        others = [c for c in notebook.cells if c not in functions]
        notebook.cells = functions[::-1] + others
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, str(path))
    return path


@pytest.fixture(scope="module")
def spec():
    return load_assignment("convolve-by-hand")


@pytest.fixture(scope="module")
def report(spec, tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    write_student(folder, "student-a", STUDENT_A)
    write_student(folder, "student-a-renamed", STUDENT_A, RENAMES, reorder=True)
    write_student(folder, "student-c", STUDENT_C)
    return compare(spec, [folder, EXAMPLES])


def pair_names(pair):
    return frozenset((pair.a.name, pair.b.name))


def test_renamed_reordered_copy_ranks_first(report):
    top = report.pairs[0]
    assert pair_names(top) == {"student-a", "student-a-renamed"}
    assert top.score > 0.9
    others = [p.score for p in report.pairs[1:]]
    assert not others or max(others) < 0.3, [(sorted(pair_names(p)), p.score) for p in report.pairs]


def test_independent_solution_is_not_similar(report):
    for pair in report.pairs:
        if "student-c" in pair_names(pair):
            assert pair.score < 0.3


def test_given_code_alone_makes_nobody_similar(spec, tmp_path):
    untouched = EXAMPLES / "untouched.ipynb"
    (tmp_path / "one.ipynb").write_bytes(untouched.read_bytes())
    (tmp_path / "two.ipynb").write_bytes(untouched.read_bytes())
    (tmp_path / "ref-copy.ipynb").write_bytes((EXAMPLES / "reference.ipynb").read_bytes())
    (tmp_path / "ref-copy-2.ipynb").write_bytes((EXAMPLES / "reference.ipynb").read_bytes())
    result = compare(spec, [tmp_path])
    assert result.pairs == []
    assert all(len(s.places) == 0 for s in result.submissions)


def test_csv_ranks_pairs(report, tmp_path):
    rows = list(csv.DictReader(io.StringIO(csv_text(report))))
    assert rows[0]["rank"] == "1"
    assert {rows[0]["a"], rows[0]["b"]} == {"student-a", "student-a-renamed"}
    assert float(rows[0]["similarity"]) >= float(rows[-1]["similarity"])
    written = write(report, tmp_path / "out")
    assert [p.name for p in written] == ["similarity.csv", "similarity.html"]
    page = written[1].read_text()
    assert "<mark>" in page and "student-a-renamed" in page


def test_shared_code_side_by_side(report):
    top = report.pairs[0]
    found = matches(top)
    labels = {(m.a_unit.label.split(" (")[0], m.b_unit.label.split(" (")[0]) for m in found}
    assert ("def conv2d", "def conv2d") in labels
    conv = next(m for m in found if m.a_unit.label.startswith("def conv2d"))
    a_text = "\n".join(conv.a_unit.lines[i] for i in sorted(conv.a_lines))
    b_text = "\n".join(conv.b_unit.lines[i] for i in sorted(conv.b_lines))
    assert "window * ker" in a_text + b_text or "patch * filt" in a_text + b_text
    from rich.console import Console

    console = Console(width=160, record=True)
    console.print(table(report))
    for shown in side_by_side(top):
        console.print(shown)
    text = console.export_text()
    assert "student-a-renamed" in text and "patch * filt" in text


def test_normalisation_survives_renames_and_formatting():
    one = "def f(a, b):\n    total = 0\n    for i in range(a):\n        total += i * b\n    return total\n"
    two = ("def g(x,y):\n    # accumulate\n    s=0\n    for k in range(x):\n        s += k*y\n"
           "    return s\n")
    other = "def f(a, b):\n    return sum(i * b for i in range(a))\n"
    assert normalised_tokens(one) == normalised_tokens(two)
    assert normalised_tokens(one) != normalised_tokens(other)
