"""Kept import path (assignments' checks, probes and preludes, and Gradescope bundles use it):
mutation testing of the checks lives in ``grader.tools.mutate``."""

from grader.tools.mutate import *  # noqa: F403
