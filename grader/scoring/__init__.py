"""The scoring stage: the checks replayed in the grader's process on a submission's
observations (``scorer``), through namespaces that answer from records (``proxy``)."""
