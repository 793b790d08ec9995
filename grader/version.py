"""The grader's version: a leaf module, so whatever records or compares it (run.json, the
observation cache, a cluster's workers, the CLI) imports it without importing the package's
``__init__`` back through the pipeline."""

__version__ = "0.1.0"
