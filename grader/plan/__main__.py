"""The planner process: ``python -m grader.plan ASSIGNMENT_FOLDER SEED OUT all|public [answers]``."""

import sys

from grader.plan.planner import main

sys.exit(main(sys.argv[1:]))
