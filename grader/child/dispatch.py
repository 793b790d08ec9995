"""Answering one probe against a notebook's namespace: the one dispatcher behind both the
child (a student's notebook, ``grader.child.runner``) and the planner (the reference, through
``grader.checks.namespaces.LiveNamespace``), so a name the notebook does not define, or one that
is not a function, is answered the same way on both sides.

Kept to the standard library: it runs in the child.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class NotDefined(Exception):
    """The notebook does not define the name a probe asks for (recorded as ``undefined``)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not defined")
        self.name = name


def answer(namespace: Mapping[str, Any], custom: Mapping[str, Callable[..., Any]], kind: str,
           name: str, args: tuple, kwargs: dict) -> Any:
    """The value a probe asks for: ``name(*args, **kwargs)`` (kind ``call``), the variable
    ``name`` (``value``), or the assignment's probe ``name`` run on the namespace (``custom``)."""
    if kind == "custom":
        return custom[name](namespace, *args, **kwargs)
    if name not in namespace:
        raise NotDefined(name)
    target = namespace[name]
    if kind == "value":
        return target
    if not callable(target):
        raise TypeError(f"{name} is not a function (it is a {type(target).__name__})")
    return target(*args, **kwargs)


def undefined_error(exc: NotDefined) -> dict[str, str]:
    """How an undefined name is recorded, by the child and the planner alike."""
    return {"type": "NameError", "message": str(exc)}


def load_custom_probes(source: str) -> dict[str, Any]:
    """The assignment's probe helpers (instructor code) as a dict of functions."""
    namespace: dict[str, Any] = {"__name__": "grader_probes"}
    if source:
        exec(compile(source, "<assignment probes>", "exec"), namespace)  # noqa: S102
    return {k: v for k, v in namespace.items()
            if callable(v) and not k.startswith("_") and getattr(v, "__module__", "") == "grader_probes"}
