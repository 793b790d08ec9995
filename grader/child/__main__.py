"""Entry point of the child: ``python -I -m grader.child JOB.json``."""

import sys

from grader.child.runner import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
