"""The checks' runtime: an assignment's pytest checks run against two namespaces, ``student``
and ``reference``, in the grader's process (``session``), and those namespaces (``namespaces``):
live on the reference notebook while planning, replayed from records while scoring. Both the
planner (``grader.plan``) and the scorer (``grader.scoring``) run the checks through it; what
the outcomes are worth is the scorer's business."""

from grader.checks.namespaces import LiveNamespace, ReplayNamespace, probe_key
from grader.checks.session import (
    CheckRun,
    ChecksPlugin,
    ChecksSession,
    Selection,
    collect_checks,
    derive_seed,
    run_checks,
)

__all__ = ["CheckRun", "ChecksPlugin", "ChecksSession", "LiveNamespace", "ReplayNamespace",
           "Selection", "collect_checks", "derive_seed", "probe_key", "run_checks"]
