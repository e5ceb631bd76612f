"""`customer-ml monitor` on the synthetic bank, month after month, the way it runs: models trained on one base of
100k customers; next month a base from another seed (same spec: no alarm); the month after, `generate --drift 1`
(the drift spec's columns and segment mix move: exactly those alert)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from dataclasses import dataclass

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import classifier, cli, lake, scoring, segmenter
from customer_ml.data import generate
from customer_ml.session import bind_settings
from customer_ml.settings import Settings
from tests.conftest import EXAMPLE_OVERLAY, REPO, TEST_OVERRIDES, make_settings

pytestmark = pytest.mark.slow

ROWS = 100_000
QUIET, DRIFTED = dt.date(2026, 1, 31), dt.date(2026, 2, 28)
# Training on the raw generated table (the validation stage is tested elsewhere): small models, k fixed at 4.
MODELS = (
    "classifier.candidates.gbt.enabled=false",
    "classifier.candidates.logistic.enabled=false",
    "classifier.candidates.xgboost.params={n_estimators: 60}",
    "classifier.candidates.xgboost.grid={}",
    "segmenter.selection.k_min=4",
    "segmenter.selection.k_max=4",
    "segmenter.stability.runs=0",
    "segmenter.n_init=1",
    "segmenter.fit_sample_rows=20000",
    "data.table=customers",
    "monitoring.labels={table: customers_truth}",  # each month's outcomes: the truth of the base it scored
)


@dataclass(frozen=True)
class Months:
    settings: Settings
    quiet: tuple[int, str, str]  # exit code, stdout, stderr of `monitor` for the undrifted month
    drifted: tuple[int, str, str]  # and for the drifted one


def monitor(settings: Settings, day: dt.date) -> tuple[int, str, str]:
    """`customer-ml monitor --score-date DAY` as a user runs it: (exit code, stdout, stderr)."""
    overrides = [f"--set={o}" for o in (f"project.work_dir={settings.work_dir}", *TEST_OVERRIDES, *MODELS)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            ["--conf-dir", str(REPO / "conf"), "--overlay", str(EXAMPLE_OVERLAY), *overrides]
            + ["monitor", "--score-date", day.isoformat()]
        )
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def months(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Months:
    """Train on seed 1; score seed 2 for QUIET and monitor it (its outcomes, the truth table, are in by then);
    then seed 3 with --drift 1 for DRIFTED. Each month's generate replaces `customers` and its truth, as a monthly
    load would: scoring and training record the table versions they read."""
    settings = make_settings(tmp_path_factory.mktemp("monitor-synthetic") / "work", *MODELS)
    bind_settings(spark, settings, engine="delta-rs")
    generate.run(spark, settings, rows=ROWS, seed=1)
    classifier.run(spark, settings)
    segmenter.run(spark, settings)
    generate.run(spark, settings, rows=ROWS, seed=2)
    scoring.run(spark, settings, score_date=QUIET)
    quiet = monitor(settings, QUIET)
    generate.run(spark, settings, rows=ROWS, seed=3, drift=1.0)
    bind_settings(spark, settings, engine="delta-rs")
    scoring.run(spark, settings, score_date=DRIFTED)
    return Months(settings, quiet, monitor(settings, DRIFTED))


def drift(spark: SparkSession, settings: Settings, day: dt.date, drift_type: str = "baseline") -> dict[str, dict]:
    bind_settings(spark, settings, engine="delta-rs")
    rows = lake.read_table(spark, "monitoring_drift").where(
        (F.col("score_date") == F.lit(day)) & (F.col("drift_type") == drift_type) & F.col("slice_key").isNull()
    )
    return {r["column_name"]: r.asDict() for r in rows.collect()}


def left_alone(settings: Settings) -> list[str]:
    """Columns the drift spec does not move, directly or through the segment mix (no segment drives them)."""
    spec = settings.synthetic
    return [
        name
        for name, column in spec.columns.items()
        if name not in spec.drift.columns
        and column.kind != "expression"
        and not column.loadings
        and not column.by_segment
    ]


def test_another_seed_raises_no_alarm(spark: SparkSession, months: Months) -> None:
    code, out, err = months.quiet
    assert code == 0, err[-600:]
    assert "0 alert(s)" in out and "ALERT" not in out
    found = drift(spark, months.settings, QUIET)
    features = {name for name in found if name not in ("score", "segment_name")}
    assert len(features) >= 20 and {"score", "segment_name"} <= set(found)
    worst = max(found.values(), key=lambda r: r["psi"])
    assert worst["psi"] < 0.1, worst
    sliced = lake.read_table(spark, "monitoring_drift").where(
        (F.col("score_date") == F.lit(QUIET)) & (F.col("slice_key") == "segment_name")
    )
    assert sliced.count() >= 4 * len(features) and sliced.agg(F.max("psi")).first()[0] < 0.1
    assert all(r["status"] == "ok" for r in found.values())


def test_planted_drift_alerts_exactly_where_planted(spark: SparkSession, months: Months) -> None:
    code, out, err = months.drifted
    assert code == cli.ALERT_EXIT, err[-600:]
    spec = months.settings.synthetic
    moved = set(spec.drift.columns)
    alerted = {line.split(":")[0].removeprefix("ALERT ") for line in out.splitlines() if line.startswith("ALERT ")}
    assert moved | {"segment_name"} <= alerted, out
    found = drift(spark, months.settings, DRIFTED)
    untouched = left_alone(months.settings)
    assert len(untouched) >= 3 and not alerted & set(untouched)
    assert all(found[name]["psi"] < 0.1 and found[name]["status"] == "ok" for name in untouched), untouched
    assert all(found[name]["status"] == "alert" for name in moved)
    assert found["segment_name"]["status"] == "alert" and found["segment_name"]["data_type"] == "categorical"
    # By segment too (the segmenter applied to both sides): each segment's age moved, its region did not.
    by_segment = (
        lake.read_table(spark, "monitoring_drift")
        .where((F.col("score_date") == F.lit(DRIFTED)) & (F.col("slice_key") == "segment_name"))
        .where("drift_type = 'baseline'")
        .collect()
    )
    segments = {r["slice_value"] for r in by_segment}
    assert len(segments) == 4 and None not in segments
    age = [r for r in by_segment if r["column_name"] == "age"]
    assert len(age) == 4 and all(r["psi"] > 0.25 for r in age)
    assert all(r["psi"] < 0.1 for r in by_segment if r["column_name"] in untouched), untouched
    assert sum(r["current_rows"] for r in age) == found["age"]["current_rows"]
    consecutive = drift(spark, months.settings, DRIFTED, "consecutive")
    assert all(consecutive[name]["status"] == "alert" for name in moved)
    assert consecutive["age"]["reference"].startswith("customers@")


def test_the_profile_describes_each_column_and_segment(spark: SparkSession, months: Months) -> None:
    bind_settings(spark, months.settings, engine="delta-rs")
    profile = lake.read_table(spark, "monitoring_profile").where(F.col("score_date") == F.lit(QUIET))
    whole = {r["column_name"]: r for r in profile.where(F.col("slice_key").isNull()).collect()}
    table = whole[":table"]
    assert table["count"] == ROWS and table["classifier_version"] == "1" and table["segmenter_version"] == "1"
    assert table["input_table"] == "customers" and table["segment_fit_ratio"] == pytest.approx(1.0, abs=0.05)
    # Late labels (the truth of the month's base) measure the model as its test rows did, on customers it never saw.
    assert table["quality_source"] == "measured" and table["labelled_rows"] >= 0.99 * ROWS  # less duplicate ids
    assert table["roc_auc"] == pytest.approx(table["training_roc_auc"], abs=0.01)
    truth = lake.read_table(spark, "customers", version=table["input_version"])
    age = truth.agg(F.avg("age"), F.min("age"), F.max("age"), F.avg(F.col("age").isNull().cast("int"))).first()
    assert whole["age"]["avg"] == pytest.approx(age[0]) and (whole["age"]["min"], whole["age"]["max"]) == age[1:3]
    assert whole["age"]["percent_null"] == pytest.approx(100 * age[3])
    region = {item["item"]: item["share"] for item in whole["region"]["frequent_items"]}
    assert set(months.settings.synthetic.columns["region"].values) <= set(region) <= {*region, "??", None}  # faults
    assert sum(region.values()) == pytest.approx(1.0)
    segments = profile.where((F.col("slice_key") == "segment_name") & (F.col("column_name") == ":table")).collect()
    assert len(segments) == 4 and sum(r["count"] for r in segments) == ROWS
