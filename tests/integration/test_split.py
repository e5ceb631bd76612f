"""classifier.mark_split: exact shares per class while a class is small, a hash cut with no sort beyond
`classifier.split.exact_max_rows`; the same seed gives the same rows either way. classifier.cap_train: at most
`classifier.split.max_train_rows` train rows, the rare class kept first."""

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


def test_train_quota_keeps_the_rare_class_and_fills_the_cap_with_the_common_one() -> None:
    assert classifier.train_quota({0.0: 900, 1.0: 100}, None) == {0.0: 900, 1.0: 100}
    assert classifier.train_quota({0.0: 900, 1.0: 100}, 1000) == {0.0: 900, 1.0: 100}
    assert classifier.train_quota({0.0: 900, 1.0: 100}, 400) == {0.0: 300, 1.0: 100}
    assert classifier.train_quota({0.0: 900, 1.0: 700}, 400) == {0.0: 200, 1.0: 200}  # half the cap at most
    assert classifier.train_quota({0.0: 90, 1.0: 910}, 400) == {0.0: 90, 1.0: 310}  # positives can be the majority


def test_max_train_rows_thins_only_the_train_rows_of_the_common_class(spark: SparkSession) -> None:
    config = ClassifierSettings.model_validate({"split": {"exact_max_rows": 100, "max_train_rows": 4000}})
    marked = classifier.mark_split(labelled(spark, 20_000, 2_000), config, "cid")
    tally = marked.groupBy(SPLIT, LABEL).count().collect()
    capped, recount = classifier.cap_train(marked, tally, config.split, "cid")
    before, after = shares(marked), shares(capped)
    assert {k: v for k, v in recount_of(recount).items()} == after  # the recount is the capped frame's
    assert after[(1.0, "train")] == before[(1.0, "train")]  # ~1,400 positives: under half the cap, all kept
    wanted = 4000 - before[(1.0, "train")]
    negatives = before[(0.0, "train")]
    spread = 4 * math.sqrt(negatives * (wanted / negatives) * (1 - wanted / negatives))
    assert abs(after[(0.0, "train")] - wanted) < spread, (after, wanted)
    for key in before:
        if key[1] != "train":
            assert after[key] == before[key], key  # validation and test stay whole
    kept = set(assignment(capped))
    assert kept < set(assignment(marked))
    assert kept == set(assignment(classifier.cap_train(marked, tally, config.split, "cid")[0]))  # same seed, same rows
    uncapped = ClassifierSettings.model_validate({"split": {"exact_max_rows": 100, "max_train_rows": None}})
    assert classifier.cap_train(marked, tally, uncapped.split, "cid")[0] is marked


def recount_of(tally: list) -> dict[tuple[float, str], int]:
    return {(r[LABEL], r[SPLIT]): r["count"] for r in tally}
