"""Kept import path (assignments' checks, probes and preludes, and Gradescope bundles use it):
running one notebook in an isolated child lives in ``grader.execution.executor``."""

from grader.execution.executor import *  # noqa: F403
