"""Proxies of a notebook's namespace, as seen by the checks.

``student.conv2d(image, kernel)`` in a check is a *probe*: a call identified by a key
derived from its kind, name and (encoded) arguments. Two proxies exist:

- ``LiveNamespace`` calls into a namespace in the same process. The plan is made by
  running the checks once with both ``student`` and ``reference`` live on the trusted
  reference notebook; every call is recorded with its arguments and its result.
- ``ReplayNamespace`` answers from observations: the student's (computed in their
  isolated child from the recorded arguments) or the reference's (recorded in the plan).

Results always pass through the wire encoding, so a check sees the same plain types
whether it runs live or on replay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from grader import wire
from grader.authoring import ProbeMissing, StudentError, Undefined
from grader.child.dispatch import NotDefined, answer, undefined_error
from grader.child.job import Probe, ProbeKind, ProbePlan
from grader.observations import ErrorInfo, ProbeRecord


def probe_key(kind: ProbeKind, name: str, args: tuple, kwargs: dict) -> tuple[str, Any, Any, dict]:
    """Encode a probe's arguments and derive its key (stable across processes and runs)."""
    encoder = wire.Encoder(prefix="a")
    args_tree = encoder.encode(tuple(args))
    kwargs_tree = encoder.encode(dict(kwargs))
    key = wire.fingerprint([kind, name, args_tree, kwargs_tree], encoder.arrays)
    return key, args_tree, kwargs_tree, encoder.arrays


class _Namespace:
    """Attribute access returns a caller: ``ns.f(*args)`` probes function ``f``."""

    def __init__(self, label: str) -> None:
        self._label = label

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._probe("call", name, args, kwargs)

        call.__name__ = name
        return call

    def value(self, name: str) -> Any:
        """The value of a variable the notebook defines (e.g. ``X_FILTERS``)."""
        return self._probe("value", name, (), {})

    def probe(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the assignment's custom probe ``name`` against this namespace."""
        return self._probe("custom", name, args, kwargs)

    def _probe(self, kind: ProbeKind, name: str, args: tuple, kwargs: dict) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self._label} namespace>"


class LiveNamespace(_Namespace):
    """Calls a real namespace in this process, recording probes and answers."""

    def __init__(self, label: str, namespace: Mapping[str, Any],
                 custom: Mapping[str, Callable[..., Any]]) -> None:
        super().__init__(label)
        self._namespace = namespace
        self._custom = custom
        self.plan = ProbePlan()
        self.records: dict[str, ProbeRecord] = {}

    def _probe(self, kind: ProbeKind, name: str, args: tuple, kwargs: dict) -> Any:
        key, args_tree, kwargs_tree, arrays = probe_key(kind, name, args, kwargs)
        if key not in self.records:
            self._add_to_plan(key, kind, name, args_tree, kwargs_tree, arrays)
            self.records[key] = self._answer(key, kind, name, args_tree, kwargs_tree, arrays)
        return _unwrap(self.records[key], name)

    def _add_to_plan(self, key: str, kind: ProbeKind, name: str, args_tree: Any, kwargs_tree: Any,
                     arrays: dict) -> None:
        number = len(self.plan.probes)
        renamed = {old: f"p{number}_{old}" for old in arrays}
        self.plan.arrays.update({renamed[old]: array for old, array in arrays.items()})
        self.plan.probes.append(Probe(
            key=key, kind=kind, name=name,
            args=_rename(args_tree, renamed), kwargs=_rename(kwargs_tree, renamed),
        ))

    def _answer(self, key: str, kind: ProbeKind, name: str, args_tree: Any, kwargs_tree: Any,
                arrays: dict) -> ProbeRecord:
        copies = {k: v.copy() for k, v in arrays.items()}
        args, kwargs = wire.decode(args_tree, copies), wire.decode(kwargs_tree, copies)
        try:
            value = answer(self._namespace, self._custom, kind, name, args, kwargs)
            tree, result_arrays = wire.encode(value)
            return ProbeRecord(key=key, status="ok", value=wire.decode(tree, result_arrays))
        except NotDefined as exc:  # recorded as the child records it
            recorded = undefined_error(exc)
            error = ErrorInfo(type=recorded["type"], message=recorded["message"], traceback="")
            return ProbeRecord(key=key, status="undefined", error=error)
        except Exception as exc:  # noqa: BLE001 - recorded, surfaced when the check runs
            error = ErrorInfo(type=type(exc).__name__, message=str(exc), traceback="")
            return ProbeRecord(key=key, status="error", error=error)


class ReplayNamespace(_Namespace):
    """Answers probes from recorded observations; never runs anything."""

    def __init__(self, label: str, records: Mapping[str, ProbeRecord]) -> None:
        super().__init__(label)
        self._records = records

    def _probe(self, kind: ProbeKind, name: str, args: tuple, kwargs: dict) -> Any:
        key = probe_key(kind, name, args, kwargs)[0]
        record = self._records.get(key)
        if record is None:
            raise ProbeMissing(
                f"{self._label}.{name}(...) was not planned: checks must call the student with "
                "inputs that do not depend on the student's earlier answers"
            )
        return _unwrap(record, name)


def _unwrap(record: ProbeRecord, name: str) -> Any:
    if record.status == "ok":
        return _fresh(record.value)
    error = record.error or {}
    kind, message = error.get("type", "Error"), error.get("message", "")
    if record.status == "undefined":
        raise Undefined(f"{name} is not defined (did the cell that defines it run without errors?)")
    if record.status == "timeout":
        raise StudentError(f"{name} did not finish in time: {message}")
    if record.status == "not-run":
        raise StudentError(f"{name} could not be called: {message}")
    if kind == "NotImplementedError":
        raise StudentError(f"{name} is not implemented yet (it raised NotImplementedError)")
    where = f"\n{error['traceback']}" if error.get("traceback") else ""
    raise StudentError(f"{name} raised {kind}: {message}{where}")


def _fresh(value: Any) -> Any:
    """A copy of recorded arrays, so a check that modifies a result cannot alter the record."""
    if hasattr(value, "copy") and hasattr(value, "dtype"):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_fresh(v) for v in value)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def _rename(tree: Any, renamed: dict[str, str]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"array"} and isinstance(tree["array"], str) and tree["array"] in renamed:
            return {"array": renamed[tree["array"]]}
        return {k: _rename(v, renamed) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_rename(v, renamed) for v in tree]
    return tree
