"""Static analysis of submitted code: the forbidden APIs it reaches (``forbidden``), and
what the grader records of them for each submission (``findings``)."""
