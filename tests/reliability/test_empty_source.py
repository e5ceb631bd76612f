"""Issue 13 item 5: a header-only export must not silently empty a table that has rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml import cli, lake
from customer_ml.session import bind_settings
from tests.conftest import TEST_OVERRIDES, make_settings

pytestmark = pytest.mark.slow


def test_an_empty_source_refuses_to_replace_rows_unless_asked(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "accounts.csv"
    overlay = tmp_path / "mine.yml"
    overlay.write_text(
        f"ingest: {{sources: {{accounts: {{format: csv, path: '{source}', options: {{header: true}}, "
        "casts: {id: int}}}}\ndata: {id_column: id}\n",
        encoding="utf-8",
    )
    sets = [a for o in (f"project.work_dir={tmp_path / 'work'}", *TEST_OVERRIDES) for a in ("--set", o)]
    command = ["--overlay", str(overlay), *sets, "ingest"]

    source.write_text("id,x\n1,a\n2,b\n", encoding="utf-8")
    assert cli.main(command) == 0
    source.write_text("id,x\n", encoding="utf-8")  # header only
    capsys.readouterr()
    assert cli.main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the log goes to stderr too; the error is the last line
    assert "Traceback" not in "\n".join(err)
    assert err[-1:] == [
        "customer-ml: error: source(s) accounts hold no rows: refusing to replace table customers, which has rows, "
        "with nothing (nothing written); check the export, or pass --allow-empty to empty the table on purpose"
    ]
    settings = make_settings(tmp_path / "work", overlays=(overlay,))
    bind_settings(spark, settings, engine="delta-rs")
    assert lake.history(spark, "customers", limit=1)[0]["version"] == 0  # no commit
    assert lake.read_table(spark, "customers").count() == 2

    assert cli.main([*command, "--allow-empty"]) == 0
    bind_settings(spark, settings, engine="delta-rs")
    assert lake.read_table(spark, "customers").count() == 0
    assert cli.main(command) == 0  # an empty table may stay empty
