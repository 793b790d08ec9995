"""The student kit (``grader release``): what a student receives to check a notebook before
submitting, built on the instructor's machine, holding exactly what a student may see.

One zip, ``ASSIGNMENT.grader-kit.zip``, beside the stamped student notebook::

    kit.json          format, assignment, the spec's settings (questions, limits, forbidden
                      APIs, parameters, alternatives), seed, plan id, the fingerprint recorded at
                      build, the notebook's release id, every question's points (hidden checks
                      counted, never named), the sha256 of every file, and a digest of it all
    spec/checks.py    the public checks only (``shake``); checks.frozen.npz: values they use
                      that were computed from files the kit does not ship
    spec/probes.py, spec/prelude.py   as the assignment has them (every notebook's process
                      gets them at grading too)
    plan/             the public plan, made here: public probes, the reference's answers to
                      them, and home/ (the files the notebook gets under $HOME)

Not in it: the reference, hidden checks and everything only they use, hidden inputs and
answers, the assignment's other files (data builders, feedback hooks, comments of
``assignment.toml``). ``grader check`` unpacks it into a private temporary folder, which
the notebook's sandbox does not expose, and never runs a reference
(``kit.shipped_plans_only``).
"""

from grader.tools.studentkit.build import Released, release, write_kit
from grader.tools.studentkit.kit import (
    KIT_PATH,
    KIT_SUFFIX,
    StudentKit,
    find_kit,
    kit_name,
    kit_search_path,
    shipped_plans_only,
)
from grader.tools.studentkit.shake import Shaken, public_checks

__all__ = ["KIT_PATH", "KIT_SUFFIX", "Released", "Shaken", "StudentKit", "find_kit", "kit_name",
           "kit_search_path", "public_checks", "release", "shipped_plans_only", "write_kit"]
