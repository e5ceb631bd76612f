"""The offline engine against real Delta files: round trips, outside clients in both directions, time travel, views."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import lake
from customer_ml.errors import LakeError, TableNotFoundError, UnsupportedTableError
from customer_ml.settings import Settings

ALL_TYPES = (
    "id long, name string, balance decimal(18,2), opened date, seen_at timestamp, active boolean, score double, "
    "nothing string, count int"
)
ROWS = [
    (
        1,
        "Ada",
        Decimal("1234.50"),
        dt.date(2020, 1, 31),
        dt.datetime(2024, 3, 1, 12, 30, 15, 123456),
        True,
        0.25,
        None,
        7,
    ),
    (2, None, Decimal("-0.01"), None, None, False, None, None, None),
    (3, "Zoë 'q'", None, dt.date(1999, 12, 31), dt.datetime(1970, 1, 1), None, float("nan"), None, -3),
]


def test_every_type_round_trips(spark: SparkSession, lake_settings: Settings) -> None:
    frame = spark.createDataFrame(ROWS, ALL_TYPES)
    version = lake.write_table(frame, "t", mode="overwrite")
    assert version == 0
    assert_df_equality(lake.read_table(spark, "t"), frame, ignore_row_order=True, allow_nan_equality=True)


def test_delta_rs_reads_what_we_wrote_with_identical_rows(spark: SparkSession, lake_settings: Settings) -> None:
    frame = spark.createDataFrame(ROWS, ALL_TYPES).drop("seen_at")
    partitioned = frame.withColumn("part", F.when(F.col("id") < 3, "a b:c/%").otherwise(None))
    lake.write_table(partitioned, "p", mode="overwrite")
    ours = DeltaTable(lake.table_path(spark, "p")).to_pandas().sort_values("id").reset_index(drop=True)
    expected = partitioned.toPandas().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours[expected.columns], expected, check_dtype=False)
    assert DeltaTable(lake.table_path(spark, "p")).metadata().partition_columns == ["part"]
    assert_df_equality(
        lake.read_table(spark, "p"),
        partitioned,
        ignore_row_order=True,
        allow_nan_equality=True,
        ignore_column_order=True,
    )


def test_spark_reads_a_table_written_by_an_outside_client(spark: SparkSession, lake_settings: Settings) -> None:
    path = lake.table_path(spark, "p")
    outside = pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "amount": pa.array([10.5, None, 3.0, 4.0]),
            "part": pa.array(["2024-01-31", "2024-01-31", "x y=z", None]),
        }
    )
    write_deltalake(path, outside, partition_by=["part"])
    write_deltalake(path, outside.slice(0, 1), mode="append")
    expected = spark.createDataFrame(
        [(1, 10.5, "2024-01-31"), (2, None, "2024-01-31"), (3, 3.0, "x y=z"), (4, 4.0, None), (1, 10.5, "2024-01-31")],
        "id long, amount double, part string",
    )
    assert_df_equality(lake.read_table(spark, "p"), expected, ignore_row_order=True, ignore_nullable=True)


def test_time_travel_by_version_and_timestamp(spark: SparkSession, lake_settings: Settings) -> None:
    first = spark.createDataFrame([(1, "v0")], "id long, tag string")
    second = spark.createDataFrame([(2, "v1")], "id long, tag string")
    lake.write_table(first, "t", mode="overwrite")
    lake.write_table(second, "t", mode="append")
    lake.write_table(second, "t", mode="overwrite")
    assert_df_equality(lake.read_table(spark, "t", version=0), first)
    assert_df_equality(lake.read_table(spark, "t", version=1), first.union(second), ignore_row_order=True)
    assert_df_equality(lake.read_table(spark, "t"), second)
    commits = {c["version"]: c["timestamp"] for c in lake.history(spark, "t")}
    assert_df_equality(lake.read_table(spark, "t", timestamp=commits[0]), first)
    assert_df_equality(
        lake.read_table(spark, "t", timestamp=commits[1].isoformat()), first.union(second), ignore_row_order=True
    )
    with pytest.raises(LakeError, match=r"cannot open Delta table .* at version 9"):
        lake.read_table(spark, "t", version=9)


def test_history_records_operation_stage_and_run_id(spark: SparkSession, lake_settings: Settings) -> None:
    from customer_ml.logs import job_context, stage

    frame = spark.createDataFrame([(1, "a")], "id long, tag string")
    with job_context(job="nightly", run_id="run-42"), stage("ingest"):
        lake.write_table(frame, "t", mode="overwrite")
    lake.write_table(frame, "t", mode="append")
    newest, oldest = lake.history(spark, "t")
    assert (oldest["version"], oldest["job"], oldest["stage"], oldest["run_id"], oldest["mode"]) == (
        0,
        "nightly",
        "ingest",
        "run-42",
        "overwrite",
    )
    assert (newest["version"], newest["stage"], newest["mode"]) == (1, "adhoc", "append")
    log = json.loads(
        Path(lake.table_path(spark, "t"), "_delta_log", "00000000000000000000.json").read_text().splitlines()[0]
    )
    assert json.loads(log["commitInfo"]["userMetadata"])["customer_ml.run_id"] == "run-42"


def test_empty_frames_create_and_append(spark: SparkSession, lake_settings: Settings) -> None:
    empty = spark.createDataFrame([], "id long, tag string")
    assert lake.write_table(empty, "t", mode="overwrite") == 0
    read_back = lake.read_table(spark, "t")
    assert read_back.count() == 0
    assert read_back.schema.simpleString() == "struct<id:bigint,tag:string>"
    assert lake.write_table(empty, "t", mode="append") == 1
    assert DeltaTable(lake.table_path(spark, "t")).to_pandas().shape == (0, 2)


def test_null_only_columns_keep_their_types(spark: SparkSession, lake_settings: Settings) -> None:
    frame = spark.createDataFrame([(1, None, None), (2, None, None)], "id long, note string, amount double")
    lake.write_table(frame, "t", mode="overwrite")
    assert_df_equality(lake.read_table(spark, "t"), frame, ignore_row_order=True)


def test_register_views_exposes_tables_to_sql(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(spark.createDataFrame([(1, "a"), (2, "b")], "id long, tag string"), "t", mode="overwrite")
    registered = lake.register_views(spark)
    assert "t" in registered
    assert "t2" not in registered  # configured but never written
    assert spark.sql("SELECT sum(id) AS total FROM t").collect()[0]["total"] == 3


def test_missing_and_unconfigured_tables_are_named(spark: SparkSession, lake_settings: Settings) -> None:
    for read in (lake.read_table, lake.read_snapshot, lake.history):
        with pytest.raises(TableNotFoundError, match=r"table 't2' does not exist at .*t2; run the stage"):
            read(spark, "t2")
    with pytest.raises(LakeError, match=r"table 'nope' is not configured; add tables.nope.path"):
        lake.read_table(spark, "nope")


def test_catalog_table_on_offline_engine_says_what_to_do(spark: SparkSession, tmp_path: Path) -> None:
    from customer_ml.session import bind_settings
    from tests.conftest import make_settings

    bind_settings(spark, make_settings(tmp_path, "tables.c.catalog_name=main.cml.c"), engine="delta-rs")
    with pytest.raises(LakeError, match=r"catalog table \(main.cml.c\).*add tables.c.path"):
        lake.read_table(spark, "c")


def test_column_mapping_table_is_refused_not_misread(spark: SparkSession, lake_settings: Settings) -> None:
    path = Path(lake.table_path(spark, "t"))
    write_deltalake(str(path), pa.table({"id": pa.array([1], pa.int64())}))
    log = path / "_delta_log" / "00000000000000000000.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    for action in actions:
        if "metaData" in action:
            action["metaData"]["configuration"]["delta.columnMapping.mode"] = "name"
    log.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    with pytest.raises(UnsupportedTableError, match=r"column mapping mode 'name'.*lake.engine: spark"):
        lake.read_table(spark, "t")


def test_file_statistics_are_exact_and_skip_unsafe_types(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(spark.createDataFrame(ROWS, ALL_TYPES).coalesce(1), "t", mode="overwrite")
    log = Path(lake.table_path(spark, "t"), "_delta_log", "00000000000000000000.json")
    adds = [json.loads(line)["add"] for line in log.read_text().splitlines() if '"add"' in line]
    assert len(adds) == 1
    stats = json.loads(adds[0]["stats"])
    assert stats["numRecords"] == 3
    assert stats["minValues"] == {"id": 1, "name": "Ada", "opened": "1999-12-31", "count": -3}
    assert stats["maxValues"] == {"id": 3, "name": "Zoë 'q'", "opened": "2020-01-31", "count": 7}
    assert stats["nullCount"] == {
        "id": 0,
        "name": 1,
        "balance": 1,
        "opened": 1,
        "seen_at": 1,
        "active": 1,
        "score": 1,
        "nothing": 3,
        "count": 1,
    }


def _file_scans(frame) -> list[str]:  # noqa: ANN001 - a DataFrame
    plan = frame._jdf.queryExecution().executedPlan().toString()
    return [line for line in plan.splitlines() if "FileScan parquet" in line]


def test_a_partitioned_table_is_one_scan_that_prunes_by_partition(spark: SparkSession, lake_settings: Settings) -> None:
    months = [dt.date(2026, m, 28) for m in (1, 2, 3, 4)]
    for month in months:  # score_date partitions accumulate, one write a month
        frame = spark.createDataFrame(
            [(i, month, float(i)) for i in range(5)], "id long, score_date date, score double"
        )
        lake.write_table(frame, "t", mode="append", partition_by=["score_date"])
    table = lake.read_table(spark, "t")
    assert table.columns == ["id", "score_date", "score"]
    assert sorted(tuple(r) for r in table.groupBy("score_date").count().collect()) == [(m, 5) for m in months]
    assert len(_file_scans(table)) == 1  # not one scan per month unioned
    march = table.where(F.col("score_date") == dt.date(2026, 3, 28))
    (scan,) = _file_scans(march)
    assert "PartitionFilters: [isnotnull(score_date" in scan and "= 2026-03-28" in scan, scan
    assert march.count() == 5 and {r["score_date"] for r in march.collect()} == {dt.date(2026, 3, 28)}


def test_files_outside_partition_folders_take_their_values_from_the_log(
    spark: SparkSession, lake_settings: Settings, tmp_path: Path
) -> None:
    """A writer that does not name folders after partition values (random prefixes, flat files): the log's
    values are the truth, not the folders."""
    import pyarrow.parquet as pq
    from deltalake import Schema as DeltaSchema
    from deltalake.transaction import AddAction, create_table_with_add_actions

    location = Path(lake.table_path(spark, "t2"))
    location.mkdir(parents=True)
    actions = []
    for name, region, ids in (("a1", "north", [1, 2]), ("b2", "south", [3]), ("c3", None, [4])):
        file = f"{name}.parquet"
        pq.write_table(pa.table({"id": pa.array(ids, pa.int64())}), location / file)
        size = (location / file).stat().st_size
        actions.append(AddAction(file, size, {"region": region}, 0, True, None))
    schema = DeltaSchema.from_json(
        json.dumps(
            {
                "type": "struct",
                "fields": [
                    {"name": "id", "type": "long", "nullable": True, "metadata": {}},
                    {"name": "region", "type": "string", "nullable": True, "metadata": {}},
                ],
            }
        )
    )
    create_table_with_add_actions(str(location), schema, actions, mode="error", partition_by=["region"])
    table = lake.read_table(spark, "t2")
    assert sorted((r["id"], r["region"]) for r in table.collect()) == [
        (1, "north"),
        (2, "north"),
        (3, "south"),
        (4, None),
    ]
    assert table.where(F.col("region") == "south").select("id").collect()[0]["id"] == 3
