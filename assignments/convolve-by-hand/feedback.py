"""Pictures in convolve-by-hand's feedback (instructor code, run in the grader's process).

Only answers to public inputs are drawn: the lecture's clean X (``X_CLEAN`` of checks.py,
the image of the public check ``test_x_feature_maps_lecture``) and ``X_FILTERS`` (the public
check ``test_x_filters``). The answers are found by the same calls those checks make, so a
change of the public check's input is followed here as long as it stays ``X_CLEAN``.
"""

from grader.feedback import GridRow

FILTERS = ["diagonal", "cross", "anti-diagonal"]


def figures(context):
    checks = context.module("checks.py")
    image = checks.X_CLEAN
    maps = context.call("x_feature_maps", image)
    filters = context.value("X_FILTERS")
    return [
        context.compare(
            "x_feature_maps on the lecture's X", "x_feature_maps", maps, FILTERS,
            caption="Your feature maps of the lecture's clean X (the public check's input) "
                    "above the expected ones: 1.0 where a 3x3 patch matches the filter exactly. "
                    "Squares outlined in red differ from the expected value.",
            extra_rows=[GridRow("input", image.astype(float), titles=["the lecture's X (9x9)"])],
        ),
        context.compare(
            "X_FILTERS", "X_FILTERS", filters, FILTERS,
            caption="Your three filters above the lecture's (+1 red, -1 blue).",
        ),
    ]
