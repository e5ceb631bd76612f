"""The one place the Delta engine is chosen: `engine_for(spark)` gives the native delta-spark engine when the
session chose it (its classes on the classpath: clusters, Databricks) or the offline delta-rs engine, behind one
interface. `tables` and `maintenance` call the interface and never ask which engine runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from customer_ml.errors import LakeError, TableNotFoundError
from customer_ml.lake import delta_rs, native
from customer_ml.lake.plan import TableRef, WritePlan
from customer_ml.session import bound_settings, lake_engine


class Engine(Protocol):
    """What the lake asks of an engine; every table is given as a resolved `TableRef`."""

    catalogs: bool  # whether catalog names (tables.<name>.catalog_name) can be used

    def exists(self, ref: TableRef) -> bool: ...
    def read(self, ref: TableRef, version: int | None, timestamp: str | dt.datetime | None) -> DataFrame: ...
    def read_path(self, location: str, name: str) -> DataFrame: ...
    def layout(self, ref: TableRef) -> tuple[T.StructType, tuple[str, ...]]: ...
    def write(self, rows: DataFrame, plan: WritePlan) -> int: ...
    def merge(self, rows: DataFrame, plan: WritePlan, keys: Sequence[str], count: int) -> int: ...
    def history(self, ref: TableRef, limit: int | None) -> list[dict[str, Any]]: ...
    def table_id(self, ref: TableRef) -> str: ...
    def vacuum(
        self, ref: TableRef, hours: int, *, dry_run: bool, force: bool, info: Mapping[str, Any]
    ) -> tuple[list[str], int | None]: ...
    def optimize(self, ref: TableRef, info: Mapping[str, Any]) -> dict[str, Any]: ...


def engine_for(spark: SparkSession) -> Engine:
    """The engine this session writes and reads with (`lake_engine(spark)`: `spark` or `delta-rs`)."""
    return NativeEngine(spark) if lake_engine(spark) == "spark" else OfflineEngine(spark)


class NativeEngine:
    """delta-spark: path tables and catalog tables, merges and upkeep distributed by Spark."""

    catalogs = True

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def exists(self, ref: TableRef) -> bool:
        return native.exists(self.spark, ref.location, ref.catalog_name)

    def read(self, ref: TableRef, version: int | None, timestamp: str | dt.datetime | None) -> DataFrame:
        return native.read(self.spark, ref.location, ref.catalog_name, version=version, timestamp=timestamp)

    def read_path(self, location: str, name: str) -> DataFrame:
        return native.read(self.spark, location, None, version=None, timestamp=None)

    def layout(self, ref: TableRef) -> tuple[T.StructType, tuple[str, ...]]:
        return native.layout(self.spark, ref.location, ref.catalog_name)

    def write(self, rows: DataFrame, plan: WritePlan) -> int:
        return native.write(rows, plan)

    def merge(self, rows: DataFrame, plan: WritePlan, keys: Sequence[str], count: int) -> int:
        return native.merge(rows, plan, keys=keys)

    def history(self, ref: TableRef, limit: int | None) -> list[dict[str, Any]]:
        return native.history(self.spark, ref.location, ref.catalog_name, limit)

    def table_id(self, ref: TableRef) -> str:
        return native.table_id(self.spark, ref.location, ref.catalog_name)

    def vacuum(
        self, ref: TableRef, hours: int, *, dry_run: bool, force: bool, info: Mapping[str, Any]
    ) -> tuple[list[str], int | None]:
        files = native.vacuum(
            self.spark,
            ref.location,
            ref.catalog_name,
            hours,
            dry_run=dry_run,
            force=force,
            user_metadata=info["userMetadata"],
        )
        return files, None  # delta-spark does not report sizes

    def optimize(self, ref: TableRef, info: Mapping[str, Any]) -> dict[str, Any]:
        return native.optimize(self.spark, ref.location, ref.catalog_name, info["userMetadata"])


class OfflineEngine:
    """delta-rs under Spark: path tables only; Spark writes the Parquet files, delta-rs commits them."""

    catalogs = False

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def exists(self, ref: TableRef) -> bool:
        return delta_rs.exists(ref.location)

    def read(self, ref: TableRef, version: int | None, timestamp: str | dt.datetime | None) -> DataFrame:
        try:
            table = delta_rs.open_table(ref.location, version=version, timestamp=timestamp)
        except delta_rs.TableNotFoundError:
            raise TableNotFoundError(f"table '{ref.name}' does not exist at {ref.location}") from None
        return delta_rs.read(self.spark, table, ref.name)

    def read_path(self, location: str, name: str) -> DataFrame:
        return delta_rs.read(self.spark, delta_rs.open_table(location), name)

    def layout(self, ref: TableRef) -> tuple[T.StructType, tuple[str, ...]]:
        table = delta_rs.open_table(ref.location)
        return delta_rs.table_schema(table), tuple(table.metadata().partition_columns)

    def write(self, rows: DataFrame, plan: WritePlan) -> int:
        return delta_rs.write(rows, plan, target_file_rows=bound_settings(self.spark).lake.target_file_rows)

    def merge(self, rows: DataFrame, plan: WritePlan, keys: Sequence[str], count: int) -> int:
        limit = bound_settings(self.spark).lake.offline_merge_max_rows
        if count > limit:
            raise LakeError(
                f"merge into table {plan.name}: {count:,} rows exceed lake.offline_merge_max_rows ({limit:,}); the "
                "offline engine merges through the driver's memory. Replace the table instead (an ingest "
                "source's mode: overwrite), run where delta-spark is on the classpath (lake.engine: spark), or "
                "raise the limit if the driver has the memory"
            )
        return delta_rs.merge(rows, plan, keys=keys)

    def history(self, ref: TableRef, limit: int | None) -> list[dict[str, Any]]:
        return delta_rs.history(ref.location, limit)

    def table_id(self, ref: TableRef) -> str:
        return str(delta_rs.open_table(ref.location).metadata().id)

    def vacuum(
        self, ref: TableRef, hours: int, *, dry_run: bool, force: bool, info: Mapping[str, Any]
    ) -> tuple[list[str], int | None]:
        return delta_rs.vacuum(ref.location, ref.name, hours, dry_run=dry_run, force=force, commit_info=info)

    def optimize(self, ref: TableRef, info: Mapping[str, Any]) -> dict[str, Any]:
        return delta_rs.optimize(ref.location, ref.name, info)
