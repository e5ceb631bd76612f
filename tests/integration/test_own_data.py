"""A new user's own table, through the CLI only, with no file edited by hand: `init` writes the overlay, then
`ingest` → `validate` → `train-classifier` → `ingest` of next month's file as its own table → `score` of it.

The table shares nothing with the synthetic bank: an int id, a string label "Yes"/"No", a numeric code column, a
column name with a space, a quoted string holding a comma and a doubled quote, a blank in a numeric column.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import cli, lake
from customer_ml.session import bind_settings
from tests.conftest import FAST_MODELS, TEST_OVERRIDES

pytestmark = pytest.mark.slow

HEADER = ["AcctNo", "Plan", "Region Code", "Tenure", "MonthlyFee", "SupportCalls", "Churn"]
PLANS = ["Basic", 'Gold, "annual"', "Plus"]


def accounts(first_id: int, rows: int, seed: int, label: bool = True) -> list[list[str]]:
    """Telecom-style rows with a planted signal (calls up, tenure down → churn)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(rows):
        plan = PLANS[int(rng.integers(0, 3))]
        tenure = int(rng.integers(1, 72))
        calls = int(rng.poisson(2))
        fee = round(20 + 15 * PLANS.index(plan) + float(rng.normal(0, 3)), 2)
        logit = -1.0 + 0.7 * calls - 0.05 * tenure
        churn = "Yes" if rng.random() < 1 / (1 + np.exp(-logit)) else "No"
        row = [str(first_id + i), plan, str(int(rng.integers(1, 5))), str(tenure), " " if i == 3 else str(fee)]
        out.append([*row, str(calls), *([churn] if label else [])])
    return out


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)  # doubles the quote inside "Gold, ""annual"""
        writer.writerow(header)
        writer.writerows(rows)
    return path


def command(work: Path, overlay: Path | None, *args: str) -> list[str]:
    sets = [a for o in (f"project.work_dir={work}", *TEST_OVERRIDES, *FAST_MODELS) for a in ("--set", o)]
    return [*(["--overlay", str(overlay)] if overlay else []), *sets, *args]


def test_a_csv_of_your_own_to_a_scored_table_with_no_file_edited(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    train = write_csv(tmp_path / "accounts.csv", HEADER, accounts(1000, 800, seed=3))
    overlay = tmp_path / "telco.yml"

    # 1. init: profile the source, write the overlay
    args = ["init", "--source", str(train), "--id", "AcctNo", "--label", "Churn", "--positive", "Yes"]
    assert cli.main(command(work, None, *args, "--name", "telco", "--output", str(overlay))) == 0
    first = overlay.read_bytes()
    assert cli.main(command(work, None, *args, "--name", "telco", "--output", str(overlay))) == 0
    assert overlay.read_bytes() == first  # the same source gives the same file
    written = yaml.safe_load(first)
    assert written["data"]["label"] == {"column": "Churn", "positive": "Yes"}
    casts = written["ingest"]["sources"]["telco"]["casts"]
    assert (casts["AcctNo"], casts["Tenure"], casts["MonthlyFee"]) == ("int", "int", "double")
    assert "region_code" in written["classifier"]["features"]["categorical"]  # a numeric code with 4 values
    capsys.readouterr()

    # A bad row arrives after init: a label value the suite has never seen.
    bad = ["9999", "Basic", "2", "10", "25.0", "1", "Maybe"]
    write_csv(train, HEADER, [*accounts(1000, 800, seed=3), bad])

    # 2. ingest, validate, train
    assert cli.main(command(work, overlay, "ingest")) == 0
    assert cli.main(command(work, overlay, "validate")) == 0
    assert "801 rows -> 800 validated, 1 quarantined" in capsys.readouterr().out
    assert cli.main(command(work, overlay, "train-classifier")) == 0
    trained = capsys.readouterr().out
    assert "trained telco_classifier version 1" in trained and "promotion: champion" in trained

    settings = cli.settings_for(cli.parse_args(command(work, overlay, "info")))
    bind_settings(spark, settings, engine="delta-rs")
    [quarantined] = lake.read_table(spark, "customers_quarantine").collect()
    assert quarantined["AcctNo"] == 9999 and quarantined["_violations"] == ["expect_column_values_to_be_in_set(Churn)"]
    row = lake.read_table(spark, "customers").where(F.col("AcctNo") == 1003).first()
    assert row["MonthlyFee"] is None  # the blank
    assert lake.read_table(spark, "customers").where(F.col("Plan") == 'Gold, "annual"').count() > 0

    # 3. next month's rows (no label column) as their own table, same layout (the only source's: no --source),
    #    validated without the label's rules, then scored
    later = write_csv(tmp_path / "next.csv", HEADER[:-1], accounts(5000, 120, seed=4, label=False))
    assert cli.main(command(work, overlay, "ingest", "--path", str(later), "--table", "to_score")) == 0
    assert cli.main(command(work, overlay, "validate", "--table", "to_score", "--suite", "customers")) == 0
    out = capsys.readouterr().out  # the training suite without the label's rule: schema, id, ranges, value sets
    assert "to_score: 120 rows -> 120 validated, 0 quarantined" in out and "no suite" not in out
    assert int(out.split(" expectations passed")[0].rsplit(" ", 1)[-1]) > 6  # more than the generic checks
    to_score = ["score", "--input-table", "to_score_validated", "--score-date", "2026-11-30"]
    assert cli.main(command(work, overlay, *to_score)) == 0
    out = capsys.readouterr().out
    assert "scored 120 customers of to_score_validated" in out and "no segmenter" in out

    bind_settings(spark, settings, engine="delta-rs")
    result = lake.read_table(spark, "scored_customers").where(F.col("score_date") == F.lit(dt.date(2026, 11, 30)))
    assert sorted(r["AcctNo"] for r in result.select("AcctNo").collect()) == list(range(5000, 5120))
    assert result.where(F.col("score").isNull() | F.col("segment_id").isNotNull()).count() == 0

    # 4. SQL sees the table only --table named (it is in no conf), and a bad query is one line, no JSON page
    assert cli.main(command(work, overlay, "sql", "SELECT count(*) AS n, min(AcctNo) AS first FROM to_score")) == 0
    assert capsys.readouterr().out.split() == ["n", "first", "120", "5000"]
    summary = "SELECT customers, candidates FROM segment_summary WHERE score_date = DATE'2026-11-30'"
    assert cli.main(command(work, overlay, "sql", summary)) == 0  # no segmenter: one row, segment null
    [customers, candidates] = capsys.readouterr().out.split()[2:]
    bind_settings(spark, settings, engine="delta-rs")
    chosen = lake.read_table(spark, "upgrade_candidates").where(F.col("score_date") == F.lit(dt.date(2026, 11, 30)))
    assert (int(customers), int(candidates)) == (120, chosen.count()) and chosen.count() > 0
    assert cli.main(command(work, overlay, "sql", "SELECT nope FROM to_score")) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("customer-ml: error: SQL error: [UNRESOLVED_COLUMN")
    assert "SQLQueryContextLogger" not in err and "Py4JJavaError" not in err

    # 5. the monthly pipeline: the source's next file in, checked, scored (the label column absent)
    monthly = ["--set", f"ingest.sources.telco.path={later}", "run", "score", "--score-date", "2026-12-31"]
    assert cli.main(command(work, overlay, *monthly)) == 0
    assert "120 rows of customers_validated scored for 2026-12-31" in capsys.readouterr().out
    bind_settings(spark, settings, engine="delta-rs")
    december = lake.read_table(spark, "scored_customers").where(F.col("score_date") == F.lit(dt.date(2026, 12, 31)))
    assert december.count() == 120 and december.agg(F.min("AcctNo")).first()[0] == 5000


def test_run_a_pipeline_of_stages_in_one_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    train = write_csv(tmp_path / "accounts.csv", HEADER, accounts(1, 60, seed=5))
    overlay = tmp_path / "mine.yml"
    init = ["init", "--source", str(train), "--id", "AcctNo", "--label", "Churn", "--positive", "Yes"]
    assert cli.main(command(work, None, *init, "--output", str(overlay))) == 0
    assert cli.main(command(work, overlay, "--set", "pipelines.load=[ingest, validate]", "run", "load")) == 0
    out = capsys.readouterr().out
    assert "run load: ingest, validate <- ingest" in out
    assert "60 rows into customers (version 0)" in out and "60 validated, 0 quarantined" in out
    assert cli.main(command(work, overlay, "run", "nope")) == 2
    assert "no pipeline 'nope'" in capsys.readouterr().err
