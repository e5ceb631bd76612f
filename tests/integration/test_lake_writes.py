"""Write modes of the offline engine: partition overwrite, schema enforcement, merge, failures, concurrency."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml import lake
from customer_ml.errors import LakeError, SchemaMismatchError
from customer_ml.lake import delta_rs
from customer_ml.session import bind_settings
from customer_ml.settings import Settings
from tests.conftest import make_settings

SCHEMA = "id long, amount double, part string"


def frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def versions(spark: SparkSession, name: str) -> list[int]:
    return [c["version"] for c in lake.history(spark, name)]


def data_files(spark: SparkSession, name: str) -> set[str]:
    return {str(p) for p in Path(lake.table_path(spark, name)).rglob("*.parquet")}


def test_overwrite_partitions_replaces_only_the_given_partition(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "jan"), (2, 2.0, "feb 24"), (3, 3.0, None)]), "p", mode="overwrite")
    lake.write_table(
        frame(spark, [(4, 40.0, "feb 24")]), "p", mode="overwrite_partitions", partition_values={"part": "feb 24"}
    )
    expected = frame(spark, [(1, 1.0, "jan"), (4, 40.0, "feb 24"), (3, 3.0, None)])
    assert_df_equality(lake.read_table(spark, "p"), expected, ignore_row_order=True)
    assert versions(spark, "p") == [1, 0]


def test_overwrite_partitions_without_values_replaces_those_written(
    spark: SparkSession, lake_settings: Settings
) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "jan"), (2, 2.0, "feb"), (3, 3.0, None)]), "p", mode="overwrite")
    lake.write_table(frame(spark, [(5, 5.0, "jan"), (6, 6.0, None)]), "p", mode="overwrite_partitions")
    expected = frame(spark, [(5, 5.0, "jan"), (2, 2.0, "feb"), (6, 6.0, None)])
    assert_df_equality(lake.read_table(spark, "p"), expected, ignore_row_order=True)


def test_rows_outside_the_partitions_fail_and_change_nothing(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "jan"), (2, 2.0, "feb")]), "p", mode="overwrite")
    files_before = data_files(spark, "p")
    with pytest.raises(
        LakeError, match=r"overwrite_partitions of table p: the data holds rows outside partition_values"
    ):
        lake.write_table(
            frame(spark, [(7, 7.0, "mar")]), "p", mode="overwrite_partitions", partition_values={"part": "feb"}
        )
    assert versions(spark, "p") == [0]
    assert data_files(spark, "p") == files_before


def test_schema_differences_are_listed(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "a")]), "t", mode="overwrite")
    wrong = spark.createDataFrame([(1, "x", 2)], "id string, note string, extra int")
    with pytest.raises(SchemaMismatchError) as raised:
        lake.write_table(wrong, "t", mode="append")
    message = str(raised.value)
    assert "missing column amount (double)" in message
    assert "missing column part (string)" in message
    assert "extra column note (string)" in message
    assert "column id is bigint in the table but string in the data" in message
    assert "schema_mode='merge'" in message
    assert versions(spark, "t") == [0]


def test_schema_merge_adds_columns_and_keeps_old_rows(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "a")]), "t", mode="overwrite")
    wider = spark.createDataFrame([("b", 2, 2.0, 9)], "part string, id long, amount double, segment int")
    lake.write_table(wider, "t", mode="append", schema_mode="merge")
    expected = spark.createDataFrame([(1, 1.0, "a", None), (2, 2.0, "b", 9)], f"{SCHEMA}, segment int")
    assert_df_equality(lake.read_table(spark, "t"), expected, ignore_row_order=True)
    with pytest.raises(SchemaMismatchError, match=r"cannot merge the schema of table t: column amount is double"):
        lake.write_table(wider.withColumn("amount", F.lit("x")), "t", mode="append", schema_mode="merge")


def test_columns_are_matched_by_name_not_position(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "a")]), "t", mode="overwrite")
    lake.write_table(frame(spark, [(2, 2.0, "b")]).select("part", "amount", "id"), "t", mode="append")
    assert_df_equality(lake.read_table(spark, "t"), frame(spark, [(1, 1.0, "a"), (2, 2.0, "b")]), ignore_row_order=True)


def test_merge_upserts_exact_rows(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "a"), (2, 2.0, "b"), (3, None, "c")]), "t", mode="overwrite")
    lake.write_table(frame(spark, [(2, 20.0, "B"), (4, 4.0, None)]), "t", mode="merge", merge_keys=["id"])
    expected = frame(spark, [(1, 1.0, "a"), (2, 20.0, "B"), (3, None, "c"), (4, 4.0, None)])
    assert_df_equality(lake.read_table(spark, "t"), expected, ignore_row_order=True)
    assert lake.history(spark, "t")[0]["operation"] == "MERGE"


def test_merge_into_a_new_table_creates_it(spark: SparkSession, lake_settings: Settings) -> None:
    rows = frame(spark, [(1, 1.0, "a")])
    assert lake.write_table(rows, "t", mode="merge", merge_keys=["id"]) == 0
    assert_df_equality(lake.read_table(spark, "t"), rows)


def test_merge_refuses_duplicate_source_keys(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "a")]), "t", mode="overwrite")
    with pytest.raises(LakeError, match=r"several rows for the same key \(\{'id': 2\}\)"):
        lake.write_table(frame(spark, [(2, 1.0, "x"), (2, 2.0, "y")]), "t", mode="merge", merge_keys=["id"])
    with pytest.raises(LakeError, match=r"mode='merge' needs merge_keys"):
        lake.write_table(frame(spark, [(2, 1.0, "x")]), "t", mode="merge")


def test_an_offline_merge_beyond_its_row_limit_is_refused_and_names_the_ways_out(
    spark: SparkSession, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "work", "tables.t.path=t", "lake.offline_merge_max_rows=2")
    bind_settings(spark, settings, engine="delta-rs")
    lake.write_table(frame(spark, [(1, 1.0, "a")]), "t", mode="overwrite")
    lake.write_table(frame(spark, [(1, 10.0, "a"), (2, 2.0, "b")]), "t", mode="merge", merge_keys=["id"])
    with pytest.raises(LakeError) as refused:
        lake.write_table(
            frame(spark, [(1, 9.0, "a"), (2, 9.0, "b"), (3, 9.0, "c")]), "t", mode="merge", merge_keys=["id"]
        )
    message = str(refused.value)
    assert "merge into table t: 3 rows exceed lake.offline_merge_max_rows (2)" in message
    assert "mode: overwrite" in message and "lake.engine: spark" in message
    assert versions(spark, "t") == [1, 0]  # nothing written
    assert sorted(tuple(r) for r in lake.read_table(spark, "t").collect()) == [(1, 10.0, "a"), (2, 2.0, "b")]


def test_a_task_failing_midway_leaves_the_previous_version(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(1, 1.0, "a")]), "t", mode="overwrite")
    files_before = data_files(spark, "t")

    @F.udf(T.DoubleType())
    def explode_on_999(identifier, amount):  # untyped: PySpark reads hints as a pandas UDF
        if identifier == 999:
            raise RuntimeError("simulated executor failure")
        return amount

    rows = spark.range(0, 1000, numPartitions=4).select(
        F.col("id"), explode_on_999("id", F.col("id").cast("double")).alias("amount"), F.lit("z").alias("part")
    )
    with pytest.raises(Exception, match="simulated executor failure"):
        lake.write_table(rows, "t", mode="overwrite")
    assert versions(spark, "t") == [0]
    assert_df_equality(lake.read_table(spark, "t"), frame(spark, [(1, 1.0, "a")]))
    assert data_files(spark, "t") == files_before  # the successful tasks' files were deleted by abort
    assert not list(Path(lake.table_path(spark, "t"), "_customer_ml_staging").glob("*.json"))


def test_the_sweep_after_a_failed_write_waits_for_its_straggling_tasks(spark: SparkSession, tmp_path: Path) -> None:
    # A task still finishing its file when the job fails must end before its files are swept (a CI failure).
    marker, tag = tmp_path / "straggler-done", "customer_ml-write-straggler-test"

    def straggle(rows):
        time.sleep(3)
        marker.touch()
        yield from rows

    def run_job() -> None:
        spark.sparkContext.addJobTag(tag)
        spark.sparkContext.parallelize([1], 1).mapPartitions(straggle).count()

    job = threading.Thread(target=run_job)
    job.start()
    tracker = spark.sparkContext._jsc.sc().statusTracker()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tracker.getJobIdsForTag(tag)):
        time.sleep(0.05)
    delta_rs._wait_for_tasks(spark, tag)
    assert marker.exists(), "the wait returned while the tagged job's task was still running"
    job.join()


def test_two_concurrent_appends_both_land(spark: SparkSession, lake_settings: Settings) -> None:
    lake.write_table(frame(spark, [(0, 0.0, "seed")]), "t", mode="overwrite")
    errors: list[BaseException] = []

    def append(start: int) -> None:
        try:
            lake.write_table(
                spark.range(start, start + 500, numPartitions=2).selectExpr(
                    "id", "cast(id AS double) AS amount", "'thread' AS part"
                ),
                "t",
                mode="append",
            )
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=append, args=(start,)) for start in (1000, 2000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert lake.read_table(spark, "t").count() == 1001
    assert sorted(versions(spark, "t")) == [0, 1, 2]


def test_bad_modes_and_partitioning_are_named(spark: SparkSession, lake_settings: Settings) -> None:
    rows = frame(spark, [(1, 1.0, "a")])
    with pytest.raises(
        LakeError, match=r"mode must be one of append, overwrite, overwrite_partitions, merge, got 'upsert'"
    ):
        lake.write_table(rows, "t", mode="upsert")
    with pytest.raises(LakeError, match=r"overwrite_partitions needs a partitioned table"):
        lake.write_table(rows, "t", mode="overwrite_partitions")
    lake.write_table(rows, "p", mode="overwrite")
    with pytest.raises(LakeError, match=r"table p is partitioned by \['part'\], not \['id'\]"):
        lake.write_table(rows, "p", mode="append", partition_by=["id"])
    with pytest.raises(LakeError, match=r"partition column\(s\) \['month'\] are not in the data"):
        lake.write_table(rows, "t2", mode="overwrite", partition_by=["month"])


def test_untyped_null_columns_are_refused_with_their_names(spark: SparkSession, lake_settings: Settings) -> None:
    rows = spark.range(3).withColumn("nothing", F.lit(None))
    with pytest.raises(SchemaMismatchError, match=r"columns \['nothing'\] have no type"):
        lake.write_table(rows, "t", mode="overwrite")
    assert not lake.table_exists(spark, "t")
