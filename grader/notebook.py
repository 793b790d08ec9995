"""Kept import path (assignments' checks, probes and preludes, and Gradescope bundles use it):
reading a notebook's code cells lives in ``grader.spec.notebook``."""

from grader.spec.notebook import *  # noqa: F403
