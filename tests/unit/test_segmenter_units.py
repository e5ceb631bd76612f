"""Segmenter pieces on hand-built inputs: the elbow rule, k choice, profile numbers, names."""

from __future__ import annotations

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from customer_ml import segmenter
from customer_ml.errors import ConfigError
from customer_ml.settings import KSelectionSpec, SegmenterSettings

KS = [2, 3, 4, 5, 6]
INERTIA = [100.0, 60.0, 30.0, 26.0, 23.0]  # a sharp bend at 4


def test_elbow_is_the_point_farthest_from_the_chord() -> None:
    assert segmenter.elbow_k(KS, INERTIA) == 4
    assert segmenter.elbow_k([2, 3, 4, 5], [100.0, 40.0, 35.0, 31.0]) == 3
    assert segmenter.elbow_k([2, 3], [10.0, 5.0]) == 2


def test_k_rules() -> None:
    silhouette = [0.45, 0.40, 0.38, 0.30, 0.25]
    assert segmenter.choose_k(KS, INERTIA, silhouette, KSelectionSpec(rule="elbow")) == 4
    assert segmenter.choose_k(KS, INERTIA, silhouette, KSelectionSpec(rule="silhouette")) == 2
    assert segmenter.choose_k(KS, INERTIA, silhouette, KSelectionSpec(rule="combined", min_silhouette=0.3)) == 4
    # The elbow's silhouette is too low: the segments there are not real, take the best silhouette instead.
    assert segmenter.choose_k(KS, INERTIA, silhouette, KSelectionSpec(rule="combined", min_silhouette=0.39)) == 2
    with pytest.raises(ValueError, match="k_min"):
        KSelectionSpec(k_min=5, k_max=3)


def test_profile_numbers_are_exact(spark: SparkSession) -> None:
    frame = spark.createDataFrame(
        [(0, 1.0, 10.0), (0, 3.0, 20.0), (0, 8.0, 30.0), (1, 10.0, 40.0), (1, 20.0, None)],
        "segment_id int, a double, b double",
    )
    profiles = segmenter.segment_profiles(frame, "segment_id", ["a", "b"]).set_index(["segment_id", "feature"])
    # a: population mean 8.4, population sd sqrt(((1-8.4)^2+(3-8.4)^2+(8-8.4)^2+(10-8.4)^2+(20-8.4)^2)/5)
    sd_a = (((1 - 8.4) ** 2 + (3 - 8.4) ** 2 + (8 - 8.4) ** 2 + (10 - 8.4) ** 2 + (20 - 8.4) ** 2) / 5) ** 0.5
    a0 = profiles.loc[(0, "a")]
    assert (a0["size"], a0["share"], a0["mean"], a0["median"]) == (3, 0.6, 4.0, 3.0)
    assert a0["z_score"] == pytest.approx((4.0 - 8.4) / sd_a)
    a1 = profiles.loc[(1, "a")]
    assert (a1["size"], a1["mean"], a1["median"]) == (2, 15.0, 15.0)
    # b ignores its null: population mean 25, segment 1 mean 40 from its one value.
    b1 = profiles.loc[(1, "b")]
    assert (b1["mean"], b1["median"], b1["population_mean"]) == (40.0, 40.0, 25.0)
    assert b1["z_score"] == pytest.approx(15.0 / (125.0**0.5))


def profiles_of(z: dict[int, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"segment_id": s, "feature": f, "z_score": value} for s, row in z.items() for f, value in row.items()]
    )


def test_names_from_the_most_distinguishing_features() -> None:
    profiles = profiles_of(
        {
            0: {"savings_balance": 1.2, "purchase_frequency": -0.9, "age": 0.1},
            1: {"savings_balance": -0.2, "purchase_frequency": 1.5, "cash_advance": 0.8},
            2: {"savings_balance": 0.1, "purchase_frequency": 0.05, "age": -0.1},
        }
    )
    names = segmenter.name_segments(profiles, SegmenterSettings())
    assert names == {
        0: "High savings balance · Low purchase frequency",
        1: "High purchase frequency · High cash advance",
        2: "Typical",
    }
    assert segmenter.name_segments(profiles, SegmenterSettings()) == names  # deterministic
    renamed = segmenter.name_segments(profiles, SegmenterSettings(names={2: "Mass market"}))
    assert renamed[2] == "Mass market" and renamed[0] == names[0]
    with pytest.raises(ConfigError, match="segment ids \\[7\\] do not exist"):
        segmenter.name_segments(profiles, SegmenterSettings(names={7: "x"}))


def test_repeated_names_get_more_features_until_they_differ() -> None:
    profiles = profiles_of({0: {"a": 2.0, "b": 1.0, "c": 0.5}, 1: {"a": 2.0, "b": 1.0, "c": -0.5}})
    names = segmenter.name_segments(profiles, SegmenterSettings(name_features=2))
    assert names == {0: "High a · High b · High c", 1: "High a · High b · Low c"}
    same = profiles_of({0: {"a": 2.0}, 1: {"a": 2.0}})
    assert segmenter.name_segments(same, SegmenterSettings()) == {0: "High a", 1: "High a (2)"}


def test_segmenter_promotion_gate() -> None:
    config = SegmenterSettings()  # margin 0.02, min_ari 0.8
    assert segmenter.decide(0.30, 0.95, None, None, config).promoted
    assert segmenter.decide(0.30, 0.95, 0.31, "1", config).promoted  # not worse by more than the margin
    assert not segmenter.decide(0.28, 0.95, 0.31, "1", config).promoted
    unstable = segmenter.decide(0.50, 0.6, 0.31, "1", config)
    assert not unstable.promoted and "stability 0.600 < min_ari 0.8" in unstable.reason
