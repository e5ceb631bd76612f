"""Reliability catalogue (issue 13), kills: `kill -9` of the whole CLI (every process of its session: Python, the
JVM, Spark's Python daemon and workers) while a stage writes its table. The table keeps its previous version,
every value readable; the killed write's files stay in the folder, referenced by no commit (nothing reads them;
sweeping them is vacuum's job, issue 13 item 9); a rerun succeeds.

The writes are made to roll a file every 1,000 rows (`lake.target_file_rows`, and Arrow batches of 1,000 rows), so
that the first new data file on disk shows the write has started while most of it is still to come:
the kill lands in the middle of the write, not before or after it."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml import cli, lake
from customer_ml.session import bind_settings
from tests.conftest import TEST_OVERRIDES, make_settings
from tests.reliability.helpers import (
    Project,
    TableState,
    kill_when,
    labelled_rows,
    new_files,
    states,
)

pytestmark = pytest.mark.slow

# Files of 1,000 rows: Arrow batches of 1,000 rows reach the writer, which rolls a file at 1,000.
SMALL_FILES = ("lake.target_file_rows=1000", "spark.conf={spark.sql.execution.arrow.maxRecordsPerBatch: '1000'}")


def write_ids(files: frozenset[str]) -> set[str]:
    """The writes that files come from (`part-<task>-<attempt>-<write id>-<n>.snappy.parquet`)."""
    return {Path(f).name.split("-")[3] for f in files}


def same_rows(after: TableState | None, before: TableState | None) -> bool:
    """The same version with the same values (the killed write's files aside)."""
    if after is None or before is None:
        return False
    return (after.version, after.rows, after.fingerprint) == (before.version, before.rows, before.fingerprint)


def test_kill_9_during_generate_leaves_the_previous_version(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    settings = make_settings(work)
    options = [a for o in (f"project.work_dir={work}", *TEST_OVERRIDES) for a in ("--set", o)]
    assert cli.main([*options, "generate", "--rows", "1000", "--seed", "1"]) == 0
    before = states(spark, settings, "customers", "customers_truth")
    assert {n: (s.version, s.rows) for n, s in before.items() if s} == {
        "customers": (0, 1000),
        "customers_truth": (1, 1000),  # the rows, then a commit of the figures
    }
    folder = Path(lake.table_path(spark, "customers"))
    committed = new_files(folder, set())

    argv = [*options, *[a for o in SMALL_FILES for a in ("--set", o)], "generate", "--rows", "20000", "--seed", "2"]
    killed = kill_when([*argv, "--partitions", "4"], ready=lambda _: bool(new_files(folder, committed)))
    assert killed.code == -signal.SIGKILL
    assert "generate: started" in killed.err and "Traceback" not in killed.err

    after = states(spark, settings, "customers", "customers_truth")
    assert same_rows(after["customers"], before["customers"])
    assert after["customers_truth"] == before["customers_truth"]  # its write had not begun
    left = after["customers"].orphans
    assert len(write_ids(left)) == 1  # files of the killed write, which no commit references
    assert 0 < len(left) < 20  # killed while under way: 4 tasks of 5,000 rows make 20 files of 1,000

    capsys.readouterr()
    assert cli.main([*options, "generate", "--rows", "1000", "--seed", "2"]) == 0
    assert "generated 1,000 customers into customers (version 1)" in capsys.readouterr().out
    rerun = states(spark, settings, "customers", "customers_truth")
    assert (rerun["customers"].version, rerun["customers"].rows) == (1, 1000)
    assert rerun["customers"].fingerprint != before["customers"].fingerprint  # seed 2's rows
    assert (rerun["customers_truth"].version, rerun["customers_truth"].rows) == (3, 1000)
    assert rerun["customers"].orphans == left  # the rerun neither commits nor deletes the killed write's files
    bind_settings(spark, settings, engine="delta-rs")
    assert lake.read_table(spark, "customers", version=0).count() == 1000  # the old version still reads


def test_kill_9_during_score_leaves_the_previous_scores(
    spark: SparkSession, scorer: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    day = dt.date(2026, 5, 31)
    header = "id,region,amount,calls,empty,note"
    month = scorer.root / "month.csv"
    month.write_text(f"{header}\n" + labelled_rows(30_000, seed=6, first_id=10_000, label=None), encoding="utf-8")
    assert scorer.run(capsys, "ingest", "--path", str(month), "--table", "to_score").code == 0
    score = ("score", "--input-table", "to_score", "--score-date", day.isoformat())
    assert scorer.run(capsys, *score).code == 0
    settings = scorer.settings("to_score")
    before = states(spark, settings, "scored_customers", "upgrade_candidates")
    assert (before["scored_customers"].version, before["scored_customers"].rows) == (0, 30_000)
    folder = Path(lake.table_path(spark, "scored_customers"))
    committed = new_files(folder, set())

    argv = scorer.argv(*score, sets=SMALL_FILES)
    killed = kill_when(argv, ready=lambda _: bool(new_files(folder, committed)))
    assert killed.code == -signal.SIGKILL
    assert "score: scored rows = 30000" in killed.err and "Traceback" not in killed.err

    after = states(spark, settings, "scored_customers", "upgrade_candidates")
    assert same_rows(after["scored_customers"], before["scored_customers"])
    assert after["upgrade_candidates"] == before["upgrade_candidates"]
    left = after["scored_customers"].orphans
    assert len(write_ids(left)) == 1
    assert 0 < len(left) < 30  # killed while under way: the whole write is 30 files of 1,000 rows

    done = scorer.run(capsys, *score)
    assert done.code == 0, done.err[-3:]
    rerun = states(spark, settings, "scored_customers", "upgrade_candidates")
    assert (rerun["scored_customers"].version, rerun["scored_customers"].rows) == (1, 30_000)  # replaced, not added
    candidates = before["upgrade_candidates"].rows
    assert (rerun["upgrade_candidates"].version, rerun["upgrade_candidates"].rows) == (1, candidates)
    assert rerun["scored_customers"].orphans == left
