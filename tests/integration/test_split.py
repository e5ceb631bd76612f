"""classifier.mark_split: exact shares per class while a class is small, a hash cut with no sort beyond
`classifier.split.exact_max_rows`; the same seed gives the same rows either way."""

from __future__ import annotations

import math

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import classifier
from customer_ml.classifier import LABEL, SPLIT
from customer_ml.settings import ClassifierSettings


def labelled(spark: SparkSession, negatives: int, positives: int):  # noqa: ANN201 - a DataFrame
    rows = [(i, 0.0) for i in range(negatives)] + [(negatives + i, 1.0) for i in range(positives)]
    return spark.createDataFrame(rows, ["cid", LABEL])


def shares(marked) -> dict[tuple[float, str], int]:  # noqa: ANN001 - a DataFrame
    return {(r[LABEL], r[SPLIT]): r["count"] for r in marked.groupBy(LABEL, SPLIT).count().collect()}


def assignment(marked) -> dict[int, str]:  # noqa: ANN001 - a DataFrame
    return {r["cid"]: r[SPLIT] for r in marked.select("cid", SPLIT).collect()}


def test_small_classes_are_cut_in_exactly_the_configured_shares(spark: SparkSession) -> None:
    config = ClassifierSettings()
    marked = classifier.mark_split(labelled(spark, 1700, 300), config, "cid")
    counts = shares(marked)
    for label, size in ((0.0, 1700), (1.0, 300)):
        # percent_rank r/(n-1): `train` takes ranks below 0.7 (n-1), validation up to 0.85 (n-1)
        train = math.ceil(0.7 * (size - 1))
        validation = math.ceil(0.85 * (size - 1)) - train
        assert counts[(label, "train")] == train
        assert counts[(label, "validation")] == validation
        assert counts[(label, "test")] == size - train - validation
    assert assignment(marked) == assignment(classifier.mark_split(labelled(spark, 1700, 300), config, "cid"))
    other = ClassifierSettings.model_validate({"split": {"seed": 8}})
    assert assignment(marked) != assignment(classifier.mark_split(labelled(spark, 1700, 300), other, "cid"))


def test_beyond_exact_max_rows_each_row_goes_by_its_hash_alone(spark: SparkSession) -> None:
    config = ClassifierSettings.model_validate({"split": {"exact_max_rows": 100}})
    whole = classifier.mark_split(labelled(spark, 20_000, 2_000), config, "cid")
    counts = shares(whole)
    for label, size in ((0.0, 20_000), (1.0, 2_000)):
        for split, share in (("train", 0.7), ("validation", 0.15), ("test", 0.15)):
            spread = 4 * math.sqrt(share * (1 - share) / size)  # four standard deviations of a binomial share
            assert abs(counts[(label, split)] / size - share) < spread, (label, split, counts)
    # No rank: a row's split does not depend on the other rows (a part of the table splits as in the whole)
    part = classifier.mark_split(labelled(spark, 20_000, 2_000).where(F.col("cid") % 7 == 0), config, "cid")
    mine = assignment(part)
    assert mine == {cid: split for cid, split in assignment(whole).items() if cid in mine}
