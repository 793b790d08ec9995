"""Seconds the forbidden-API analysis takes on a 5,000-line notebook (median of 5 runs).

Prints figures only; the tests check the analysis's results on the same input, not its speed.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.analysis.forbidden import find_forbidden_uses, tainted_scopes  # noqa: E402
from tests.test_forbidden import FORBIDDEN, _big_notebook  # noqa: E402


def main() -> None:
    sources = _big_notebook(5000)
    find, taint = [], []
    for _ in range(5):
        started = time.process_time()
        uses = find_forbidden_uses(sources, FORBIDDEN)
        find.append(time.process_time() - started)
        started = time.process_time()
        tainted_scopes(sources, uses)
        taint.append(time.process_time() - started)
    print(f"5,000 lines: find_forbidden_uses {statistics.median(find):.3f} s CPU, "
          f"tainted_scopes {statistics.median(taint):.3f} s CPU (median of 5)")


if __name__ == "__main__":
    main()
