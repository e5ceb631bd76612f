"""Issue 13 item 13: bytes that are not UTF-8 are counted per column and reported (warning, CLI line, the commit),
and the encoding option the message names reads them right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml import lake
from customer_ml.session import bind_settings
from tests.conftest import make_settings
from tests.reliability.helpers import project

pytestmark = pytest.mark.slow


def test_latin1_bytes_are_counted_per_column_and_the_named_option_fixes_them(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path)
    mine.source.write_bytes("id,x,amount\n1,café,1.5\n2,bäär,2.5\n3,ok,3.5\n".encode("latin-1"))
    read = mine.run(capsys, "ingest")
    assert read.code == 0
    assert (
        "  not UTF-8 in source accounts (characters read as U+FFFD): x 3; set ingest.sources.accounts.options."
        "encoding (e.g. iso-8859-1) if the file has another encoding"
    ) in read.out.splitlines()
    assert any("source accounts, column x: 3 character(s) were not UTF-8" in line for line in read.err)
    settings = make_settings(mine.work, overlays=(mine.overlay,))
    bind_settings(spark, settings, engine="delta-rs")
    [commit] = lake.history(spark, "customers", limit=1)
    assert json.loads(commit["info"]["customer_ml.not_utf8"]) == {"accounts": {"x": 3}}

    fixed = mine.run(capsys, "--set", "ingest.sources.accounts.options={header: true, encoding: iso-8859-1}", "ingest")
    assert fixed.code == 0 and "not UTF-8" not in fixed.out
    bind_settings(spark, settings, engine="delta-rs")
    assert sorted(r["x"] for r in lake.read_table(spark, "customers").collect()) == ["bäär", "café", "ok"]
