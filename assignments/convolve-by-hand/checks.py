"""Checks of convolve-by-hand (20 points).

Hidden inputs are drawn from ``rng`` (fresh each run, reproducible with --seed); the case
shapes below are fixed so feedback can name the failing case. The reference answers the
same calls in the grader, never in the student's process.
"""

import numpy as np
import pytest

from grader.authoring import assert_close, assert_integer, check, describe

# The lecture's 9x9 images of "X or X?": a clean X and a shifted, deformed one.
X_CLEAN = np.array([
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, -1, -1, 1, -1, 1, -1, -1, -1],
    [-1, -1, -1, -1, 1, -1, -1, -1, -1],
    [-1, -1, -1, 1, -1, 1, -1, -1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
])
X_DEFORMED = np.array([
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
    [-1, -1, -1, -1, -1, -1, 1, -1, -1],
    [-1, 1, -1, -1, -1, 1, -1, -1, -1],
    [-1, -1, 1, 1, -1, 1, -1, -1, -1],
    [-1, -1, -1, -1, 1, -1, -1, -1, -1],
    [-1, -1, -1, 1, -1, 1, 1, -1, -1],
    [-1, -1, -1, 1, -1, -1, -1, 1, -1],
    [-1, -1, 1, -1, -1, -1, -1, -1, -1],
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
])


def call_text(name, *args, **kwargs):
    parts = [describe(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def ids(cases):
    return ["-".join(f"{k}{v}" for k, v in case.items()) for case in cases]


# --- output_size -------------------------------------------------------------------------

OUTPUT_SIZE_CASES = [
    (5, 3, 1, 0), (28, 3, 1, 0), (7, 3, 2, 0), (10, 3, 3, 0), (11, 4, 3, 2), (6, 5, 1, 1),
    (9, 1, 1, 0), (9, 9, 1, 0), (8, 2, 2, 0), (13, 5, 4, 2), (4, 4, 3, 1), (32, 7, 2, 3),
]


@check("output_size", points=2)
@pytest.mark.parametrize("n, k, stride, padding", OUTPUT_SIZE_CASES)
def test_output_size(student, reference, n, k, stride, padding):
    """output_size counts the filter positions along one axis"""
    got = student.output_size(n, k, stride=stride, padding=padding)
    expected = reference.output_size(n, k, stride=stride, padding=padding)
    assert_integer(got, expected, f"output_size({n}, {k}, stride={stride}, padding={padding})")


# --- conv2d ------------------------------------------------------------------------------

def conv2d_case(student, reference, image, kernel, float_result=False, **kwargs):
    got = student.conv2d(image, kernel, **kwargs)
    expected = reference.conv2d(image, kernel, **kwargs)
    what = call_text("conv2d", image, kernel, **kwargs)
    assert_close(got, expected, what, float_result=float_result)


@check("conv2d", points=1, public=True)
def test_conv2d_lecture_example(student, reference):
    """conv2d on the notebook's 5x5 example"""
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=float)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=float)
    conv2d_case(student, reference, image, kernel)


CONV_BASIC = [dict(h=6, w=6, kh=3, kw=3), dict(h=7, w=10, kh=3, kw=2), dict(h=12, w=5, kh=2, kw=4)]


@check("conv2d", points=1)
@pytest.mark.parametrize("case", CONV_BASIC, ids=ids(CONV_BASIC))
def test_conv2d_hidden(student, reference, rng, case):
    """conv2d slides without flipping the kernel (hidden, non-symmetric kernels)"""
    image = rng.normal(size=(case["h"], case["w"]))
    kernel = rng.normal(size=(case["kh"], case["kw"]))
    conv2d_case(student, reference, image, kernel)


CONV_STRIDE = [dict(h=7, w=9, kh=3, kw=3, s=2), dict(h=10, w=8, kh=3, kw=2, s=3),
               dict(h=9, w=9, kh=2, kw=2, s=2), dict(h=11, w=6, kh=4, kw=3, s=3)]


@check("conv2d", points=1)
@pytest.mark.parametrize("case", CONV_STRIDE, ids=ids(CONV_STRIDE))
def test_conv2d_stride(student, reference, rng, case):
    """conv2d with stride 2 and 3"""
    image = rng.normal(size=(case["h"], case["w"]))
    kernel = rng.normal(size=(case["kh"], case["kw"]))
    conv2d_case(student, reference, image, kernel, stride=case["s"])


CONV_PADDING = [dict(h=5, w=5, kh=3, kw=3, p=1, s=1), dict(h=6, w=8, kh=3, kw=3, p=2, s=1),
                dict(h=7, w=7, kh=3, kw=3, p=1, s=2), dict(h=8, w=5, kh=5, kw=2, p=2, s=3)]


@check("conv2d", points=1)
@pytest.mark.parametrize("case", CONV_PADDING, ids=ids(CONV_PADDING))
def test_conv2d_padding(student, reference, rng, case):
    """conv2d with zero padding 1 and 2"""
    image = rng.normal(size=(case["h"], case["w"]))
    kernel = rng.normal(size=(case["kh"], case["kw"]))
    conv2d_case(student, reference, image, kernel, stride=case["s"], padding=case["p"])


@check("conv2d", points=1)
@pytest.mark.parametrize("case", ["kernel-1x1", "kernel-as-large-as-image", "integer-inputs"])
def test_conv2d_edge_cases(student, reference, rng, case):
    """conv2d edge cases"""
    if case == "kernel-1x1":
        image, kernel = rng.normal(size=(6, 4)), rng.normal(size=(1, 1))
        conv2d_case(student, reference, image, kernel)
    elif case == "kernel-as-large-as-image":
        image, kernel = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
        conv2d_case(student, reference, image, kernel)
    else:
        image = rng.integers(-5, 6, size=(6, 7))
        kernel = rng.integers(-2, 3, size=(3, 2))
        conv2d_case(student, reference, image, kernel, float_result=True)


# --- conv_layer --------------------------------------------------------------------------

def conv_layer_case(student, reference, rng, h, w, c, kh, kw, d, stride=1):
    x = rng.normal(size=(h, w, c))
    filters = rng.normal(size=(kh, kw, c, d))
    biases = rng.normal(size=(d,))
    got = student.conv_layer(x, filters, biases, stride=stride)
    expected = reference.conv_layer(x, filters, biases, stride=stride)
    assert_close(got, expected, call_text("conv_layer", x, filters, biases, stride=stride))


LAYER_CASES = [dict(h=8, w=8, c=3, kh=3, kw=3, d=4), dict(h=9, w=7, c=2, kh=2, kw=3, d=5)]


@check("conv_layer", points=2)
@pytest.mark.parametrize("case", LAYER_CASES, ids=ids(LAYER_CASES))
def test_conv_layer(student, reference, rng, case):
    """conv_layer sums over channels and adds one bias per filter"""
    conv_layer_case(student, reference, rng, **case)


LAYER_STRIDE = [dict(h=9, w=9, c=3, kh=3, kw=3, d=2, stride=2),
                dict(h=10, w=8, c=1, kh=2, kw=2, d=3, stride=3)]


@check("conv_layer", points=1)
@pytest.mark.parametrize("case", LAYER_STRIDE, ids=ids(LAYER_STRIDE))
def test_conv_layer_stride(student, reference, rng, case):
    """conv_layer with stride"""
    conv_layer_case(student, reference, rng, **case)


LAYER_EDGE = [dict(h=5, w=6, c=4, kh=1, kw=1, d=2), dict(h=4, w=4, c=2, kh=4, kw=4, d=3)]


@check("conv_layer", points=1)
@pytest.mark.parametrize("case", LAYER_EDGE, ids=ids(LAYER_EDGE))
def test_conv_layer_edge_cases(student, reference, rng, case):
    """conv_layer with 1x1 filters and filters as large as the input"""
    conv_layer_case(student, reference, rng, **case)


# --- relu --------------------------------------------------------------------------------

@check("relu", points=1)
@pytest.mark.parametrize("shape", [(10,), (4, 5), (3, 4, 2)], ids=["1d", "2d", "3d"])
def test_relu(student, reference, rng, shape):
    """relu zeroes the negative entries and keeps the shape"""
    x = rng.normal(size=shape)
    assert_close(student.relu(x), reference.relu(x), call_text("relu", x))


# --- max_pool2d --------------------------------------------------------------------------

POOL_CASES = [
    dict(h=4, w=4), dict(h=6, w=8), dict(h=7, w=7),
    dict(h=6, w=6, d=3), dict(h=8, w=5, d=2),
    dict(h=7, w=9, pool=3, stride=1), dict(h=9, w=9, pool=3, stride=3, d=2),
]


@check("max_pool2d", points=3)
@pytest.mark.parametrize("case", POOL_CASES, ids=ids(POOL_CASES))
def test_max_pool2d(student, reference, rng, case):
    """max_pool2d over (H, W) and (H, W, D) inputs"""
    shape = (case["h"], case["w"]) + ((case["d"],) if "d" in case else ())
    x = rng.normal(size=shape)
    kwargs = {k: case[k] for k in ("pool", "stride") if k in case}
    kwargs = {("pool_size" if k == "pool" else k): v for k, v in kwargs.items()}
    got = student.max_pool2d(x, **kwargs)
    expected = reference.max_pool2d(x, **kwargs)
    assert_close(got, expected, call_text("max_pool2d", x, **kwargs))


# --- softmax -----------------------------------------------------------------------------

# float32 logits, as a Keras model outputs them: the docstring asks for a float64 result, so a
# softmax that skips the float64 conversion (and computes in float32) fails this case.
@check("softmax", points=1)
@pytest.mark.parametrize("shape, dtype", [((10,), "float64"), ((4, 10), "float64"),
                                          ((2, 3, 5), "float64"), ((4, 10), "float32")],
                         ids=["1d", "2d", "3d", "2d-float32"])
def test_softmax(student, reference, rng, shape, dtype):
    """softmax over the last axis of moderate logits, as float64"""
    logits = (rng.normal(size=shape) * 3).astype(dtype)
    got = student.softmax(logits)
    what = call_text("softmax", logits)
    assert_close(got, reference.softmax(logits), what, float_result=True)
    assert np.asarray(got).dtype == np.float64, \
        f"{what}: expected a float64 array as the docstring asks, got {np.asarray(got).dtype}"


# rows-far-apart: each row must be shifted by its own maximum; subtracting the maximum of the
# whole array (np.max without axis) leaves the low rows as exp(-2000) / exp(-2000) = nan.
@check("softmax", points=1)
@pytest.mark.parametrize("case", ["logits-near-1000", "1000-classes-wide-range", "rows-far-apart"])
def test_softmax_stable(student, reference, rng, case):
    """softmax stays finite for large logits"""
    if case == "logits-near-1000":
        logits = rng.normal(size=(4, 10)) * 5 + 1000
    elif case == "1000-classes-wide-range":
        logits = rng.normal(size=(3, 1000)) * 400
    else:
        logits = rng.normal(size=(4, 10)) * 5 + np.array([[0.0], [1000.0], [-1000.0], [500.0]])
    got = student.softmax(logits)
    assert_close(got, reference.softmax(logits), call_text("softmax", logits))


# --- the X or X case study ---------------------------------------------------------------

@check("x_filters", points=1, public=True)
def test_x_filters(student, reference):
    """X_FILTERS holds the lecture's diagonal, cross and anti-diagonal filters, index last"""
    assert_close(student.value("X_FILTERS"), reference.value("X_FILTERS"), "X_FILTERS")


@check("x_feature_maps", points=1, public=True)
def test_x_feature_maps_lecture(student, reference):
    """x_feature_maps on the lecture's clean X"""
    got = student.x_feature_maps(X_CLEAN)
    assert_close(got, reference.x_feature_maps(X_CLEAN), "x_feature_maps(lecture's X)")


@check("x_feature_maps", points=1)
@pytest.mark.parametrize("case", ["deformed-x", "random-1", "random-2"])
def test_x_feature_maps_hidden(student, reference, rng, case):
    """x_feature_maps on a deformed X and random +1/-1 images"""
    image = X_DEFORMED if case == "deformed-x" else rng.choice([-1, 1], size=(9, 9))
    got = student.x_feature_maps(image)
    assert_close(got, reference.x_feature_maps(image), f"x_feature_maps({case} image)")
