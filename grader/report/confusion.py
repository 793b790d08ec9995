"""Confusion matrices found in the checks' messages (``true\\pred`` tables, as build-cnn's
checks note them), read back into ``Confusion`` figures."""

from __future__ import annotations

import re

import numpy as np

from grader.report.figures import Confusion
from grader.results import SubmissionResult

# --- figures from the checks' messages ----------------------------------------------------

CONFUSION_HEADER = re.compile(r"^\s*true\\pred((?:\s+\S+)+)\s*$")
ACCURACY_LINE = re.compile(r"accuracy on (\d+) ([^:]+): ([0-9.]+)")


def confusion_matrices(result: SubmissionResult) -> list[Confusion]:
    """Every distinct ``true\\pred`` table in the checks' messages (notes included)."""
    found: list[Confusion] = []
    titles = {q.id: q.title for q in result.questions}
    for check in result.checks:
        for matrix, labels, where in _parse_confusions(check.message):
            if any(np.array_equal(matrix, c.matrix) for c in found):
                continue
            question = titles.get(check.check.question, check.check.question)
            title = f"{question}: {where}" if where else question
            found.append(Confusion(title, matrix, labels,
                                   caption=f"From the check \u201c{check.check.name}\u201d"))
    return found


def _parse_confusions(message: str) -> list[tuple[np.ndarray, list[str], str]]:
    lines = (message or "").splitlines()
    tables = []
    for i, line in enumerate(lines):
        header = CONFUSION_HEADER.match(line)
        if not header:
            continue
        labels = header.group(1).split()
        rows = []
        for row in lines[i + 1: i + 1 + len(labels)]:
            parts = row.split()
            if len(parts) != len(labels) + 1 or not all(p.isdigit() for p in parts[1:]):
                break
            rows.append([int(p) for p in parts[1:]])
        if len(rows) != len(labels):
            continue
        where = ""
        for earlier in reversed(lines[:i]):
            accuracy = ACCURACY_LINE.search(earlier)
            if accuracy:
                where = f"{accuracy.group(2)}, accuracy {accuracy.group(3)}"
                break
        tables.append((np.array(rows), labels, where))
    return tables
