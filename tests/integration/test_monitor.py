"""`customer-ml monitor` (issue 14, first slice): drift of a score date's input from the training rows of the
classifier that scored it, per feature; exit 3 on an alert, 0 without, 2 when nothing was scored."""

from __future__ import annotations

import datetime as dt

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import lake
from customer_ml.session import bind_settings
from tests.reliability.conftest import scorer, trained  # noqa: F401 - the small trained project, shared
from tests.reliability.helpers import LABELLED_HEADER, Project, labelled_rows

pytestmark = pytest.mark.slow


def drift_rows(spark: SparkSession, mine: Project, day: str) -> dict[str, dict]:
    bind_settings(spark, mine.settings(), engine="delta-rs")
    rows = lake.read_table(spark, "monitoring_drift").where(F.col("score_date") == F.lit(dt.date.fromisoformat(day)))
    return {r["column_name"]: r.asDict() for r in rows.where("drift_type = 'baseline'").collect()}


def test_monitor_is_quiet_on_the_training_rows_and_alerts_on_a_shifted_mix(
    spark: SparkSession,
    scorer: Project,  # noqa: F811
) -> None:
    assert scorer.call("score", "--score-date", "2026-01-31").code == 0  # the training rows themselves
    quiet = scorer.call("monitor", "--score-date", "2026-01-31")
    assert quiet.code == 0, quiet.err[-3:]
    assert quiet.out.startswith("monitored 2026-01-31: ") and "0 alert" in quiet.out
    same = drift_rows(spark, scorer, "2026-01-31")
    assert {"region", "amount"} <= set(same) and "id" not in same and "y" not in same
    features = {name: row for name, row in same.items() if name != "score"}
    assert all(r["psi"] == pytest.approx(0.0, abs=1e-9) and r["status"] == "ok" for r in features.values())
    assert same["amount"]["reference"] == same["amount"]["current"]  # the same snapshot
    # The score against the classifier's own test scores (46 of these rows), stored by its training run; the other
    # 254 include the rows it learned from, scored more confidently: a warning at most.
    assert same["score"]["reference"] == "customer_ml_classifier v1 test scores" and same["score"]["status"] != "alert"
    assert same["score"]["reference_rows"] == 46 and same["score"]["current_rows"] == 300

    later = scorer.root / "next.csv"  # next month: every customer in region a, the rest as before, no label
    later.write_text(LABELLED_HEADER.rsplit(",", 1)[0] + "\n" + labelled_rows(300, seed=2, region="a", label=None))
    assert scorer.call("ingest", "--path", str(later), "--table", "next").code == 0
    assert scorer.call("score", "--input-table", "next", "--score-date", "2026-02-28").code == 0
    alerted = scorer.call("monitor", "--score-date", "2026-02-28")
    assert alerted.code == 3, alerted.err[-3:]
    alerts = [line for line in alerted.out.splitlines() if line.startswith("ALERT ")]
    # PSI and JS of region; everyone in one region moves the scores too (consecutive drift is reported, not alerted)
    assert [a.split(":")[0] for a in alerts] == ["ALERT region", "ALERT region", "ALERT score"], alerted.out
    assert all("(baseline)" in a for a in alerts) and "consecutive drift against 2026-01-31" in alerted.out
    shifted = drift_rows(spark, scorer, "2026-02-28")
    assert shifted["region"]["status"] == "alert" and shifted["region"]["psi"] > 0.25 and shifted["region"]["js"] > 0.2
    assert shifted["amount"]["status"] != "alert" and shifted["region"]["current"].startswith("next@")
    bind_settings(spark, scorer.settings(), engine="delta-rs")
    recorded = lake.read_table(spark, "monitoring_alerts").where(F.col("score_date") == F.lit(dt.date(2026, 2, 28)))
    assert sorted((r["column_name"], r["statistic"]) for r in recorded.collect()) == [
        ("region", "js"),
        ("region", "psi"),
        ("score", "psi"),
    ]
    consecutive = lake.read_table(spark, "monitoring_drift").where("drift_type = 'consecutive'").collect()
    assert {r["column_name"] for r in consecutive} == {"region", "amount", "calls", "note", "score"}

    # No labels configured: the quality is estimated from the scores, calibrated at training (CBPE).
    table = (
        lake.read_table(spark, "monitoring_profile")
        .where("column_name = ':table' AND slice_key IS NULL AND score_date = DATE'2026-02-28'")
        .first()
    )
    assert table["quality_source"] == "estimated" and table["labelled_rows"] is None
    assert 0.5 <= table["roc_auc"] <= 1 and 0 < table["positive_rate"] < 1

    # Judging the month before instead: region moved from it too; the training comparison is still written.
    against_previous = scorer.call("monitor", "--score-date", "2026-02-28", "--baseline", "previous")
    assert against_previous.code == 3 and "against score date 2026-01-31 (previous)" in against_previous.out
    assert all("(consecutive)" in line for line in against_previous.out.splitlines() if line.startswith("ALERT "))
    kinds = lake.read_table(spark, "monitoring_drift").where("score_date = DATE'2026-02-28'").select("drift_type")
    assert {r[0] for r in kinds.distinct().collect()} == {"baseline", "consecutive"}
    for baseline, message in (
        (
            "customers_validated@99",
            "cannot read customers_validated@99 for monitoring: customers_validated's versions "
            "are 0 to 0; pass one of them",
        ),
        ("nosuch@0", "cannot read nosuch@0 for monitoring: there is no table nosuch in the lake"),
    ):
        wrong = scorer.call("monitor", "--score-date", "2026-02-28", "--baseline", baseline)
        assert wrong.code == 2 and wrong.err[-1] == f"customer-ml: error: {message}", wrong.err[-1]

    never = scorer.call("monitor", "--score-date", "2030-01-01")
    assert never.code == 2 and never.err[-1] == (
        "customer-ml: error: nothing scored for 2030-01-01 in scored_customers: run `customer-ml score --score-date "
        "2030-01-01` first"
    )


def test_a_lake_that_is_not_the_one_the_model_was_trained_on_is_named(
    scorer: Project,  # noqa: F811
) -> None:
    """A mistyped lake root holds another table under the same name (and version): the training comparison would
    be with its rows, silently. The monitor names both tables instead. (The scorer's own lake is a copy of the
    trained project's: a copy keeps the table's Delta id and passes, as every other monitor test shows.)"""
    other = scorer.root / "other-lake"
    here = (f"lake.root={other}",)
    for command in (("ingest",), ("validate",), ("score", "--score-date", "2026-01-31")):
        assert scorer.call(*command, sets=here).code == 0
    moved = scorer.call("monitor", "--score-date", "2026-01-31", sets=here)
    assert moved.code == 2
    assert "customer_ml_classifier v1 was trained on table customers_validated " in moved.last
    assert f"but this lake's customers_validated is another table ({other}/customers_validated, id " in moved.last
    assert moved.last.endswith("or pass --baseline TABLE@VERSION to compare with a table of this lake")
    version = DeltaTable(str(other / "customers_validated")).version()
    against_this_lake = scorer.call(
        "monitor", "--score-date", "2026-01-31", "--baseline", f"customers_validated@{version}", sets=here
    )
    assert against_this_lake.code == 0, against_this_lake.err[-2:]
