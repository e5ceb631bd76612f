"""The native engine: delta-spark, used whenever its classes are on the classpath (clusters, Databricks).

Path tables use `format("delta")`; catalog tables (`tables.<name>.catalog_name`) use `saveAsTable` / `table()`.
Partition overwrite is `replaceWhere` (or dynamic partition overwrite), upserts are `DeltaTable.merge`, and our
commit metadata goes into Delta's `userMetadata`. Vacuum and compaction are delta-spark's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

if TYPE_CHECKING:
    from customer_ml.lake.plan import WritePlan

_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


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
    with _session_conf(spark, {_USER_METADATA: plan.commit_info["userMetadata"]}):
        (
            _delta_table(spark, plan.location, plan.catalog_name)
            .alias("target")
            .merge(frame.alias("source"), condition)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
    return _latest_version(spark, plan.location, plan.catalog_name)


def vacuum(
    spark: SparkSession,
    location: str | None,
    catalog_name: str | None,
    retain_hours: int,
    *,
    dry_run: bool,
    force: bool,
    user_metadata: str,
) -> list[str]:
    """Delta's VACUUM: the files it deletes are listed first by `VACUUM … DRY RUN` (the Python API returns none).

    `force` lifts Delta's retention check (spark.databricks.delta.retentionDurationCheck.enabled) for this call.

    Returns:
        The files deleted (or, with `dry_run`, those that would be), as delta-spark reports them (absolute).
    """
    target = catalog_name or "delta.`" + str(location).replace("`", "``") + "`"
    conf = {_USER_METADATA: user_metadata, **({_RETENTION_CHECK: "false"} if force else {})}
    with _session_conf(spark, conf):
        listed = spark.sql(f"VACUUM {target} RETAIN {int(retain_hours)} HOURS DRY RUN").collect()
        if not dry_run:
            _delta_table(spark, location, catalog_name).vacuum(float(retain_hours))
    return [str(row["path"]) for row in listed]


def optimize(spark: SparkSession, location: str | None, catalog_name: str | None, user_metadata: str) -> dict:
    """Delta's OPTIMIZE (bin-packing compaction) in one commit.

    Returns:
        files_removed, files_added, bytes_removed, bytes_added, and version (None when nothing was compacted).
    """
    with _session_conf(spark, {_USER_METADATA: user_metadata}):
        result = _delta_table(spark, location, catalog_name).optimize().executeCompaction().collect()
    metrics = result[0]["metrics"].asDict(recursive=True) if result else {}
    removed, added = int(metrics.get("numFilesRemoved") or 0), int(metrics.get("numFilesAdded") or 0)
    return {
        "files_removed": removed,
        "files_added": added,
        "bytes_removed": int((metrics.get("filesRemoved") or {}).get("totalSize") or 0),
        "bytes_added": int((metrics.get("filesAdded") or {}).get("totalSize") or 0),
        "version": _latest_version(spark, location, catalog_name) if removed or added else None,
    }


def history(spark: SparkSession, location: str | None, catalog_name: str | None, limit: int | None) -> list[dict]:
    table = _delta_table(spark, location, catalog_name)
    frame = table.history(limit) if limit else table.history()
    return [row.asDict(recursive=True) for row in frame.collect()]


def table_id(spark: SparkSession, location: str | None, catalog_name: str | None) -> str:
    return str(_delta_table(spark, location, catalog_name).detail().first()["id"])


@contextlib.contextmanager
def _session_conf(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    """Set session configuration for the duration of one Delta command, then restore what was there."""
    previous = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


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
