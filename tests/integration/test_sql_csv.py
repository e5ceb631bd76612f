"""`customer-ml sql --output`: every row to one CSV by Spark, read back the same by pandas (quotes, commas and
line breaks inside values, nulls, dates), in the query's order, and a header alone for no rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from customer_ml.sql import write_csv


def test_rows_go_to_one_csv_that_pandas_reads_back(spark: SparkSession, tmp_path: Path) -> None:
    rows = [
        (i, f'name "{i}", with comma\nand a line' if i % 3 == 0 else None, dt.date(2026, 11, 30)) for i in range(500)
    ]
    frame = spark.createDataFrame(rows, "n int, text string, day date").repartition(4).orderBy("n")
    output = tmp_path / "out" / "rows.csv"
    assert write_csv(frame, output) == 500
    assert [p.name for p in output.parent.iterdir()] == ["rows.csv"]  # no staging folder left
    read = pd.read_csv(output, keep_default_na=True)
    assert read["n"].tolist() == list(range(500))
    assert read.loc[3, "text"] == 'name "3", with comma\nand a line' and pd.isna(read.loc[1, "text"])
    assert set(read["day"]) == {"2026-11-30"}


def test_no_rows_is_a_header(spark: SparkSession, tmp_path: Path) -> None:
    output = tmp_path / "empty.csv"
    assert write_csv(spark.createDataFrame([], "a int, b string"), output) == 0
    assert output.read_text(encoding="utf-8").splitlines() == ["a,b"]
