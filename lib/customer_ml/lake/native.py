"""The native engine: delta-spark, used whenever its classes are on the classpath (clusters, Databricks).

Path tables use `format("delta")`; catalog tables (`tables.<name>.catalog_name`) use `saveAsTable` / `table()`.
Partition overwrite is `replaceWhere` (or dynamic partition overwrite), upserts are `DeltaTable.merge`, and our
commit metadata goes into Delta's `userMetadata`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

if TYPE_CHECKING:
    from customer_ml.lake.tables import WritePlan


def _delta_table(spark: SparkSession, location: str | None, catalog_name: str | None) -> Any:
    from delta.tables import DeltaTable

    return DeltaTable.forName(spark, catalog_name) if catalog_name else DeltaTable.forPath(spark, location)


def exists(spark: SparkSession, location: str | None, catalog_name: str | None) -> bool:
    if catalog_name:
        return spark.catalog.tableExists(catalog_name)
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, location)


def read(
    spark: SparkSession,
    location: str | None,
    catalog_name: str | None,
    *,
    version: int | None,
    timestamp: str | dt.datetime | None,
) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    if timestamp is not None:
        reader = reader.option(
            "timestampAsOf", timestamp.isoformat() if isinstance(timestamp, dt.datetime) else timestamp
        )
    return reader.table(catalog_name) if catalog_name else reader.load(location)


def layout(spark: SparkSession, location: str | None, catalog_name: str | None) -> tuple[T.StructType, tuple[str, ...]]:
    """The table's schema and partition columns."""
    detail = _delta_table(spark, location, catalog_name).detail().collect()[0]
    schema = (spark.table(catalog_name) if catalog_name else spark.read.format("delta").load(location)).schema
    return schema, tuple(detail["partitionColumns"])


def write(frame: DataFrame, plan: WritePlan) -> int:
    writer = frame.write.format("delta").option("userMetadata", plan.commit_info["userMetadata"])
    if plan.schema_mode == "merge":
        writer = writer.option("mergeSchema", "true")
    if plan.schema_mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if plan.partition_by:
        writer = writer.partitionBy(*plan.partition_by)
    if plan.mode == "overwrite_partitions":
        writer = writer.mode("overwrite")
        if plan.partition_values:
            writer = writer.option("replaceWhere", _predicate(plan.partition_by, plan.partition_values))
        else:
            writer = writer.option("partitionOverwriteMode", "dynamic")
    else:
        writer = writer.mode(plan.mode)
    if plan.catalog_name:
        writer.saveAsTable(plan.catalog_name)
    else:
        writer.save(plan.location)
    return _latest_version(frame.sparkSession, plan.location, plan.catalog_name)


def merge(frame: DataFrame, plan: WritePlan, *, keys: Sequence[str]) -> int:
    spark = frame.sparkSession
    condition = " AND ".join(f"target.`{k}` = source.`{k}`" for k in keys)
    key = "spark.databricks.delta.commitInfo.userMetadata"
    previous = spark.conf.get(key, None)
    spark.conf.set(key, plan.commit_info["userMetadata"])
    try:
        (
            _delta_table(spark, plan.location, plan.catalog_name)
            .alias("target")
            .merge(frame.alias("source"), condition)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)
    return _latest_version(spark, plan.location, plan.catalog_name)


def history(spark: SparkSession, location: str | None, catalog_name: str | None, limit: int | None) -> list[dict]:
    table = _delta_table(spark, location, catalog_name)
    frame = table.history(limit) if limit else table.history()
    return [row.asDict(recursive=True) for row in frame.collect()]


def _latest_version(spark: SparkSession, location: str | None, catalog_name: str | None) -> int:
    return int(_delta_table(spark, location, catalog_name).history(1).collect()[0]["version"])


def _predicate(partition_by: Sequence[str], values: Sequence[Mapping[str, Any]]) -> str:
    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        return "'" + str(value).replace("'", "''") + "'"

    def one(entry: Mapping[str, Any]) -> str:
        return " AND ".join(
            f"`{c}` IS NULL" if entry.get(c) is None else f"`{c}` = {literal(entry.get(c))}" for c in partition_by
        )

    return " OR ".join(f"({one(entry)})" for entry in values)
