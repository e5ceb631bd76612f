"""The offline Delta engine: delta-rs owns the transaction log, Spark reads and writes the Parquet data.

- read: delta-rs resolves the snapshot (latest, a version or a timestamp) to its data files and partition values;
  Spark's native Parquet reader scans them with the Delta schema, and partition values come from the log.
- write: `arrow_sink.DeltaRsSink` writes the files from the Spark tasks; this module commits all of them in one
  delta-rs transaction (append, overwrite, or overwrite of chosen partitions) with our commit metadata.
- merge: delta-rs merge with the source collected through the driver as Arrow (see `merge`).
- vacuum / optimize: delta-rs's full vacuum plus our staging folder; delta-rs compaction (see each).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake import Field as DeltaField
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions
from pyarrow import fs as pafs
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml.errors import CommitConflictError, LakeError, UnsupportedTableError
from customer_ml.lake import arrow_sink
from customer_ml.lake.schema import spark_schema_from_delta_json
from customer_ml.session import is_connect

if TYPE_CHECKING:
    from customer_ml.lake.plan import WritePlan

logger = logging.getLogger(__name__)

# Reader features this engine honours. deletionVectors only while no file carries one; columnMapping only in mode none.
_SINK_REGISTERED = "customer_ml.lake.sink_registered"
STAGING = "_customer_ml_staging"  # the write manifests, in the table folder; Delta's vacuum skips `_` folders
_SAFE_READER_FEATURES = {"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck", "deletionVectors", "columnMapping"}


def exists(location: str) -> bool:
    return DeltaTable.is_deltatable(location)


def open_table(location: str, version: int | None = None, timestamp: str | dt.datetime | None = None) -> DeltaTable:
    """The delta-rs table at `location`, at the latest version or the one asked for."""
    try:
        table = DeltaTable(location, version=version)
        if timestamp is not None:
            table.load_as_version(timestamp)
        return table
    except TableNotFoundError:
        raise
    except (DeltaError, ValueError, OSError) as error:
        at = f" at version {version}" if version is not None else f" at {timestamp}" if timestamp is not None else ""
        raise LakeError(f"cannot open Delta table {location}{at}: {_short(str(error))}") from None


def _short(message: str) -> str:
    """delta-rs's kernel errors print whole structs; a gap in the log is said in words, anything else is cut."""
    if "found gap" in message:
        commits = re.findall(r'filename: "(\d+)\.json"', message)
        between = f" between versions {int(commits[0])} and {int(commits[-1])}" if len(commits) >= 2 else ""
        return (
            f"its _delta_log misses a commit file{between}: restore the file from a backup, or rebuild the table by "
            "rerunning the stage that writes it"
        )
    first = message.strip().splitlines()[0] if message.strip() else message
    return first if len(first) <= 300 else first[:300] + " …"


def table_schema(table: DeltaTable) -> T.StructType:
    return spark_schema_from_delta_json(table.schema().to_json())


def read(spark: SparkSession, table: DeltaTable, name: str) -> DataFrame:
    """Scan a snapshot's files with Spark's Parquet reader; partition columns are restored from the log."""
    _check_readable(table, name)
    schema = table_schema(table)
    partition_columns = list(table.metadata().partition_columns)
    data_schema = T.StructType([f for f in schema.fields if f.name not in partition_columns])
    root = table.table_uri.rstrip("/")
    adds = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    if not adds:
        return spark.createDataFrame([], schema)
    if not partition_columns or all(_hive_layout(add, partition_columns) for add in adds):
        # One scan over every file: Spark takes the partition values from the folder names (typed by the schema)
        # and prunes files by them when a query filters on a partition column.
        files = [_file_location(root, add["path"]) for add in adds]
        return spark.read.schema(schema).option("basePath", root).parquet(*files).select(*schema.fieldNames())
    # Files outside `column=value/` folders (a writer with random prefixes): one scan per partition, values from
    # the log.
    groups: dict[tuple, list[str]] = {}
    for add in adds:
        key = tuple(add.get(f"partition.{c}") for c in partition_columns)
        groups.setdefault(key, []).append(_file_location(root, add["path"]))
    scans = []
    for key, files in groups.items():
        scan = spark.read.schema(data_schema).parquet(*files)
        for column, value in zip(partition_columns, key, strict=True):
            scan = scan.withColumn(column, F.lit(value).cast(schema[column].dataType))
        scans.append(scan.select(*schema.fieldNames()))
    frame = scans[0]
    for scan in scans[1:]:
        frame = frame.unionByName(scan)
    return frame


def write(frame: DataFrame, plan: WritePlan, *, target_file_rows: int) -> int:
    """Write `frame` (already conformed to `plan.schema`) as one Delta commit; returns the new table version."""
    location = plan.location.rstrip("/")
    write_id = uuid.uuid4().hex[:12]
    manifest = f"{location}/{STAGING}/{write_id}.json"
    allowed = None
    if plan.mode == "overwrite_partitions" and plan.partition_values is not None:
        allowed = [[arrow_sink._partition_string(v.get(c)) for c in plan.partition_by] for v in plan.partition_values]
    sink_options = {
        "root": location,
        "write_id": write_id,
        "manifest": manifest,
        "partition_by": json.dumps(list(plan.partition_by)),
        "allowed_partitions": json.dumps(allowed),
        "target_file_rows": str(target_file_rows),
    }
    spark = frame.sparkSession
    _register_sink(spark)
    tag = f"customer_ml-write-{write_id}"
    connect = is_connect(spark)
    if connect:
        spark.addTag(tag)
    else:
        spark.sparkContext.addJobTag(tag)
    try:
        frame.write.format(arrow_sink.FORMAT_NAME).mode("append").options(**sink_options).save()
    except Exception as error:
        if not connect:  # over Spark Connect no status tracker is reachable: a late task's file waits for vacuum
            _wait_for_tasks(spark, tag)
        _delete_orphans(location, write_id)
        if arrow_sink.PartitionOutsideTargetError.__name__ in str(error):
            raise LakeError(
                f"overwrite_partitions of table {plan.name}: the data holds rows outside partition_values "
                f"{plan.partition_values}; filter the data or widen partition_values"
            ) from None
        raise
    finally:
        if connect:
            spark.removeTag(tag)
        else:
            spark.sparkContext.removeJobTag(tag)
    adds = _read_manifest(manifest)
    try:
        version = _commit(plan, adds)
    except BaseException:
        _delete_files(location, adds)
        raise
    finally:
        _remove(manifest)
    logger.info("%s: committed version %d (%s, %d files)", plan.name, version, plan.mode, len(adds))
    return version


def merge(frame: DataFrame, plan: WritePlan, *, keys: Sequence[str]) -> int:
    """Upsert `frame` into the table by `keys`: matching rows are updated, new keys inserted.

    delta-rs merges an Arrow source in the driver: the source is collected through the driver (it must fit in
    its memory), while the target is read and rewritten by delta-rs. Fine for incremental upserts of up to a few
    million rows; rebuild larger tables with mode overwrite.
    """
    source = frame.toArrow()
    predicate = " AND ".join(f"target.`{k}` = source.`{k}`" for k in keys)
    table = DeltaTable(plan.location)
    try:
        result = (
            table.merge(
                source,
                predicate=predicate,
                source_alias="source",
                target_alias="target",
                commit_properties=CommitProperties(custom_metadata=plan.commit_info),
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    except CommitFailedError as error:
        raise CommitConflictError(f"merge into table {plan.name} lost a race with another writer: {error}") from None
    version = table.version()
    logger.info("%s: merged into version %d (%s)", plan.name, version, result)
    return version


def history(location: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The commits, newest first, each timestamped as time travel sees it: the commit file's modification time.

    The commitInfo timestamp is taken before the file is written and can be a millisecond earlier, so reading
    "as of" it could return the previous version (a flaky time-travel test showed it). Delta Spark's history
    reports the file time too. A commit whose file is gone (log cleanup) keeps its commitInfo timestamp.
    """
    entries = DeltaTable(location).history(limit)
    filesystem, root = arrow_sink._filesystem(location.rstrip("/"))
    paths = [f"{root}/_delta_log/{int(entry['version']):020d}.json" for entry in entries]
    for entry, info in zip(entries, filesystem.get_file_info(paths), strict=True):
        if info.type == pafs.FileType.File and info.mtime_ns is not None:
            entry["timestamp"] = info.mtime_ns // 1_000_000
    return entries


def vacuum(
    location: str, name: str, retain_hours: int, *, dry_run: bool, force: bool, commit_info: Mapping[str, Any]
) -> tuple[list[str], int]:
    """Delete the files no version of the last `retain_hours` hours references: data files replaced longer ago,
    Parquet files no commit ever referenced (a killed write's) and our staging manifests, each older than that.

    delta-rs's full vacuum lists the whole folder (a plain vacuum only sees files the log removed) and judges an
    unreferenced file by its modification time, so the files of a write still running are kept; it skips folders
    starting with `_`, so `_customer_ml_staging/` is swept here by the same rule.

    Returns:
        The files deleted (or, with `dry_run`, those that would be), relative to the table folder, and their bytes.
    """
    filesystem, root = arrow_sink._filesystem(location.rstrip("/"))
    found = [
        info
        for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        if info.is_file
    ]
    sizes = {info.path[len(root) + 1 :]: info.size or 0 for info in found}
    cutoff_ns = time.time_ns() - retain_hours * 3_600_000_000_000
    staging = [
        info
        for info in found
        if info.path[len(root) + 1 :].startswith(f"{STAGING}/")
        and info.mtime_ns is not None
        and info.mtime_ns < cutoff_ns
    ]
    table = DeltaTable(location)
    try:
        stale = table.vacuum(
            retention_hours=retain_hours,
            dry_run=dry_run,
            enforce_retention_duration=not force,
            full=True,
            commit_properties=CommitProperties(custom_metadata=dict(commit_info)),
        )
    except DeltaError as error:
        if "retention" not in str(error).lower():
            raise
        raise LakeError(
            f"vacuum of table {name}: {error} (the table's delta.deletedFileRetentionDuration); pass a longer "
            "--retain-hours, or --force"
        ) from None
    if not dry_run:
        for info in staging:
            arrow_sink._delete(filesystem, info.path)
    files = [*stale, *(info.path[len(root) + 1 :] for info in staging)]
    return files, sum(sizes.get(path, 0) for path in files)


def optimize(location: str, name: str, commit_info: Mapping[str, Any]) -> dict[str, Any]:
    """Compact small files with delta-rs (bins of about `delta.targetFileSize`, default 100 MB, per partition) in
    one commit: the same rows in fewer files; the replaced files stay for time travel until vacuumed.

    delta-rs rewrites the files in this process (streamed, not through Spark's executors).

    Returns:
        files_removed, files_added, bytes_removed, bytes_added, and version (None when nothing was compacted).
    """
    table = DeltaTable(location)
    try:
        metrics = table.optimize.compact(commit_properties=CommitProperties(custom_metadata=dict(commit_info)))
    except CommitFailedError as error:
        raise CommitConflictError(
            f"optimize of table {name} conflicts with a concurrent commit ({error}); nothing changed, rerun it"
        ) from None
    removed, added = (_size_metrics(metrics.get(key)) for key in ("filesRemoved", "filesAdded"))
    changed = bool(metrics["numFilesRemoved"] or metrics["numFilesAdded"])
    return {
        "files_removed": int(metrics["numFilesRemoved"]),
        "files_added": int(metrics["numFilesAdded"]),
        "bytes_removed": int(removed.get("totalSize", 0)),
        "bytes_added": int(added.get("totalSize", 0)),
        "version": table.version() if changed else None,
    }


def _size_metrics(value: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    """delta-rs reports filesAdded / filesRemoved as JSON text."""
    if isinstance(value, str):
        return json.loads(value)
    return value or {}


def _commit(plan: WritePlan, adds: list[dict[str, Any]]) -> int:
    """Commit the written files. One commit, except when an append adds columns (see `_add_columns`)."""
    actions: list[AddAction | RemoveAction] = [
        AddAction(a["path"], a["size"], a["partition_values"], a["modification_time"], True, a["stats"]) for a in adds
    ]
    delta_schema = DeltaSchema.from_json(plan.schema.json())
    properties = CommitProperties(custom_metadata=plan.commit_info)
    partitions = list(plan.partition_by) or None
    try:
        if plan.create:
            create_table_with_add_actions(
                plan.location,
                delta_schema,
                actions,
                mode="error",
                partition_by=partitions,
                commit_properties=properties,
            )
            return 0
        table = DeltaTable(plan.location)
        current = table_schema(table)
        if plan.mode == "overwrite" and current != plan.schema:
            metadata = table.metadata()  # a new schema: replace rows and schema in one commit, keep the properties
            create_table_with_add_actions(
                plan.location,
                delta_schema,
                actions,
                mode="overwrite",
                partition_by=partitions,
                name=metadata.name,
                description=metadata.description,
                configuration=metadata.configuration,
                commit_properties=properties,
            )
        else:
            if current != plan.schema:
                _add_columns(table, current, plan.schema, plan.commit_info)
            if plan.mode == "overwrite_partitions":
                targets = _target_partitions(plan.partition_by, adds, plan.partition_values)
                actions += _removes(table, plan.partition_by, targets)
            table.create_write_transaction(
                actions,
                "overwrite" if plan.mode == "overwrite" else "append",
                delta_schema,
                partition_by=partitions,
                commit_properties=properties,
            )
        table.update_incremental()
        return table.version()
    except CommitFailedError as error:
        raise CommitConflictError(
            f"{plan.mode} of table {plan.name} conflicts with a concurrent commit ({error}); "
            "nothing was written, rerun the job"
        ) from None
    except DeltaError as error:
        if "already exists" in str(error).lower() and plan.create:
            raise CommitConflictError(
                f"table {plan.name} was created by another writer while this write ran; "
                "nothing was written, rerun the job"
            ) from None
        raise LakeError(f"commit to table {plan.name} failed: {error}") from None


def _add_columns(
    table: DeltaTable, current: T.StructType, schema: T.StructType, commit_info: Mapping[str, Any]
) -> None:
    """Schema evolution for appends: delta-rs write transactions cannot change the schema, so new columns are added
    in a metadata-only commit just before the data commit (if that then fails, the table keeps its rows and gains
    empty columns)."""
    known = set(current.fieldNames())
    fields = [DeltaField.from_json(f.json()) for f in schema.fields if f.name not in known]
    info = {**commit_info, "customer_ml.mode": "add_columns"}
    table.alter.add_columns(fields, commit_properties=CommitProperties(custom_metadata=info))


def _target_partitions(
    partition_by: Sequence[str], adds: list[dict[str, Any]], given: Sequence[Mapping[str, Any]] | None
) -> set[tuple]:
    """The partitions an overwrite_partitions replaces: those given, else those the write produced."""
    if given:
        return {tuple(arrow_sink._partition_string(v.get(c)) for c in partition_by) for v in given}
    return {tuple(a["partition_values"][c] for c in partition_by) for a in adds}


def _removes(table: DeltaTable, partition_by: Sequence[str], targets: set[tuple]) -> list[RemoveAction]:
    """Remove actions for every live file in the target partitions (exact for nulls and multi-column partitions)."""
    now = int(time.time() * 1000)
    removes = []
    for add in pa.table(table.get_add_actions(flatten=True)).to_pylist():
        values = tuple(arrow_sink._partition_string(add.get(f"partition.{c}")) for c in partition_by)
        if values in targets:
            partition = dict(zip(partition_by, values, strict=True))
            removes.append(RemoveAction(unquote(add["path"]), True, now, add["size_bytes"], partition))
    return removes


def _check_readable(table: DeltaTable, name: str) -> None:
    protocol = table.protocol()
    features = set(protocol.reader_features or [])
    unknown = features - _SAFE_READER_FEATURES
    if unknown:
        raise UnsupportedTableError(
            f"table {name} uses Delta reader features {sorted(unknown)} that the offline engine cannot read "
            "correctly; read it with the native delta-spark engine (lake.engine: spark)"
        )
    mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    if mapping != "none":
        raise UnsupportedTableError(
            f"table {name} uses column mapping mode '{mapping}', which the offline engine cannot read; use the "
            "native delta-spark engine (lake.engine: spark)"
        )
    if "deletionVectors" in features:
        actions = pa.table(table.get_add_actions(flatten=True))
        dv_columns = [c for c in actions.column_names if c.startswith("deletionVector")]
        if any(actions[c].null_count < len(actions) for c in dv_columns):
            raise UnsupportedTableError(
                f"table {name} has files with deletion vectors, which the offline engine cannot apply; run "
                "REORG TABLE … APPLY (PURGE) on the native engine, or read it with lake.engine: spark"
            )


def _hive_layout(add: Mapping[str, Any], partition_columns: Sequence[str]) -> bool:
    """Whether a data file sits in `c1=v1/c2=v2/` folders (relative to the table) that spell exactly its partition
    values from the log, as Spark's partition discovery reads them (`%XX` unescaped, the Hive null folder)."""
    path = add["path"]
    if "://" in path or path.startswith("file:"):
        return False
    folders = unquote(path).split("/")[:-1]
    if len(folders) != len(partition_columns):
        return False
    for folder, column in zip(folders, partition_columns, strict=True):
        name, equals, text = folder.partition("=")
        value = arrow_sink._partition_string(add.get(f"partition.{column}"))
        if not equals or name != column or value == "":  # Spark reads an empty folder value as null, Delta as ''
            return False
        if unquote(text) != (arrow_sink.NULL_PARTITION if value is None else value):
            return False
    return True


def _file_location(root: str, path: str) -> str:
    """A data file's location for Spark: log paths are URI-encoded and relative to the table, or absolute URIs."""
    if "://" in path or path.startswith("file:"):
        return unquote(path)
    return f"{root}/{unquote(path)}"


def _register_sink(spark: SparkSession) -> None:
    """Register the sink with the session, and make the session active in this thread: Spark looks data sources
    up through the thread's active session, which JVM threads serving other Python threads do not have."""
    if not is_connect(spark):
        spark._jvm.org.apache.spark.sql.SparkSession.setActiveSession(spark._jsparkSession)
    if spark.conf.get(_SINK_REGISTERED, "false") != "true":
        spark.dataSource.register(arrow_sink.DeltaRsSink)
        spark.conf.set(_SINK_REGISTERED, "true")


def _read_manifest(manifest: str) -> list[dict[str, Any]]:
    filesystem, path = arrow_sink._filesystem(manifest)
    with filesystem.open_input_stream(path) as stream:
        return json.loads(stream.read().decode("utf-8"))["adds"]


def _remove(manifest: str) -> None:
    filesystem, path = arrow_sink._filesystem(manifest)
    arrow_sink._delete(filesystem, path)


def _wait_for_tasks(spark: SparkSession, tag: str, timeout_s: float = 60.0) -> None:
    """Wait until the jobs tagged `tag` have ended and none of their tasks is still running.

    When one task fails, Spark fails the job at once while the other tasks are only asked to stop: a task that
    was already closing its files finishes them after `save()` has raised, and its result is dropped. Sweeping
    before those tasks end would leave their files behind (seen in CI). The status store is fed by the listener
    bus, so the job's end is awaited first: by then the store holds every task that started.
    """
    try:
        tracker = spark.sparkContext.statusTracker()
        jobs = list(spark.sparkContext._jsc.sc().statusTracker().getJobIdsForTag(tag))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            infos = [tracker.getJobInfo(j) for j in jobs]
            ended = all(info is None or str(info.status) != "RUNNING" for info in infos)
            stages = [tracker.getStageInfo(s) for info in infos if info is not None for s in info.stageIds]
            if ended and not any(stage is not None and stage.numActiveTasks > 0 for stage in stages):
                return
            time.sleep(0.1)
        logger.warning("%s: tasks still running after %.0f s; sweeping their files anyway", tag, timeout_s)
    except Exception as error:  # the sweep must never hide the write's own error
        logger.warning("%s: could not wait for the failed write's tasks (%s)", tag, error)


def _delete_orphans(location: str, write_id: str) -> None:
    """After a failed job, delete every file of this write (also those of tasks Spark killed mid-write)."""
    filesystem, root = arrow_sink._filesystem(location.rstrip("/"))
    try:
        found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError:
        return
    for info in found:
        if info.is_file and write_id in info.base_name:
            arrow_sink._delete(filesystem, info.path)


def _delete_files(location: str, adds: list[dict[str, Any]]) -> None:
    filesystem, root = arrow_sink._filesystem(location.rstrip("/"))
    for add in adds:
        arrow_sink._delete(filesystem, f"{root}/{add['local_path']}")
