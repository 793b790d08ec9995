"""Plain-data encoding of values that cross the boundary with the student's process.

Everything a probe sends to the child (arguments) or gets back (results) is encoded as
JSON plus numeric arrays stored with ``np.save``-style files, and decoded with
``allow_pickle=False``. Decoding is the only door through which student data enters
the grader, so it validates structure, dtypes and sizes before anything compares it:
an object that overrides ``__eq__`` or an ndarray subclass cannot survive the trip,
because only plain numbers, strings and arrays of numeric dtype are written.

This module runs inside the child too, so it imports nothing but numpy and the stdlib.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

#: dtype kinds that may cross the wire: bool, signed, unsigned, float, complex.
NUMERIC_KINDS = frozenset("biufc")


class WireFormatError(ValueError):
    """Encoded data is malformed or over a limit (raised while decoding untrusted data)."""


@dataclass(frozen=True)
class SizeLimits:
    """Caps on what a child may send back; beyond them a value is rejected, not truncated."""

    max_array_elements: int = 10_000_000
    max_total_bytes: int = 128 * 1024 * 1024
    max_depth: int = 20
    max_items: int = 10_000
    max_string: int = 100_000
    max_members: int = 10_000  # arrays in one .npz (each costs a header to parse)


DEFAULT_LIMITS = SizeLimits()
#: What all the results of one submission may hold together: read back by the grader from the
#: child (``grader.execution.events``) and from stored observations alike, so what was written
#: can always be read again.
SUBMISSION_LIMITS = SizeLimits(max_total_bytes=2 * DEFAULT_LIMITS.max_total_bytes,
                               max_members=2 * DEFAULT_LIMITS.max_members)
#: The end record of a zip file, as ``np.savez`` writes it (no comment): its signature and size.
_END_RECORD, _END_SIZE = b"PK\x05\x06", 22
#: A directory entry of ``np.savez`` (46 bytes, the name, no extra field) is below this.
_MAX_ENTRY_BYTES = 160


class Encoder:
    """Turns a Python value into a JSON tree plus named arrays."""

    def __init__(self, prefix: str = "a") -> None:
        self.prefix = prefix
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > DEFAULT_LIMITS.max_depth:
            raise WireFormatError("value is nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value if not isinstance(value, str) else {"str": value}
        if isinstance(value, int) and type(value) in (int, bool):
            return {"int": str(value)} if abs(value) >= 2**53 else value
        if type(value) is float:
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
            items = [self.encode(v, depth + 1) for v in value]
            return {"tuple": items} if type(value) is tuple else {"list": items}
        if type(value) is dict:
            if not all(isinstance(k, str) for k in value):
                raise WireFormatError("only dicts with string keys can be sent")
            return {"dict": {k: self.encode(v, depth + 1) for k, v in value.items()}}
        return self._encode_array(value)

    def _encode_array(self, value: Any) -> Any:
        try:
            array = np.asarray(value)
        except Exception as exc:  # noqa: BLE001 - any failure means "not array-like"
            return {"unsupported": _type_name(value), "reason": _short(repr(exc))}
        if array.dtype.kind not in NUMERIC_KINDS:
            return {"unsupported": _type_name(value), "reason": f"dtype {array.dtype}"}
        key = f"{self.prefix}{len(self.arrays)}"
        self.arrays[key] = np.array(array, copy=True, subok=False)
        return {"array": key}


def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Encode ``value``; returns the JSON tree and the arrays it refers to."""
    encoder = Encoder()
    tree = encoder.encode(value)
    return tree, encoder.arrays


class Decoder:
    """Rebuilds a value from a JSON tree and arrays, enforcing ``SizeLimits``."""

    def __init__(self, arrays: dict[str, np.ndarray], limits: SizeLimits = DEFAULT_LIMITS) -> None:
        self.arrays = arrays
        self.limits = limits
        self.items = 0

    def decode(self, tree: Any, depth: int = 0) -> Any:
        self.items += 1
        if depth > self.limits.max_depth or self.items > self.limits.max_items:
            raise WireFormatError("value is nested too deeply or has too many items")
        if tree is None or isinstance(tree, bool):
            return tree
        if isinstance(tree, int) and not isinstance(tree, bool):
            return int(tree)
        if isinstance(tree, float):
            return float(tree)
        if not isinstance(tree, dict) or len(tree) not in (1, 2):
            raise WireFormatError(f"unexpected encoded node {type(tree).__name__}")
        return self._decode_tagged(tree, depth)

    def _decode_tagged(self, tree: dict, depth: int) -> Any:
        (tag,) = [k for k in tree if k != "reason"] or [None]
        body = tree.get(tag)
        if tag == "str" and isinstance(body, str):
            return body[: self.limits.max_string]
        if tag == "int" and isinstance(body, str) and len(body) < 400:
            return int(body)
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag in ("list", "tuple") and isinstance(body, list):
            items = [self.decode(v, depth + 1) for v in body]
            return tuple(items) if tag == "tuple" else items
        if tag == "dict" and isinstance(body, dict):
            return {str(k): self.decode(v, depth + 1) for k, v in body.items()}
        if tag == "array" and isinstance(body, str) and body in self.arrays:
            return self.arrays[body]
        if tag == "unsupported" and isinstance(body, str):
            return Unsupported(body[:200], str(tree.get("reason", ""))[:500])
        raise WireFormatError(f"unexpected encoded node with tag {tag!r}")


@dataclass(frozen=True)
class Unsupported:
    """Stands for a value the child could not express as plain data (e.g. a custom object)."""

    type_name: str
    reason: str = ""

    def __repr__(self) -> str:
        return f"<unsupported {self.type_name}>"


def decode(tree: Any, arrays: dict[str, np.ndarray], limits: SizeLimits = DEFAULT_LIMITS) -> Any:
    """Decode a tree produced by ``encode`` (possibly by untrusted code); any malformation
    is a WireFormatError, never another exception."""
    try:
        return Decoder(arrays, limits).decode(tree)
    except WireFormatError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise WireFormatError(f"malformed value: {type(exc).__name__}") from exc


def save_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise arrays to ``.npz`` bytes (no pickling: object arrays never get here)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types kwds oddly
    return buffer.getvalue()


def load_arrays(data: bytes, limits: SizeLimits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """Read ``.npz`` bytes from an untrusted source, checking headers before loading.

    What loading costs is bounded before it is spent: the number of members is read from the
    zip's end record before its directory is parsed (``max_members``), only stored members
    are accepted (``np.savez`` compresses nothing; a compressed member could inflate a few
    kilobytes into gigabytes), and the arrays' decompressed bytes, from their headers, count
    against ``max_total_bytes``.
    """
    _check_member_count(data, limits.max_members)
    arrays: dict[str, np.ndarray] = {}
    total = 0
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        if len(archive.infolist()) > limits.max_members:
            raise WireFormatError(f"array file of {len(archive.infolist())} members is over the "
                                  f"limit of {limits.max_members}")
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise WireFormatError("compressed result arrays are not accepted")
            with archive.open(info) as member:
                shape, dtype = _read_header(member)
                count = math.prod(shape)
                total += count * dtype.itemsize
                if count > limits.max_array_elements or total > limits.max_total_bytes:
                    raise WireFormatError(f"array of shape {shape} is over the size limit")
            with archive.open(info) as member:
                array = np.lib.format.read_array(member, allow_pickle=False)
            arrays[info.filename.removesuffix(".npy")] = _plain(array)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(f"unreadable array file: {exc}") from exc
    return arrays


def member_count(data: bytes) -> int:
    """How many members an ``.npz`` says it holds, from its end record (0 for no zip at all;
    0xFFFF for a zip64 count, over any limit here)."""
    end = data[-_END_SIZE:]
    if not end.startswith(_END_RECORD):
        return 0
    return int.from_bytes(end[10:12], "little")


def _check_member_count(data: bytes, limit: int) -> None:
    """Refuse an archive of more than ``limit`` members, from the count in its end record
    (which ``zipfile`` would only check after parsing every entry of the directory), and one
    whose directory is larger than that many entries take (``zipfile`` parses it whatever the
    count says)."""
    if not data:
        return  # not a zip: zipfile says so
    end = data[-_END_SIZE:]
    if not end.startswith(_END_RECORD):
        raise WireFormatError("unreadable array file: no end record where numpy writes it")
    members = member_count(data)
    directory = int.from_bytes(end[12:16], "little")
    if members > limit or directory > max(limit, 1) * _MAX_ENTRY_BYTES:
        raise WireFormatError(f"array file of {members} members is over the limit of {limit}")


def _read_header(member: Any) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject:
        raise WireFormatError(f"arrays of dtype {dtype} are not accepted")
    return tuple(int(s) for s in shape), dtype


def _plain(array: np.ndarray) -> np.ndarray:
    if type(array) is not np.ndarray or array.dtype.kind not in NUMERIC_KINDS:
        raise WireFormatError("not a plain numeric array")
    return array


def check_size(arrays: dict[str, np.ndarray], limits: SizeLimits = DEFAULT_LIMITS) -> None:
    """Refuse, before writing, a result that the grader would refuse when reading."""
    total = 0
    for array in arrays.values():
        total += array.nbytes
        if array.size > limits.max_array_elements or total > limits.max_total_bytes:
            raise WireFormatError(f"result of {array.size} elements ({total} bytes) is over "
                                  f"the size limit of {limits.max_array_elements} elements")


def fingerprint(tree: Any, arrays: dict[str, np.ndarray]) -> str:
    """A stable key for an encoded value: same arguments -> same key, in any process."""
    digest = hashlib.sha256(json.dumps(tree, sort_keys=True).encode())
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:24]


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
