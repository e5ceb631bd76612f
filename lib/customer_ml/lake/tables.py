"""The lake API: every table read or write in customer-ml goes through these functions.

Table names resolve through the settings bound to the session (`tables.<name>.path` under `lake.root`, or
`tables.<name>.catalog_name`, which `lake.catalog` fills in for every table); the engine is the one `get_spark`
chose (native delta-spark or offline delta-rs). Catalog names are used by the native engine only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml.errors import (
    CommitConflictError,
    ConfigError,
    CustomerMLError,
    LakeError,
    SchemaMismatchError,
    TableNotFoundError,
    describe_failure,
)
from customer_ml.lake.engines import engine_for
from customer_ml.lake.plan import TableRef, WritePlan
from customer_ml.lake.schema import conform, enforce_schema
from customer_ml.logs import current_context
from customer_ml.session import bound_settings
from customer_ml.settings import TABLE_NAME, is_uri, resolve_location

logger = logging.getLogger(__name__)

WRITE_MODES = ("append", "overwrite", "overwrite_partitions", "merge")


def table_ref(spark: SparkSession, name: str) -> TableRef:
    """Resolve a configured table name.

    Raises:
        LakeError: the name is not under `tables:` in conf, or it is a catalog table on the offline engine.
    """
    settings = bound_settings(spark)
    table = settings.tables.get(name)
    if table is None:
        raise LakeError(
            f"table '{name}' is not configured; add tables.{name}.path (or catalog_name) to conf/base/lake.yml "
            f"(configured: {', '.join(sorted(settings.tables)) or 'none'})"
        )
    catalogs = engine_for(spark).catalogs
    catalog_name = table.catalog_name if catalogs else None
    if table.catalog_name and not catalogs and not table.path:
        raise LakeError(
            f"table '{name}' is a catalog table ({table.catalog_name}), which needs the native delta-spark engine; "
            f"add tables.{name}.path to use it with the offline engine"
        )
    location = resolve_location(table.path or name, settings.lake_root) if not catalog_name else None
    return TableRef(name, location, catalog_name, tuple(table.partition_by))


def table_path(spark: SparkSession, name: str) -> str:
    """The table's path or URI (for a catalog table, its catalog name)."""
    ref = table_ref(spark, name)
    return ref.location or ref.catalog_name or ""


def table_exists(spark: SparkSession, name: str) -> bool:
    return _exists(spark, table_ref(spark, name))


def _not_found(name: str, ref: TableRef) -> TableNotFoundError:
    return TableNotFoundError(
        f"table '{name}' does not exist at {ref.location or ref.catalog_name}; run the stage that writes it first"
    )


def _exists(spark: SparkSession, ref: TableRef) -> bool:
    return engine_for(spark).exists(ref)


def read_table(
    spark: SparkSession, name: str, *, version: int | None = None, timestamp: str | dt.datetime | None = None
) -> DataFrame:
    """Read a table, at its latest version or, with time travel, at a version or a timestamp.

    Args:
        spark: a session from `get_spark`.
        name: a table configured under `tables:`.
        version: a table version to read.
        timestamp: read the version current at this time (ISO string or datetime).

    Raises:
        TableNotFoundError: the table does not exist yet.
    """
    if version is not None and timestamp is not None:
        raise LakeError(f"read_table({name!r}): give version or timestamp, not both")
    ref = table_ref(spark, name)
    if not _exists(spark, ref):
        raise _not_found(name, ref)
    return engine_for(spark).read(ref, version, timestamp)


def read_snapshot(
    spark: SparkSession, name: str, *, required: Mapping[str, str] | None = None
) -> tuple[DataFrame, int]:
    """The table's latest version, pinned: (its rows at that version, the version), so that what a job records as
    its input (runs, results, commit metadata) is exactly what it read, even if a write lands meanwhile.

    Args:
        required: columns the caller needs, each with the setting that names it (e.g. {"cust_id":
            "data.id_column"}); a missing one fails before any work, naming the table, column and setting.

    Raises:
        TableNotFoundError: the table does not exist yet.
        ConfigError: a required column is missing.
    """
    version = int(history(spark, name, limit=1)[0]["version"])
    frame = read_table(spark, name, version=version)
    for column, setting in (required or {}).items():
        if column not in frame.columns:
            raise ConfigError(
                f"table {name} has no column {column} ({setting}); set {setting} to one of its columns "
                f"({', '.join(frame.columns)})"
            )
    return frame, version


def write_table(
    frame: DataFrame,
    name: str,
    *,
    mode: str,
    partition_by: Sequence[str] | None = None,
    partition_values: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    merge_keys: Sequence[str] | None = None,
    schema_mode: str | None = None,
) -> int:
    """Write a DataFrame to a table in ONE Delta commit; a failure at any point leaves the previous version.

    Args:
        frame: the rows to write.
        name: a table configured under `tables:`.
        mode: `append`; `overwrite` (replace all rows); `overwrite_partitions` (replace only the partitions in
            `partition_values`, or, when None, those present in `frame`); `merge` (upsert by `merge_keys`).
        partition_by: partition columns for a new table (default: `tables.<name>.partition_by`).
        partition_values: for overwrite_partitions, e.g. `{"score_date": "2024-01-31"}` or a list of them; rows
            outside them fail the write.
        merge_keys: key columns for merge.
        schema_mode: None (the frame must match the table), "merge" (add new columns) or "overwrite"
            (overwrite mode only: replace the schema).

    Returns:
        The table version the commit created.
    """
    spark = frame.sparkSession
    if mode not in WRITE_MODES:
        raise LakeError(f"write_table({name!r}): mode must be one of {', '.join(WRITE_MODES)}, got {mode!r}")
    if schema_mode == "overwrite" and mode != "overwrite":
        raise SchemaMismatchError(f"write_table({name!r}): schema_mode='overwrite' needs mode='overwrite'")
    untyped = [f.name for f in frame.schema.fields if isinstance(f.dataType, T.NullType)]
    if untyped:
        raise SchemaMismatchError(
            f"write_table({name!r}): columns {untyped} have no type (a bare NULL); cast them, e.g. "
            "F.lit(None).cast('string')"
        )
    ref = table_ref(spark, name)
    engine = engine_for(spark)
    exists = engine.exists(ref)
    existing_schema, existing_partitions = engine.layout(ref) if exists else (None, ())
    partition_columns = _partition_columns(ref, frame, partition_by, existing_partitions, exists)
    values = _as_list(partition_values)
    if mode == "overwrite_partitions" and not partition_columns:
        raise LakeError(f"write_table({name!r}): overwrite_partitions needs a partitioned table (set partition_by)")
    if mode == "merge" and not merge_keys:
        raise LakeError(f"write_table({name!r}): mode='merge' needs merge_keys, e.g. merge_keys=['<your key column>']")
    target = (
        frame.schema if existing_schema is None else enforce_schema(name, existing_schema, frame.schema, schema_mode)
    )
    target = T.StructType([T.StructField(f.name, f.dataType, True, f.metadata) for f in target.fields])
    rows = frame.selectExpr(*conform(frame.columns, target))
    plan = WritePlan(
        name=name,
        location=ref.location,
        catalog_name=ref.catalog_name,
        mode="append" if mode == "merge" else mode,  # a merge into a new table creates it
        schema=target,
        partition_by=partition_columns,
        partition_values=values,
        schema_mode=schema_mode,
        commit_info=_commit_info(name, mode),
        create=not exists,
    )
    try:
        if mode == "merge" and exists:
            return engine.merge(rows, plan, merge_keys, _count_unique_keys(rows, name, merge_keys))
        return engine.write(rows, plan)
    except CommitConflictError:
        if exists or mode not in ("append", "merge") or not _exists(spark, ref):
            raise
        # Two jobs appending to a table that neither found (their first results, say): the other created it;
        # adding to it is what this write meant. Once only: the table exists now.
        logger.info("table %s was created by a concurrent writer: appending to it", name)
        return write_table(
            frame, name, mode=mode, partition_by=partition_by, merge_keys=merge_keys, schema_mode=schema_mode
        )
    except CustomerMLError:
        raise
    except Exception as error:  # a full disk, a read-only lake, a failed task: name the table, keep one line
        where = ref.location or ref.catalog_name
        kept = "its previous version stands" if exists else "nothing written"
        raise LakeError(f"writing table {name} ({where}) failed, {kept}: {describe_failure(error)}") from error


def history(spark: SparkSession, name: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The table's commits, newest first: version, timestamp, operation, our job / stage / run id / mode, and
    `info`, every `customer_ml.*` field the commit recorded (e.g. figures a stage stored with the table)."""
    ref = table_ref(spark, name)
    if not _exists(spark, ref):
        raise _not_found(name, ref)
    return [_normalise_commit(entry) for entry in engine_for(spark).history(ref, limit)]


@dataclass(frozen=True)
class TableIdentity:
    """Which table a name is: where it lives (a folder or URI, or its catalog name) and its Delta table id."""

    location: str
    table_id: str


def identity(spark: SparkSession, name: str) -> TableIdentity:
    """Where the table `name` lives and its Delta id: what a training run records of its input."""
    ref = table_ref(spark, name)
    return TableIdentity(ref.location or ref.catalog_name or name, table_id(spark, name))


def table_id(spark: SparkSession, name: str) -> str:
    """The Delta table's id (its metaData id): the same for a copy or a move of the table, another for another
    table of the same name (a new lake, a table dropped and made again)."""
    ref = table_ref(spark, name)
    if not _exists(spark, ref):
        raise _not_found(name, ref)
    return engine_for(spark).table_id(ref)


def register_views(spark: SparkSession, unreadable: list[str] | None = None) -> list[str]:
    """Register every configured table that exists as a temporary view of its name (a snapshot of now); a table
    that does not read (a damaged log, say) is skipped with a warning naming it.

    Returns:
        The names registered.
    """
    registered = []
    for name in sorted(bound_settings(spark).tables):
        try:
            if table_exists(spark, name):
                read_table(spark, name).createOrReplaceTempView(name)
                registered.append(name)
                continue
        except Exception as error:  # noqa: BLE001 - one broken table must not hide the others
            logger.warning("view %s not registered: the table does not read (%s)", name, describe_failure(error))
            if unreadable is not None:
                unreadable.append(name)
        spark.catalog.dropTempView(name)  # a view of that name from earlier in the session must not answer
    logger.info("registered views: %s", ", ".join(registered) or "none")
    return registered


def tables_under_root(lake_root: str) -> list[str]:
    """The Delta tables in a local lake root's folders (those with a `_delta_log`), configured or not.

    A table a command was told about with `--table` (ingest of a second table, say) is not under `tables:` in conf;
    `sql` finds it here. Only folders whose name is a SQL identifier count; a URI root (s3, abfss, dbfs) is not
    listed: there the catalog or `tables:` names them.
    """
    if is_uri(lake_root):
        return []
    root = Path(lake_root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir() and TABLE_NAME.fullmatch(p.name))


def _partition_columns(
    ref: TableRef, frame: DataFrame, asked: Sequence[str] | None, existing: Sequence[str], exists: bool
) -> tuple[str, ...]:
    wanted = tuple(asked) if asked is not None else ref.partition_by
    if exists:
        if asked is not None and tuple(asked) != tuple(existing):
            raise LakeError(
                f"table {ref.name} is partitioned by {list(existing) or 'nothing'}, not {list(asked)}; drop "
                "partition_by or rebuild the table"
            )
        return tuple(existing)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise LakeError(f"table {ref.name}: partition column(s) {missing} are not in the data ({frame.columns})")
    return wanted


def _as_list(values: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]] | None:
    if values is None:
        return None
    return [values] if isinstance(values, Mapping) else list(values)


def _count_unique_keys(frame: DataFrame, name: str, keys: Sequence[str]) -> int:
    """The merge source's row count, in the same pass that checks every key is there once."""
    found = frame.groupBy(*keys).count().agg(F.sum("count").alias("rows"), F.max("count").alias("most")).first()
    if found is None or found["rows"] is None:
        return 0
    if found["most"] > 1:
        duplicated = frame.groupBy(*keys).count().where("count > 1").limit(3).collect()
        examples = ", ".join(str({k: row[k] for k in keys}) for row in duplicated)
        raise LakeError(
            f"merge into table {name}: the data holds several rows for the same key ({examples}); "
            "deduplicate it on the merge keys first"
        )
    return int(found["rows"])


def _commit_info(name: str, mode: str) -> dict[str, Any]:
    context = current_context()
    info = {f"customer_ml.{k}": str(v) for k, v in context.items()}
    info.update({"customer_ml.table": name, "customer_ml.mode": mode})
    return {**info, "userMetadata": json.dumps(info, sort_keys=True)}


def _normalise_commit(entry: Mapping[str, Any]) -> dict[str, Any]:
    ours = {k: v for k, v in entry.items() if str(k).startswith("customer_ml.")}
    if not ours and entry.get("userMetadata"):
        try:
            ours = json.loads(entry["userMetadata"])
        except (TypeError, ValueError):
            ours = {}
    timestamp = entry.get("timestamp")
    if isinstance(timestamp, int | float):
        timestamp = dt.datetime.fromtimestamp(timestamp / 1000, tz=dt.timezone.utc)
    return {
        "version": entry.get("version"),
        "timestamp": timestamp,
        "operation": entry.get("operation"),
        "operation_parameters": entry.get("operationParameters") or {},
        "job": ours.get("customer_ml.job"),
        "stage": ours.get("customer_ml.stage"),
        "run_id": ours.get("customer_ml.run_id"),
        "mode": ours.get("customer_ml.mode"),
        "info": dict(ours),
    }
