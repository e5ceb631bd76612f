"""Plot helpers that decide what is drawn."""

from __future__ import annotations

import pandas as pd

from customer_ml import reports


def test_heatmap_keeps_the_most_distinguishing_features_in_their_order() -> None:
    z = pd.DataFrame(
        {"a": [0.1, -0.2], "b=x": [2.0, 0.0], "b=y": [0.3, None], "c": [-0.5, 1.5], "d": [0.4, -0.4]},
        index=["0: A", "1: B"],
    )
    # Largest |z| per column: a 0.2, b=x 2.0, b=y 0.3, c 1.5, d 0.4 (a missing z counts as 0).
    assert list(reports.strongest_columns(z, 3).columns) == ["b=x", "c", "d"]
    assert list(reports.strongest_columns(z, 10).columns) == ["a", "b=x", "b=y", "c", "d"]
