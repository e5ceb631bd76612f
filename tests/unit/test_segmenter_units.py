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


def test_profile_numbers_are_exact_but_the_median(spark: SparkSession) -> None:
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
    # the median is percentile_approx's: a value of the data, the lower middle of an even count
    assert (a1["size"], a1["mean"], a1["median"]) == (2, 15.0, 10.0)
    # b ignores its null: population mean 25, segment 1 mean 40 from its one value.
    b1 = profiles.loc[(1, "b")]
    assert (b1["mean"], b1["median"], b1["population_mean"]) == (40.0, 40.0, 25.0)
    assert b1["z_score"] == pytest.approx(15.0 / (125.0**0.5))


def test_categorical_levels_are_profiled_as_shares(spark: SparkSession) -> None:
    frame = spark.createDataFrame(
        [
            (0, 1.0, "north"),
            (0, 2.0, "north"),
            (0, 3.0, "north"),
            (0, 6.0, "south"),
            (1, 4.0, "south"),
            (1, 5.0, None),
            (1, 8.0, "east"),
            (2, 7.0, "north"),
            (2, 9.0, None),
        ],
        "segment_id int, x double, region string",
    )
    profiles = segmenter.segment_profiles(frame, "segment_id", ["x"], ["region"], max_levels=3)
    # Population of 9: north 4, south 2, null 2, east 1; the cap of 3 levels drops east (the least frequent).
    assert sorted(profiles.loc[profiles["segment_id"] == 1, "feature"]) == [
        "region=__null__",
        "region=north",
        "region=south",
        "x",
    ]
    levels = profiles[profiles["kind"] == "categorical"].set_index(["segment_id", "feature"])
    assert set(profiles.loc[profiles["kind"] == "numeric", "feature"]) == {"x"}
    north0 = levels.loc[(0, "region=north")]
    assert (north0["size"], north0["share"]) == (4, pytest.approx(4 / 9))
    assert north0["mean"] == pytest.approx(3 / 4)
    assert north0["population_mean"] == pytest.approx(4 / 9)
    assert north0["population_sd"] == pytest.approx((4 / 9 * 5 / 9) ** 0.5)
    assert north0["z_score"] == pytest.approx((3 / 4 - 4 / 9) / (4 / 9 * 5 / 9) ** 0.5)
    assert pd.isna(north0["median"])
    # A level a segment does not have is a share of 0, not a missing row.
    north1 = levels.loc[(1, "region=north")]
    assert (north1["mean"], north1["size"]) == (0.0, 3)
    assert north1["z_score"] == pytest.approx(-(4 / 9) / (4 / 9 * 5 / 9) ** 0.5)
    # The nulls are a level: 1 of segment 2's 2 rows against 2 of 9 in the population.
    null2 = levels.loc[(2, "region=__null__")]
    assert (null2["mean"], null2["population_mean"]) == (0.5, pytest.approx(2 / 9))
    assert null2["z_score"] == pytest.approx((1 / 2 - 2 / 9) / (2 / 9 * 7 / 9) ** 0.5)
    # size and share are the segment's on every row, numeric or categorical.
    x2 = profiles.set_index(["segment_id", "feature"]).loc[(2, "x")]
    assert (x2["size"], x2["share"], x2["mean"]) == (2, pytest.approx(2 / 9), 8.0)
    assert profiles.drop_duplicates("segment_id")["share"].tolist() == pytest.approx([4 / 9, 3 / 9, 2 / 9])


def profiles_of(z: dict[int, dict[str, float]]) -> pd.DataFrame:
    """Profiles with only the columns names read; a feature "<column>=<level>" is a categorical level."""
    return pd.DataFrame(
        [
            {"segment_id": s, "feature": f, "kind": "categorical" if "=" in f else "numeric", "z_score": value}
            for s, row in z.items()
            for f, value in row.items()
        ]
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


def test_a_categorical_level_is_named_mostly_or_few() -> None:
    profiles = profiles_of(
        {
            0: {"region=north": 1.4, "savings_balance": 0.9, "region=south": -0.5},
            1: {"region=north": -1.1, "savings_balance": -0.6, "region=__null__": 0.2},
            2: {"region=__null__": 2.0, "savings_balance": 0.1},
        }
    )
    assert segmenter.name_segments(profiles, SegmenterSettings()) == {
        0: "Mostly region north · High savings balance",
        1: "Few region north · Low savings balance",
        2: "Mostly region missing",
    }


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
    first = segmenter.decide(0.50, 0.6, None, None, config)  # the first one: segments beat none
    assert (
        first.promoted and first.reason == "no champion yet, promoted although stability 0.600 < min_ari 0.8: review it"
    )
