"""A stand-in for the course's `mitdeeplearning` package, for grading without a network.

The course's notebooks start with `!pip install mitdeeplearning` (not run when grading) and
`import mitdeeplearning as mdl`. The grader places this package under the notebook's home
and puts it first on sys.path (see prelude.py), so an unmodified course notebook imports it:
`mdl.lab2.TrainingDatasetLoader` reads the provided train_face.h5 as the course's does,
`mdl.lab2.get_test_faces()` returns public sample faces of the four groups, and the plotting
helpers draw nothing (grading has no screen).
"""

from . import lab2, util

__all__ = ["lab2", "util"]
