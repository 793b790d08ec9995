"""Taint: what each name of the notebook reaches, given what some names hold and which names
refer to which.

One implementation for every caller: ``grader.analysis.forbidden.tainted_scopes`` spreads
uses over the analyser's graph of top-level defs (which def names which), and
``grader.analysis.findings`` spreads them, then the reasons a name earns nothing, over the
names' last bindings. A name reaches what it holds itself and what every name it refers to
reaches, directly or through others; cycles are harmless.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


def referrers(refers_to: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """For each name referred to, the names that refer to it (itself left out), in the order
    of ``refers_to``."""
    found: dict[str, list[str]] = {}
    for name, names in refers_to.items():
        for other in sorted(set(names) - {name}):
            found.setdefault(other, []).append(name)
    return found


def and_referrers(names: Iterable[str], referred_by: Mapping[str, Iterable[str]]) -> list[str]:
    """``names`` and every name that refers to one of them, transitively, breadth first."""
    found = list(dict.fromkeys(names))
    seen = set(found)
    for name in found:  # grows while iterating
        for other in referred_by.get(name, ()):
            if other not in seen:
                seen.add(other)
                found.append(other)
    return found


def spread(refers_to: Mapping[str, Iterable[str]], held: Mapping[str, Iterable[T]],
           first: Iterable[str] = ()) -> dict[str, set[T]]:
    """What each name reaches: the items of ``held`` given to their name and to every name that
    refers to it, transitively. Names that reach nothing are left out. The order is the one a
    spread pass after pass over ``refers_to`` gives, from ``first`` and the names in ``held``:
    theirs first, then each name as a pass finds it referring to one already reached."""
    referred_by = referrers(refers_to)
    reached: dict[str, set[T]] = {}
    for name, items in held.items():
        for other in and_referrers([name], referred_by):
            reached.setdefault(other, set()).update(items)
    order = _pass_order(refers_to, [*first, *held])
    return {name: reached[name] for name in order if reached.get(name)}


def _pass_order(refers_to: Mapping[str, Iterable[str]], start: Iterable[str]) -> list[str]:
    """``start``, then the names of ``refers_to`` in the order passes over it reach them."""
    order = list(dict.fromkeys(start))
    present = set(order)
    changed = True
    while changed:
        changed = False
        for name, names in refers_to.items():
            if name not in present and any(other in present for other in names if other != name):
                present.add(name)
                order.append(name)
                changed = True
    return order
