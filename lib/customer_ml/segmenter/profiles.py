"""Segment profiles (numeric features: mean, median, z; categorical levels: shares and z) and segment names.

Pure over a DataFrame of (segment id, feature columns): one aggregation per kind of feature, results as pandas.
"""

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_ml import features
from customer_ml.columns import SEGMENT_ID
from customer_ml.errors import ConfigError
from customer_ml.settings import SegmenterSettings

logger = logging.getLogger(__name__)


PROFILE_COLUMNS = [
    SEGMENT_ID,
    "feature",
    "kind",
    "size",
    "share",
    "mean",
    "median",
    "population_mean",
    "population_sd",
    "z_score",
]


def segment_profiles(
    frame: DataFrame,
    segment: str,
    columns: Sequence[str],
    categorical: Sequence[str] = (),
    max_levels: int | None = None,
) -> pd.DataFrame:
    """Per segment, the numeric features' rows (`numeric_profiles`) then the categorical levels' (`level_profiles`),
    one table so both rank together by z.

    Args:
        frame: one row per customer: `segment` and the feature columns.
        segment: the segment id column.
        columns: numeric feature columns.
        categorical: categorical feature columns.
        max_levels: levels kept per categorical column, the most frequent in the population (None: all).

    Returns:
        `PROFILE_COLUMNS`, ordered by segment id; `size` and `share` are the segment's on every row.
    """
    parts = [
        *([numeric_profiles(frame, segment, columns)] if columns else []),
        *([level_profiles(frame, segment, categorical, max_levels)] if categorical else []),
    ]
    if not parts:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(SEGMENT_ID, kind="stable", ignore_index=True)


def numeric_profiles(frame: DataFrame, segment: str, columns: Sequence[str]) -> pd.DataFrame:
    """One row per segment and feature: segment size and share, the feature's mean and (approximate) median in the
    segment, the population mean and standard deviation, and z = (segment mean - population mean) / population sd."""
    quoted = {c: F.col(features.quote(c)).cast("double") for c in columns}
    per_segment = (
        frame.groupBy(segment)
        .agg(
            F.count(F.lit(1)).alias("_size"),
            *[F.mean(v).alias(f"mean_{i}") for i, v in enumerate(quoted.values())],
            # approximate (a sketch per group, relative rank error 1/10,000): an exact median holds every value of a
            # segment in one task's memory
            *[F.percentile_approx(v, 0.5, 10_000).alias(f"median_{i}") for i, v in enumerate(quoted.values())],
        )
        .toPandas()
    )
    population = frame.agg(
        *[F.mean(v).alias(f"mean_{i}") for i, v in enumerate(quoted.values())],
        *[F.stddev_pop(v).alias(f"sd_{i}") for i, v in enumerate(quoted.values())],
    ).first()
    total = float(per_segment["_size"].sum())
    records = []
    for values in per_segment.sort_values(segment).to_dict("records"):
        for i, column in enumerate(columns):
            mean, sd = population[f"mean_{i}"], population[f"sd_{i}"]
            segment_mean = values[f"mean_{i}"]
            z = (segment_mean - mean) / sd if sd and segment_mean is not None else 0.0
            records.append(
                {
                    SEGMENT_ID: int(values[segment]),
                    "feature": column,
                    "kind": "numeric",
                    "size": int(values["_size"]),
                    "share": values["_size"] / total,
                    "mean": segment_mean,
                    "median": values[f"median_{i}"],
                    "population_mean": mean,
                    "population_sd": sd,
                    "z_score": float(z),
                }
            )
    return pd.DataFrame.from_records(records, columns=PROFILE_COLUMNS)


def level_profiles(
    frame: DataFrame, segment: str, columns: Sequence[str], max_levels: int | None = None
) -> pd.DataFrame:
    """One row per segment and level of each categorical column, feature "<column>=<level>" (a null is the level
    `features.NULL_LEVEL`, as in the model): the level's share in the segment (`mean`) and in the population
    (`population_mean`), the population sd of its 0/1 indicator sqrt(p (1 - p)) and z = (segment share -
    population share) / that sd, the numeric features' z of the indicator. Only the `max_levels` levels of each
    column most frequent in the population are kept (ties by level). One Spark aggregation: level counts per
    segment, every column at once."""
    cells = F.array(
        *[
            F.struct(
                F.lit(c).alias("column"),
                F.coalesce(F.col(features.quote(c)).cast("string"), F.lit(features.NULL_LEVEL)).alias("level"),
            )
            for c in columns
        ]
    )
    counts = (
        frame.select(F.col(segment).alias("_segment"), F.inline(cells))
        .groupBy("_segment", "column", "level")
        .agg(F.count(F.lit(1)).alias("_rows"))
        .toPandas()
    )
    # Every row has one level of every column: the first column's counts add up to the segment sizes.
    sizes = counts[counts["column"] == columns[0]].groupby("_segment")["_rows"].sum()
    total = float(sizes.sum())
    population = (
        counts.groupby(["column", "level"], as_index=False)["_rows"]
        .sum()
        .assign(share=lambda levels: levels["_rows"] / total)
        .sort_values(["column", "share", "level"], ascending=[True, False, True])
    )
    kept = population.groupby("column").head(max_levels) if max_levels is not None else population
    observed = counts.set_index(["_segment", "column", "level"])["_rows"].to_dict()
    records = []
    for segment_id, size in sorted(sizes.items()):
        for column in columns:
            for level, share in kept.loc[kept["column"] == column, ["level", "share"]].itertuples(False):
                in_segment = observed.get((segment_id, column, level), 0) / size
                sd = float(np.sqrt(share * (1.0 - share)))
                records.append(
                    {
                        SEGMENT_ID: int(segment_id),
                        "feature": f"{column}={level}",
                        "kind": "categorical",
                        "size": int(size),
                        "share": size / total,
                        "mean": in_segment,
                        "median": float("nan"),
                        "population_mean": share,
                        "population_sd": sd,
                        "z_score": (in_segment - share) / sd if sd else 0.0,
                    }
                )
    return pd.DataFrame.from_records(records, columns=PROFILE_COLUMNS)


def name_segments(profiles: pd.DataFrame, config: SegmenterSettings) -> dict[int, str]:
    """A name per segment from its most distinguishing features ("High savings balance · Mostly region north"):
    the `name_features` largest |z| at least `name_min_z`, numeric features and categorical levels alike, ties
    broken by feature name; segments whose names would repeat get more features until they differ.
    `segmenter.names` overrides by segment id."""
    ranked: dict[int, list[tuple[str, str, float]]] = {}
    for segment, group in profiles.groupby(SEGMENT_ID):
        ordered = group.assign(absz=group["z_score"].abs()).sort_values(["absz", "feature"], ascending=[False, True])
        ranked[int(segment)] = [
            (row.feature, row.kind, row.z_score)
            for row in ordered.itertuples()
            if abs(row.z_score) >= config.name_min_z
        ]
    names: dict[int, str] = {}
    width = config.name_features
    for segment, terms in ranked.items():
        names[segment] = _phrase(terms[:width])
    for extra in range(width + 1, width + 4):
        repeated = {n for n in names.values() if list(names.values()).count(n) > 1}
        if not repeated:
            break
        for segment in [s for s, n in names.items() if n in repeated]:
            names[segment] = _phrase(ranked[segment][:extra])
    seen: dict[str, int] = {}
    for segment in sorted(names):
        seen[names[segment]] = seen.get(names[segment], 0) + 1
        if seen[names[segment]] > 1:
            names[segment] = f"{names[segment]} ({seen[names[segment]]})"
    unknown = [s for s in config.names if s not in names]
    if unknown:
        raise ConfigError(f"segmenter.names: segment ids {unknown} do not exist (ids: {sorted(names)})")
    return {**names, **config.names}


def _phrase(terms: list[tuple[str, str, float]]) -> str:
    if not terms:
        return "Typical"
    return " · ".join(_term(feature, kind, z) for feature, kind, z in terms)


def _term(feature: str, kind: str, z: float) -> str:
    """A numeric feature reads "High savings balance" / "Low …", a level "Mostly region north" / "Few …" (the null
    level "missing")."""
    if kind == "categorical":
        column, _, level = feature.partition("=")
        shown = "missing" if level == features.NULL_LEVEL else level
        return f"{'Mostly' if z > 0 else 'Few'} {column.replace('_', ' ')} {shown}"
    return f"{'High' if z > 0 else 'Low'} {feature.replace('_', ' ')}"
