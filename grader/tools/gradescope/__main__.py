"""``python -m grader.tools.gradescope run-autograder|setup|verify ...``: the bundle's scripts."""

import sys

from grader.tools.gradescope.container import main

sys.exit(main(sys.argv[1:]))
