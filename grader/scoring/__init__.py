"""The scoring stage: a submission's grade from its observations (``scorer``): the checks
replayed through ``grader.checks``, their outcomes weighed by the grading policy."""
