"""A stand-in for the course's ``mitdeeplearning`` package, for grading without a network.

See ``grader/stand_ins/__init__.py`` for when it is used. ``mdl.util`` holds the loss
history, the periodic plotter and the image grid; ``mdl.lab2`` the MNIST plotting helpers of
Part 1 and the face dataset loader of Part 2. Like the course's package, importing it imports
both modules.
"""

from . import lab2, util

__all__ = ["lab2", "util"]
