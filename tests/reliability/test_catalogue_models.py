"""Reliability catalogue (issue 13), models: what a labelled table of one's own does to `train-classifier` and
`score`. Failures are exit 2 and one line before any model or table is written; the odd cases that must work
(an all-null column, a category never seen in training, a date scored twice) work and leave exact tables."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import lake, tracking
from customer_ml.session import bind_settings
from tests.reliability.conftest import INPUT_TABLES, Trained
from tests.reliability.helpers import (
    LABELLED_HEADER,
    Project,
    assert_one_line_error,
    labelled_project,
    labelled_rows,
    states,
    table_state,
)

pytestmark = pytest.mark.slow

OUTPUT_TABLES = ("scored_customers", "upgrade_candidates")
UNLABELLED_HEADER = LABELLED_HEADER.removesuffix(",y")


def registered_versions(project: Project) -> list[str]:
    """Every version of the project's classifier in its MLflow registry ([] when none was ever registered)."""
    found = tracking.client(project.settings()).search_model_versions("name = 'customer_ml_classifier'")
    return sorted(v.version for v in found)


def test_an_all_null_feature_column_is_dropped_and_training_succeeds(spark: SparkSession, trained: Trained) -> None:
    """The shared model's training: `empty` (a number, every value blank) is dropped with its reason, `note` (text,
    every value blank) is one constant level; the model registers as champion and no table changes."""
    training = trained.training
    assert training.code == 0, training.err[-3:]
    assert "Traceback" not in "\n".join(training.err)
    assert "trained customer_ml_classifier version 1 (logistic) on customers_validated v0" in training.out
    assert "promotion: champion" in training.out
    assert any(line.endswith("features: dropping empty (all values null)") for line in training.err)
    details = tracking.client(trained.project.settings()).get_model_version("customer_ml_classifier", "1")
    assert json.loads(details.tags[tracking.INPUT_COLUMNS]) == {
        "region": "string",
        "amount": "double",
        "calls": "int",
        "note": "string",
    }
    assert trained.after == trained.before  # training reads tables, writes none
    assert {n: (s.version, s.rows, s.orphans) for n, s in trained.after.items() if s} == {
        "customers": (0, 300, frozenset()),
        "customers_validated": (0, 300, frozenset()),
        "customers_quarantine": (0, 0, frozenset()),
        "validation_results": (0, 5, frozenset()),
    }


@pytest.mark.parametrize(
    ("positives", "message"),
    [
        pytest.param(
            0,
            "data.label.positive is 'Yes' (a string), which label column y of table customers never holds (values: "
            "'No'); values compare exactly, case included",
            id="positive-never-seen",
        ),
        pytest.param(
            60,
            "table customers: the train rows hold only one class of y; a classifier needs both",
            id="positive-only",
        ),
        pytest.param(  # both classes, but the stratified split leaves the validation rows without a positive
            4,
            "table customers: the validation rows hold only one class of y (4 of 60 rows are positive, too few to "
            "split); the threshold is chosen on the validation rows and the model evaluated on the test rows, so each "
            "needs both classes: add labelled rows, or widen classifier.split.validation",
            id="too-few-positives",
        ),
    ],
)
def test_a_single_class_label_fails_training_before_anything_is_registered(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str], positives: int, message: str
) -> None:
    rows = labelled_rows(60, seed=2, label="No").splitlines(keepends=True)
    rows = [r.replace(",No\n", ",Yes\n") if i < positives else r for i, r in enumerate(rows)]
    mine = labelled_project(tmp_path, "".join(rows))
    assert mine.run(capsys, "ingest").code == 0
    before = table_state(spark, mine.settings(), "customers")
    assert_one_line_error(mine.run(capsys, "train-classifier", "--table", "customers"), message)
    assert table_state(spark, mine.settings(), "customers") == before
    assert registered_versions(mine) == []


def test_a_missing_label_column_fails_training_naming_the_setting(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = labelled_project(tmp_path, labelled_rows(60, seed=3, label=None), header=UNLABELLED_HEADER)
    assert mine.run(capsys, "ingest").code == 0  # ingest skips the label: rows to score have none
    before = table_state(spark, mine.settings(), "customers")
    assert_one_line_error(
        mine.run(capsys, "train-classifier", "--table", "customers"),
        "label column y (data.label.column) is not in the table; it has: id, region, amount, calls, empty, note",
    )
    assert table_state(spark, mine.settings(), "customers") == before
    assert registered_versions(mine) == []


def test_score_without_a_champion_fails_and_writes_nothing(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = labelled_project(tmp_path, labelled_rows(60, seed=4))
    assert mine.run(capsys, "ingest").code == 0
    before = table_state(spark, mine.settings(), "customers")
    failed = mine.run(capsys, "score", "--input-table", "customers", "--score-date", "2026-01-31")
    assert_one_line_error(
        failed,
        f"registered model customer_ml_classifier has no @champion in sqlite:///{mine.work / 'mlflow.db'} "
        "(run `customer-ml train-classifier` first): …",
    )
    after = states(spark, mine.settings(), "customers", *OUTPUT_TABLES)
    assert after == {"customers": before, "scored_customers": None, "upgrade_candidates": None}


def test_a_category_never_seen_in_training_is_scored(
    spark: SparkSession, trained: Trained, scorer: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Next month's file (no label) where every customer is in region `zzz`, which training never saw: ingested as
    its own table and scored like any other row (the "unseen" slot), every row with a score."""
    later = scorer.root / "next.csv"
    later.write_text(f"{UNLABELLED_HEADER}\n" + labelled_rows(40, seed=5, first_id=5000, label=None, region="zzz"))
    assert scorer.run(capsys, "ingest", "--path", str(later), "--table", "to_score").code == 0
    done = scorer.run(capsys, "score", "--input-table", "to_score", "--score-date", "2026-03-31")
    assert done.code == 0, done.err[-3:]
    assert "scored 40 customers of to_score (version 0) for 2026-03-31 with customer_ml_classifier v1" in done.out
    bind_settings(spark, scorer.settings(), engine="delta-rs")
    scored = lake.read_table(spark, "scored_customers")
    assert scored.where(F.col("score").isNull() | F.col("score_decile").isNull()).count() == 0
    assert sorted(r["id"] for r in scored.select("id").collect()) == list(range(5000, 5040))
    assert scored.select("score").distinct().count() > 1  # the other features still move the score

    after = states(spark, scorer.settings("to_score"), *INPUT_TABLES, "to_score", *OUTPUT_TABLES)
    assert {n: after[n] for n in INPUT_TABLES} == trained.after
    assert (after["to_score"].version, after["to_score"].rows, after["to_score"].orphans) == (0, 40, frozenset())
    assert (after["scored_customers"].version, after["scored_customers"].rows) == (0, 40)
    candidates = scored.where("predicted_positive").count()  # no label: every predicted positive is a candidate
    assert (after["upgrade_candidates"].version, after["upgrade_candidates"].rows) == (0, candidates)
    assert after["scored_customers"].orphans == after["upgrade_candidates"].orphans == frozenset()


def test_the_same_score_date_scored_twice_replaces_its_rows(
    spark: SparkSession, scorer: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    day = dt.date(2026, 4, 30)
    stable = ["id", "score", "score_decile", "predicted_positive", "classifier_version", "score_date"]

    def scored_once() -> tuple[dict, list]:
        done = scorer.run(capsys, "score", "--score-date", day.isoformat())
        assert done.code == 0, done.err[-3:]
        assert "scored 300 customers of customers_validated (version 0) for 2026-04-30" in done.out
        found = states(spark, scorer.settings(), *OUTPUT_TABLES)
        rows = lake.read_table(spark, "scored_customers").select(*stable).orderBy("id").collect()
        return {n: (s.version, s.rows, s.orphans) for n, s in found.items()}, rows

    first, first_rows = scored_once()
    again, again_rows = scored_once()
    candidates = first["upgrade_candidates"][1]
    assert first == {"scored_customers": (0, 300, frozenset()), "upgrade_candidates": (0, candidates, frozenset())}
    assert again == {"scored_customers": (1, 300, frozenset()), "upgrade_candidates": (1, candidates, frozenset())}
    assert again_rows == first_rows  # the same rows, once: replaced, not doubled
    for table in OUTPUT_TABLES:
        latest = lake.history(spark, table, limit=1)[0]
        assert (latest["mode"], latest["info"]["customer_ml.score_date"]) == ("overwrite_partitions", "2026-04-30")
