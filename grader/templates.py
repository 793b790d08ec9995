"""Kept entry point of Gradescope bundles built before the package's layout:
``python -m grader.templates run-autograder ...`` runs ``grader.tools.gradescope``."""

import sys

from grader.tools.gradescope import *  # noqa: F403
from grader.tools.gradescope import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
