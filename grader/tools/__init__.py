"""Instructor and student tools built on the pipeline: ``check`` (a student's public checks),
``mutate`` (how strong are the checks), ``similarity``, ``merge`` (shards of a CI matrix),
``ci_template`` (GitHub Actions) and ``gradescope`` (the autograder bundle)."""
