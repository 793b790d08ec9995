"""The classic mistakes of build-cnn, as code (read by the feedback, never graded).
See "Known mistakes" in docs/authoring.md."""

import numpy as np

from grader.authoring import mistake_seen


@mistake_seen("cnn_architecture", "build_cnn_model", says=(
    "build_cnn_model's last layer gives logits, not probabilities: its outputs are negative or "
    "their rows do not sum to 1. Give the last Dense(10) activation='softmax'; without it, a "
    "loss that expects probabilities learns nothing."))
def logits_not_probabilities(answer, expected, *inputs):
    output = np.asarray(answer.get("output") if isinstance(answer, dict) else None, dtype=np.float64)
    if output.ndim != 2 or output.shape[-1] != 10:
        return False
    return bool(output.min() < -1e-6 or not np.allclose(output.sum(axis=1), 1.0, atol=1e-3))
