"""CSV text that a spreadsheet opens as data, never as formulas.

Every CSV the grader writes (gradebook.csv, LMS exports, mutants.csv, similarity.csv) holds
text a student chose: a file name, a notebook path, an error message. Excel, LibreOffice and
Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` (also after
spaces, or after a tab or carriage return) as a formula, so a submission named
``=HYPERLINK(...).ipynb`` would put a live link into the instructor's gradebook (OWASP: CSV
injection). Text cells that could start a formula get a leading ``'``; numbers the grader
formats itself are left alone, so ``-1.5`` stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralise(cell: str) -> str:
    """``cell`` made safe to open in a spreadsheet: a leading ``'`` when it would start a
    formula (``=``, ``+``, ``-``, ``@``, tab, carriage return, NUL, also after spaces)."""
    if cell.startswith(FORMULA_START) or cell.lstrip(" ").startswith(FORMULA_START):
        return "'" + cell
    return cell


def csv_text(rows: Iterable[Sequence[object]], lineterminator: str = "\r\n") -> str:
    """The rows as CSV; every ``str`` cell neutralised, numbers written as they are."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    for row in rows:
        writer.writerow([neutralise(cell) if isinstance(cell, str) else cell for cell in row])
    return buffer.getvalue()
