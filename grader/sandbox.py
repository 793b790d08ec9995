"""Kept import path (assignments' checks, probes and preludes, and Gradescope bundles use it):
isolation lives in ``grader.execution.sandbox``."""

from grader.execution.sandbox import *  # noqa: F403
from grader.execution.sandbox import describe_sandbox as describe  # noqa: F401 - its old name
