"""Issue 13 item 8: one table that does not read (a gap in its log) must not block SQL over the others."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.reliability.helpers import project

pytestmark = pytest.mark.slow


def test_a_table_with_a_gap_in_its_log_is_skipped_and_named(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path)
    for _ in range(3):
        assert mine.run(capsys, "ingest").code == 0  # versions 0, 1, 2
    assert mine.run(capsys, "validate").code == 0
    spark.range(20).createOrReplaceTempView("customers")  # a view of that name from earlier in the session
    log = mine.work / "lakehouse" / "customers" / "_delta_log"
    (log / "00000000000000000001.json").unlink()

    other = mine.run(capsys, "sql", "SELECT count(*) AS n FROM customers_validated")
    assert other.code == 0 and other.out.split() == ["n", "3"]
    warning = next(line for line in other.err if "view customers not registered" in line)
    assert warning.endswith(
        "the table does not read (cannot open Delta table "
        f"{mine.work / 'lakehouse' / 'customers'}: its _delta_log misses a commit file between versions 0 and 2: "
        "restore the file from a backup, or rebuild the table by rerunning the stage that writes it)"
    )
    broken = mine.run(capsys, "sql", "SELECT count(*) FROM customers")
    assert broken.code == 2 and broken.last.startswith("customer-ml: error: SQL error: [TABLE_OR_VIEW_NOT_FOUND]")
    assert broken.last.endswith("; not readable, see the warning: customers)")
