"""The wire format: what crosses from the child is plain data, validated before use."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from grader import wire


def roundtrip(value):
    tree, arrays = wire.encode(value)
    return wire.decode(tree, wire.load_arrays(wire.save_arrays(arrays)))


@pytest.mark.parametrize("value", [
    None, True, 3, -2**70, 1.5, "text", [1, "a"], (1, 2), {"k": [1.0, None]},
    float("nan"), float("inf"),
])
def test_plain_values_roundtrip(value):
    got = roundtrip(value)
    if isinstance(value, float) and value != value:
        assert got != got
    else:
        assert got == value and type(got) is type(value)


def test_arrays_roundtrip_as_plain_ndarrays():
    class Sub(np.ndarray):
        pass

    value = {"a": np.arange(6.0).reshape(2, 3).view(Sub), "b": np.int64(7), "c": np.bool_(True)}
    got = roundtrip(value)
    assert type(got["a"]) is np.ndarray and got["a"].shape == (2, 3)
    assert got["b"].dtype == np.int64 and int(got["b"]) == 7


def test_objects_become_unsupported_markers():
    class Liar:
        def __eq__(self, other):
            return True

    got = roundtrip([Liar(), np.array(["a", "b"])])
    assert all(isinstance(g, wire.Unsupported) for g in got)


def test_object_arrays_in_an_npz_are_refused():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a0.npy", buffer.getvalue())
    with pytest.raises(wire.WireFormatError, match="not accepted"):
        wire.load_arrays(archive.getvalue())


def test_oversized_arrays_are_refused_before_loading():
    data = wire.save_arrays({"a0": np.zeros(1000)})
    with pytest.raises(wire.WireFormatError, match="size limit"):
        wire.load_arrays(data, wire.SizeLimits(max_array_elements=10))


@pytest.mark.parametrize("tree", [
    "bare string", {"array": "missing"}, {"weird": 1}, {"int": "1" * 1000}, [1, 2],
    {"float": "1e999"},
])
def test_malformed_trees_are_refused(tree):
    with pytest.raises(wire.WireFormatError):
        wire.decode(tree, {})


def test_deep_nesting_is_refused():
    tree = 1
    for _ in range(100):
        tree = {"list": [tree]}
    with pytest.raises(wire.WireFormatError):
        wire.decode(tree, {})


def test_garbage_npz_is_refused():
    with pytest.raises(wire.WireFormatError):
        wire.load_arrays(b"PK\x03\x04 not really a zip")


def test_fingerprint_depends_on_values_and_dtypes():
    a = wire.encode((np.arange(3),))
    b = wire.encode((np.arange(3.0),))
    c = wire.encode((np.arange(3),))
    assert wire.fingerprint(*a) == wire.fingerprint(*c) != wire.fingerprint(*b)
