"""Issue 13 item 9: a killed write's files are cleaned by `vacuum`; small files are compacted by `optimize`.

A killed offline write leaves Parquet files no commit references in the table folder and, when it died after
Spark's commit, a manifest under `_customer_ml_staging/`. They are planted here as real files with old
modification times, next to a write "in progress" (the same, fresh), and vacuumed on real Delta tables.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from customer_ml import lake
from customer_ml.errors import LakeError
from customer_ml.settings import Settings
from tests.reliability.helpers import project

pytestmark = pytest.mark.slow

SCHEMA = "id long, name string, balance decimal(18,2), opened date, part string"
HOUR = 3600


def _rows(spark: SparkSession, first: int, count: int, part: str | None = None) -> DataFrame:
    rows = [
        (i, None if i % 3 == 0 else f"n{i}", Decimal(f"{i}.25"), dt.date(2020, 1, 1) + dt.timedelta(days=i), part)
        for i in range(first, first + count)
    ]
    return spark.createDataFrame(rows, SCHEMA)


def _files(table: Path) -> set[str]:
    return {str(p.relative_to(table)) for p in table.rglob("*") if p.is_file() and "_delta_log" not in p.parts}


def _live_files(table: Path) -> set[str]:
    return set(pa.table(DeltaTable(str(table)).get_add_actions(flatten=True))["path"].to_pylist())


def _plant(table: Path, name: str, like: Path, age_hours: float) -> str:
    """A real file no commit references, last modified `age_hours` ago; returns its path in the table folder."""
    target = table / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(like, target)
    stamp = time.time() - age_hours * HOUR
    os.utime(target, (stamp, stamp))
    return name


def _plant_killed_write(table: Path, write_id: str, age_hours: float) -> set[str]:
    """What a write killed before its commit leaves: a part file and its staging manifest (and the .tmp of one)."""
    data = next(p for p in sorted(table.glob("*.parquet")))
    part = _plant(table, f"part-00001-0-{write_id}-0000.snappy.parquet", data, age_hours)
    manifest = table / "_customer_ml_staging" / f"{write_id}.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"write_id": write_id, "adds": [{"path": part}]}), encoding="utf-8")
    stamp = time.time() - age_hours * HOUR
    os.utime(manifest, (stamp, stamp))
    return {part, f"_customer_ml_staging/{write_id}.json"}


def test_vacuum_deletes_a_killed_writes_files_and_nothing_a_retained_version_needs(
    spark: SparkSession, lake_settings: Settings
) -> None:
    lake.write_table(_rows(spark, 0, 6), "t", mode="overwrite")
    lake.write_table(_rows(spark, 6, 3), "t", mode="append")
    lake.write_table(_rows(spark, 20, 2), "t", mode="overwrite")  # v0 and v1's files removed now: still retained
    table = Path(lake.table_path(spark, "t"))
    versions = {v: sorted(lake.read_table(spark, "t", version=v).collect()) for v in (0, 1, 2)}
    assert [len(rows) for rows in versions.values()] == [6, 9, 2]
    referenced = _files(table)
    assert len(referenced) > len(_live_files(table))  # the removed files of v0 and v1 are still on disk

    killed = _plant_killed_write(table, "dead00000001", age_hours=200)
    running = _plant_killed_write(table, "live00000002", age_hours=1)  # a write in progress: too young to judge
    sizes = sum((table / path).stat().st_size for path in killed)

    preview = lake.vacuum(spark, "t", dry_run=True)
    assert set(preview.files) == killed
    assert preview.bytes == sizes
    assert preview.retain_hours == 168
    assert _files(table) == referenced | killed | running  # a dry run deletes nothing
    assert lake.history(spark, "t", limit=1)[0]["version"] == 2

    report = lake.vacuum(spark, "t")
    assert set(report.files) == killed
    assert report.bytes == sizes
    assert not report.dry_run
    assert _files(table) == referenced | running
    for version, rows in versions.items():
        assert sorted(lake.read_table(spark, "t", version=version).collect()) == rows
    assert lake.read_table(spark, "t").count() == 2

    again = lake.vacuum(spark, "t")
    assert again.files == ()
    assert _files(table) == referenced | running


def test_vacuum_below_the_safe_retention_needs_force(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(_rows(spark, 0, 4), "t", mode="overwrite")
    lake.write_table(_rows(spark, 4, 2), "t", mode="overwrite")
    table = Path(lake.table_path(spark, "t"))
    replaced = _files(table) - _live_files(table)
    assert replaced  # version 0's files, removed by the overwrite a moment ago

    with pytest.raises(LakeError) as refused:
        lake.vacuum(spark, "t", 24)
    message = str(refused.value)
    assert "\n" not in message
    assert "table t" in message
    assert "lake.vacuum_retain_hours" in message
    assert "--force" in message
    assert _files(table) >= replaced

    forced = lake.vacuum(spark, "t", 0, dry_run=True, force=True)
    assert set(forced.files) == replaced
    assert _files(table) >= replaced  # dry run
    lake.vacuum(spark, "t", 0, force=True)
    assert _files(table) == _live_files(table)
    assert lake.read_table(spark, "t").count() == 2


def test_optimize_compacts_small_appends_into_a_new_version_with_the_same_rows(
    spark: SparkSession, lake_settings: Settings
) -> None:
    frames = [_rows(spark, 10 * i, 5, part="a" if i % 2 else "b").coalesce(1) for i in range(6)]
    frames.append(_rows(spark, 100, 3, part=None).coalesce(1))  # one file per append
    for frame in frames:
        lake.write_table(frame, "p", mode="append")
    table = Path(lake.table_path(spark, "p"))
    before_files = _live_files(table)
    before_version = lake.history(spark, "p", limit=1)[0]["version"]
    before_rows = lake.read_table(spark, "p")
    assert len(before_files) == 7

    report = lake.optimize(spark, "p")

    after_files = _live_files(table)
    assert report.files_removed == 6  # the null partition held one file: nothing to compact there
    assert report.files_added == 2  # one per partition a and b
    assert len(after_files) == 3
    assert report.version == before_version + 1
    assert report.bytes_removed == sum((table / f).stat().st_size for f in before_files - after_files)
    newest = lake.history(spark, "p", limit=1)[0]
    assert (newest["version"], newest["operation"], newest["mode"]) == (report.version, "OPTIMIZE", "optimize")
    expected = functools.reduce(DataFrame.unionByName, frames)
    assert_df_equality(lake.read_table(spark, "p"), expected, ignore_row_order=True)
    assert_df_equality(lake.read_table(spark, "p", version=before_version), before_rows, ignore_row_order=True)

    assert lake.optimize(spark, "p").version is None  # nothing left to compact: no commit
    assert lake.history(spark, "p", limit=1)[0]["version"] == report.version
    assert lake.vacuum(spark, "p").files == ()  # the compacted-away files are within the retention
    assert_df_equality(lake.read_table(spark, "p", version=before_version), expected, ignore_row_order=True)


def test_cli_vacuum_and_optimize_every_table_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = project(tmp_path)
    for rows in ("1,a,1.5\n", "2,b,2.5\n3,c,3.5\n"):
        mine.source.write_text("id,x,amount\n" + rows, encoding="utf-8")
        assert mine.run(capsys, "ingest").code == 0  # two versions: the first one's file is replaced
    table = mine.work / "lakehouse" / "customers"
    killed = _plant_killed_write(table, "dead00000003", age_hours=400)
    kept = _files(table) - killed

    refused = mine.run(capsys, "vacuum", "--retain-hours", "1")
    assert refused.code == 2
    assert refused.last.startswith("customer-ml: error: vacuum: a retention of 1 hours is below Delta's safe 168")
    assert "lake.vacuum_retain_hours" in refused.last
    assert _files(table) == kept | killed

    preview = mine.run(capsys, "vacuum", "--dry-run")
    assert preview.code == 0
    lines = preview.out.splitlines()
    assert lines[0].startswith("customers: would remove 2 files (")
    assert lines[0].endswith(") that no version of the last 168 hours references")
    assert sorted(line.strip() for line in lines[1:]) == sorted(killed)
    assert _files(table) == kept | killed

    done = mine.run(capsys, "vacuum")
    assert done.code == 0
    assert done.out.startswith("customers: removed 2 files (")
    assert done.out.count("\n") == 1  # only the table that exists
    assert _files(table) == kept

    assert (
        mine.run(capsys, "vacuum", "--table", "customers").out == "customers: nothing to remove (retention 168 hours)\n"
    )
    assert mine.run(capsys, "optimize", "--table", "customers").out == "customers: nothing to compact\n"
    missing = mine.run(capsys, "optimize", "--table", "nosuch")
    assert missing.code == 2
    assert missing.last.startswith("customer-ml: error: table 'nosuch' does not exist at ")

    assert mine.run(capsys, "ingest", "--table", "extra", "--source", "accounts").code == 0  # not under tables:
    assert mine.run(capsys, "vacuum").out == (
        "customers: nothing to remove (retention 168 hours)\nextra: nothing to remove (retention 168 hours)\n"
    )
