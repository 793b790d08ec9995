"""The plan stage: the checks run once on the reference, recording which calls every
submission answers (``Plan.probes``, hidden inputs) and the reference's answers; the
``Harness`` is what each child gets of it. The planner runs as ``python -m grader.plan``."""

from grader.plan.harness import Harness, Probe, ProbePlan, parameters_injection
from grader.plan.planner import PLAN_TIMEOUT, Plan, build_plan, make_plan, plan_id, provide_files

__all__ = ["PLAN_TIMEOUT", "Harness", "Plan", "Probe", "ProbePlan", "build_plan", "make_plan",
           "parameters_injection", "plan_id", "provide_files"]
