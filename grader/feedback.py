"""Kept import path (assignments' checks, probes and preludes, and Gradescope bundles use it):
the feedback pages and their figures lives in ``grader.report.feedback``."""

from grader.report.feedback import *  # noqa: F403
