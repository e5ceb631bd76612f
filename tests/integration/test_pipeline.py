"""`customer-ml run PIPELINE` as a task graph on a new user's own table (int ids, "Yes"/"No" labels), through
the CLI: a failing task stops only its dependents and exits 2 with one line saying how to resume; `--from`
resumes; a monitor's alert gates a `when: alert` retrain (exit 0 when it ran, 3 when nothing handled the alert);
every task's outcome lands in the pipeline_runs table."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import cli, lake
from customer_ml.config import load_settings
from customer_ml.errors import ConfigError
from customer_ml.pipeline import plan
from customer_ml.session import bind_settings
from customer_ml.settings import Settings
from tests.conftest import REPO
from tests.integration.test_own_data import HEADER, accounts, command, write_csv

pytestmark = pytest.mark.slow

GRAPH = {
    "ingest": {},
    "validate": {"depends_on": ["ingest"]},
    "score": {"depends_on": ["validate"]},
    "monitor": {"depends_on": ["score"]},
    "train-classifier": {"depends_on": ["validate"]},
    "retrain": {"stage": "train-classifier", "depends_on": ["monitor"], "when": "alert"},
}
NEVER = "monitoring.psi={warn: 50, alert: 100}"  # with js, fit and quality as high: no alert whatever the rows
QUIET = [NEVER, "monitoring.js={warn: 50, alert: 100}", "monitoring.quality_drop={warn: 50, alert: 100}"]
ALWAYS = "monitoring.psi={warn: 0.0, alert: 0.0}"  # every feature alerts


def runs(spark: SparkSession, work: Path, overlay: Path) -> list[tuple[str, str, str]]:
    """(run id, task, status) of every pipeline_runs row, in the order the tasks started."""
    rows = _table(spark, work, overlay).orderBy("started_at").select("run_id", "task", "status")
    return [(r["run_id"], r["task"], r["status"]) for r in rows.collect()]


def _table(spark: SparkSession, work: Path, overlay: Path):  # noqa: ANN202 - a DataFrame
    settings = load_settings(
        "local", conf_dir=REPO / "conf", overrides=[f"project.work_dir={work}"], overlays=(overlay,)
    )
    bind_settings(spark, settings, engine="delta-rs")
    return lake.read_table(spark, "pipeline_runs")


def test_a_task_graph_fails_resumes_and_retrains_on_an_alert(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    source = write_csv(tmp_path / "accounts.csv", HEADER, accounts(1, 800, seed=7))
    overlay = tmp_path / "mine.yml"
    init = ["init", "--source", str(source), "--id", "AcctNo", "--label", "Churn", "--positive", "Yes"]
    assert cli.main(command(work, None, *init, "--output", str(overlay))) == 0
    written = yaml.safe_load(overlay.read_text())
    overlay.write_text(yaml.safe_dump({**written, "pipelines": {"monthly": {"tasks": GRAPH}}}, sort_keys=False))
    capsys.readouterr()
    dated = ["--score-date", "2026-10-31"]

    # 1. no champion yet: score fails, monitor and retrain (its dependents) are skipped, train-classifier runs
    assert cli.main(command(work, overlay, "run", "monthly", *dated)) == 2
    out, err = capsys.readouterr()
    assert "run monthly: ingest, validate <- ingest, score <- validate" in out
    assert "SKIPPED: score failed" in out and "SKIPPED: monitor did not run" in out
    line = err.strip().splitlines()[-1]  # Spark's and xgboost's own stderr lines come before it
    assert line.startswith("customer-ml: error: run monthly: task score failed: ")
    assert line.endswith("resume with `customer-ml run monthly --from score`")
    first = runs(spark, work, overlay)
    assert [(task, status) for _, task, status in first] == [
        ("ingest", "succeeded"),
        ("validate", "succeeded"),
        ("score", "failed"),
        ("monitor", "skipped"),
        ("train-classifier", "succeeded"),
        ("retrain", "skipped"),
    ]
    assert len({run for run, _, _ in first}) == 1

    # 2. resumed at score, every feature alerting: the gated retrain runs, so the alert is handled: exit 0
    assert cli.main(command(work, overlay, "--set", ALWAYS, "run", "monthly", "--from", "score", *dated)) == 0
    assert "ALERT" in capsys.readouterr().out
    second = [(task, status) for run, task, status in runs(spark, work, overlay) if run != first[0][0]]
    assert second == [
        ("score", "succeeded"),
        ("monitor", "succeeded"),
        ("train-classifier", "succeeded"),
        ("retrain", "succeeded"),
    ]

    # 3. no alert: the retrain is skipped and says why
    quiet = [a for s in QUIET for a in ("--set", s)]
    assert cli.main(command(work, overlay, *quiet, "run", "monthly", "--from", "monitor", *dated)) == 0
    assert "SKIPPED: no alert from monitor" in capsys.readouterr().out

    # 4. an alert no `when: alert` task handles: exit 3, as `customer-ml monitor`
    assert cli.main(command(work, overlay, "--set", ALWAYS, "--set", "pipelines.check=[monitor]", "run", "check")) == 3
    capsys.readouterr()

    table = _table(spark, work, overlay)
    scored = table.where((F.col("task") == "score") & (F.col("status") == "succeeded")).first()
    assert (scored["input_table"], scored["output_table"]) == ("customers_validated", "scored_customers")
    assert scored["rows_in"] == scored["rows_out"] == 800 and scored["output_version"] is not None
    assert str(scored["score_date"]) == "2026-10-31" and scored["seconds"] > 0
    failed = table.where(F.col("status") == "failed").first()
    assert failed["task"] == "score" and failed["error"] and failed["summary"] is None
    query = "SELECT task, rows_in, rows_out FROM pipeline_runs WHERE task = 'monitor' ORDER BY started_at LIMIT 2"
    assert cli.main(command(work, overlay, "sql", query)) == 0  # integers with nulls print as integers
    assert capsys.readouterr().out.split() == [
        "task",
        "rows_in",
        "rows_out",
        "monitor",
        "<NA>",
        "<NA>",
        "monitor",
        "800",
        "<NA>",
    ]
    alerted = table.where(F.col("task") == "monitor").orderBy("started_at").select("alert").collect()
    assert [r["alert"] for r in alerted] == [False, True, False, True]  # skipped, alerting, quiet, alerting


def test_a_pipeline_graph_is_checked_before_anything_runs(tmp_path: Path) -> None:
    def settings(tasks: dict) -> Settings:
        overrides = [f"project.work_dir={tmp_path}", f"pipelines.p={{tasks: {tasks}}}"]
        return load_settings("local", conf_dir=REPO / "conf", overrides=overrides)

    assert [name for name, _ in plan(load_settings("local", conf_dir=REPO / "conf"), "full")] == [
        "ingest",
        "validate",
        "train-classifier",
        "train-segmenter",
        "score",
        "monitor",
    ]
    with pytest.raises(ConfigError, match=r"pipelines.p.tasks.a.depends_on: no task\(s\) \['b'\]"):
        plan(settings({"a": {"stage": "score", "depends_on": ["b"]}}), "p")
    with pytest.raises(ConfigError, match=r"pipelines.p.tasks.x: unknown stage 'x'"):
        plan(settings({"x": {}}), "p")
    with pytest.raises(ConfigError, match=r"pipelines.p: the tasks \['ingest', 'validate'\] depend on each other"):
        plan(settings({"ingest": {"depends_on": ["validate"]}, "validate": {"depends_on": ["ingest"]}}), "p")


def test_the_built_in_monthly_runs_after_a_retrain(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """conf/base's own pipelines, as the Databricks jobs run them: `monthly` before any model fails at score and
    says to resume there; after `retrain` (validate, both models) `monthly` scores and monitors this month."""
    work = tmp_path / "work"
    source = write_csv(tmp_path / "accounts.csv", HEADER, accounts(1, 600, seed=11))
    overlay = tmp_path / "mine.yml"
    init = ["init", "--source", str(source), "--id", "AcctNo", "--label", "Churn", "--positive", "Yes"]
    assert cli.main(command(work, None, *init, "--output", str(overlay))) == 0
    dated = ["--score-date", "2026-11-30"]
    capsys.readouterr()

    assert cli.main(command(work, overlay, "run", "monthly", *dated)) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("`customer-ml run monthly --from score`")
    assert cli.main(command(work, overlay, "run", "retrain")) == 0
    capsys.readouterr()
    assert cli.main(command(work, overlay, *[a for s in QUIET for a in ("--set", s)], "run", "monthly", *dated)) == 0
    out = capsys.readouterr().out
    assert "run monthly: ingest, validate <- ingest, score <- validate, monitor <- score" in out

    statuses = [(task, status) for _, task, status in runs(spark, work, overlay)]
    assert statuses == [
        ("ingest", "succeeded"),
        ("validate", "succeeded"),
        ("score", "failed"),
        ("monitor", "skipped"),
        ("validate", "succeeded"),
        ("train-classifier", "succeeded"),
        ("train-segmenter", "succeeded"),
        ("ingest", "succeeded"),
        ("validate", "succeeded"),
        ("score", "succeeded"),
        ("monitor", "succeeded"),
    ]
    scored = lake.read_table(spark, "scored_customers").where(F.col("score_date") == "2026-11-30")
    assert scored.count() == 600 and scored.where(F.col("segment_id").isNull()).count() == 0
