"""Issue 13 item 3: NaN and ±Infinity in a CSV cast to double and pass `>= 0` range rules; they must be caught by
default (every float column gets a finite check, quarantine) and never reach a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml import lake
from customer_ml.session import bind_settings
from tests.conftest import make_settings
from tests.reliability.helpers import project

pytestmark = pytest.mark.slow


def test_nan_and_infinity_are_quarantined_by_default(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path, rows="1,a,1.5\n2,b,NaN\n3,c,Infinity\n4,d,-Infinity\n5,e,\n")
    assert mine.run(capsys, "ingest").code == 0
    checked = mine.run(capsys, "validate")
    assert checked.code == 0 and "5 rows -> 2 validated, 3 quarantined" in checked.out
    bind_settings(spark, make_settings(mine.work, overlays=(mine.overlay,)), engine="delta-rs")
    quarantined = {r["id"]: list(r["_violations"]) for r in lake.read_table(spark, "customers_quarantine").collect()}
    assert quarantined == {2: ["finite(amount)"], 3: ["finite(amount)"], 4: ["finite(amount)"]}
    assert sorted(r["id"] for r in lake.read_table(spark, "customers_validated").collect()) == [1, 5]  # null is fine
