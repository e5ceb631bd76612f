"""Issue 13 item 6: failures nobody raised on purpose (Spark, the file system) end as one line naming what and
where, exit 2; `-v` shows the traceback; validation records nothing for a run that could not read its input."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml import lake
from customer_ml.session import bind_settings
from tests.conftest import make_settings
from tests.reliability.helpers import project, tmpfs

pytestmark = pytest.mark.slow


def test_sql_runtime_errors_are_one_line_and_v_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path)
    assert mine.run(capsys, "ingest").code == 0
    divide = mine.run(capsys, "sql", "SELECT id / 0 AS x FROM customers")
    assert divide.code == 2 and divide.last.startswith("customer-ml: error: SQL error: [DIVIDE_BY_ZERO] Division")
    assert "Traceback" not in "\n".join(divide.err) and "SQLQueryContextLogger" not in "\n".join(divide.err)
    cast = mine.run(capsys, "sql", "SELECT CAST(x AS INT) AS n FROM customers")
    assert cast.code == 2 and cast.last.startswith("customer-ml: error: SQL error: [CAST_INVALID_INPUT] The value 'a'")
    verbose = mine.run(capsys, "-v", "sql", "SELECT id / 0 AS x FROM customers")
    assert verbose.code == 2 and "Traceback (most recent call last):" in verbose.err
    assert verbose.last.startswith("customer-ml: error: SQL error: [DIVIDE_BY_ZERO]")


def test_a_truncated_data_file_fails_validate_in_one_line_and_records_nothing(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path)
    assert mine.run(capsys, "ingest").code == 0
    assert mine.run(capsys, "validate").code == 0
    settings = make_settings(mine.work, overlays=(mine.overlay,))
    bind_settings(spark, settings, engine="delta-rs")
    results = lake.read_table(spark, "validation_results").count()
    validated = lake.history(spark, "customers_validated", limit=1)[0]["version"]

    [data_file] = Path(lake.table_path(spark, "customers")).glob("*.parquet")
    data_file.write_bytes(data_file.read_bytes()[:20])  # cut off mid-file, footer gone
    failed = mine.run(capsys, "validate")
    assert failed.code == 2 and "Traceback" not in "\n".join(failed.err)
    assert failed.last.startswith("customer-ml: error: [FAILED_READ_FILE")
    assert str(data_file) in failed.last and "rerun the stage that wrote the table" in failed.last

    bind_settings(spark, settings, engine="delta-rs")
    assert lake.read_table(spark, "validation_results").count() == results  # no junk "failed" rows
    assert lake.history(spark, "customers_validated", limit=1)[0]["version"] == validated


def test_a_full_disk_ends_in_one_line_and_leaves_no_files(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(1)
    rows = "".join(f"{i},{rng.random()},{rng.random()}\n" for i in range(150_000))  # ~6 MB of CSV
    with tmpfs(tmp_path / "disk", "1m") as disk:
        mine = project(tmp_path, rows, lake_root=disk / "lake")
        full = mine.run(capsys, "ingest")
        assert full.code == 2 and "Traceback" not in "\n".join(full.err)
        assert full.last == (
            f"customer-ml: error: writing table customers ({disk / 'lake' / 'customers'}) failed, nothing written: no "
            "space left on the device: free space, or point project.work_dir / lake.root elsewhere"
        )
        assert [p for p in (disk / "lake").rglob("*") if p.is_file()] == []  # no orphan part files


def test_a_read_only_lake_ends_in_one_line_and_the_table_stays(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        mine = project(tmp_path, lake_root=disk / "lake")
        assert mine.run(capsys, "ingest").code == 0
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        refused = mine.run(capsys, "ingest")
        assert refused.code == 2 and "Traceback" not in "\n".join(refused.err)
        assert refused.last.startswith(
            f"customer-ml: error: writing table customers ({disk / 'lake' / 'customers'}) failed, its previous "
            "version stands: read-only file system: point project.work_dir / lake.root at a writable place"
        )
        bind_settings(spark, make_settings(mine.work, overlays=(mine.overlay,)), engine="delta-rs")
        assert lake.read_table(spark, "customers").count() == 3
        assert lake.history(spark, "customers", limit=1)[0]["version"] == 0
