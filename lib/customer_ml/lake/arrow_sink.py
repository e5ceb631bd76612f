"""The offline engine's write path: a Spark Python data source that writes Parquet files into a Delta table.

Each Spark task receives Arrow record batches, writes them as Parquet files into the table folder (Hive-style
partition folders, partition columns left out of the files, as Delta expects) and returns the files' add actions
with statistics. Nothing is visible to readers until the driver commits the add actions in one Delta transaction:
`commit` (run by Spark on the driver once every task succeeded) writes them to a manifest, which the calling
process commits with delta-rs. A task that fails deletes the files it wrote; `abort` deletes those of the tasks
that succeeded. Runs inside Spark's Python workers: keep imports light and state picklable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs
from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage

FORMAT_NAME = "customer_ml_delta_rs"
ROW_GROUP_ROWS = 131_072
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_MAX_STAT_STRING = 32
_DICTIONARY_SHARE = 0.2


class PartitionOutsideTargetError(ValueError):
    """A row's partition value is not among the partitions an `overwrite_partitions` write may replace."""


@dataclass
class FilesWritten(WriterCommitMessage):
    """One task's output: the add actions (as dicts) of the files it wrote."""

    adds: list[dict[str, Any]] = field(default_factory=list)


class DeltaRsSink(DataSource):
    """`df.write.format("customer_ml_delta_rs").options(...).save()`; see `customer_ml.lake.delta_rs.write`."""

    @classmethod
    def name(cls) -> str:
        return FORMAT_NAME

    def writer(self, schema: Any, overwrite: bool) -> DeltaRsWriter:
        return DeltaRsWriter(dict(self.options))


class DeltaRsWriter(DataSourceArrowWriter):
    def __init__(self, options: dict[str, str]) -> None:
        self.root = options["root"]
        self.write_id = options["write_id"]
        self.manifest = options["manifest"]
        self.partition_by: list[str] = json.loads(options["partition_by"])
        allowed = json.loads(options.get("allowed_partitions", "null"))
        self.allowed = None if allowed is None else {tuple(values) for values in allowed}
        self.target_file_rows = int(options["target_file_rows"])

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FilesWritten:
        from pyspark import TaskContext

        context = TaskContext.get()
        task = f"{context.partitionId():05d}-{context.attemptNumber()}" if context else f"{os.getpid()}"
        filesystem, root = _filesystem(self.root)
        files = _TaskFiles(filesystem, root, f"part-{task}-{self.write_id}", self.target_file_rows)
        try:
            for batch in iterator:
                if batch.num_rows:
                    for values, part in _split(batch, self.partition_by):
                        if self.allowed is not None and values not in self.allowed:
                            raise PartitionOutsideTargetError(
                                f"row with {dict(zip(self.partition_by, values, strict=True))} is outside the "
                                f"partitions being replaced {sorted(self.allowed)}"
                            )
                        files.add(values, part, self.partition_by)
            return FilesWritten(files.close())
        except BaseException:
            files.discard()
            raise

    def commit(self, messages: list[FilesWritten | None]) -> None:
        adds = [add for message in messages if message is not None for add in message.adds]
        filesystem, manifest = _filesystem(self.manifest)
        filesystem.create_dir(manifest.rsplit("/", 1)[0], recursive=True)
        staging = f"{manifest}.tmp"
        with filesystem.open_output_stream(staging) as out:
            out.write(json.dumps({"write_id": self.write_id, "adds": adds}).encode("utf-8"))
        filesystem.move(staging, manifest)

    def abort(self, messages: list[FilesWritten | None]) -> None:
        filesystem, root = _filesystem(self.root)
        for message in messages:
            for add in message.adds if message is not None else []:
                _delete(filesystem, f"{root}/{add['local_path']}")


class _TaskFiles:
    """The Parquet files one task has open (one per partition value), rolled at `target_rows` rows."""

    def __init__(self, filesystem: pafs.FileSystem, root: str, prefix: str, target_rows: int) -> None:
        self.filesystem, self.root, self.prefix, self.target_rows = filesystem, root, prefix, target_rows
        self.open: dict[tuple, _ParquetFile] = {}
        self.done: list[dict[str, Any]] = []
        self.written: list[str] = []

    def add(self, values: tuple, table: pa.Table, partition_by: list[str]) -> None:
        current = self.open.get(values)
        if current is None:
            folder = "/".join(f"{c}={_escape(_partition_string(v))}" for c, v in zip(partition_by, values, strict=True))
            name = f"{self.prefix}-{len(self.written):04d}.snappy.parquet"
            local_path = f"{folder}/{name}" if folder else name
            self.written.append(local_path)
            self.filesystem.create_dir(f"{self.root}/{folder}" if folder else self.root, recursive=True)
            partition_values = {c: _partition_string(v) for c, v in zip(partition_by, values, strict=True)}
            current = self.open[values] = _ParquetFile(self.filesystem, self.root, local_path, partition_values)
        current.append(table.drop_columns(partition_by) if partition_by else table)
        if current.rows >= self.target_rows:
            self.done.append(self.open.pop(values).close())

    def close(self) -> list[dict[str, Any]]:
        self.done.extend(f.close() for f in self.open.values())
        self.open.clear()
        return self.done

    def discard(self) -> None:
        for current in self.open.values():
            current.abandon()
        for local_path in self.written:
            _delete(self.filesystem, f"{self.root}/{local_path}")


class _ParquetFile:
    """One data file being written: buffers batches into row groups and tracks the Delta statistics."""

    def __init__(self, filesystem: pafs.FileSystem, root: str, local_path: str, partition_values: dict) -> None:
        self.filesystem, self.path, self.local_path = filesystem, f"{root}/{local_path}", local_path
        self.partition_values = partition_values
        self.writer: pq.ParquetWriter | None = None
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0
        self.stats = _Stats()

    def append(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        self.rows += table.num_rows
        if self.buffered >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        table = pa.concat_tables(self.buffer).combine_chunks()
        self.buffer, self.buffered = [], 0
        if self.writer is None:
            # Version-1 data pages, as Spark's own writer makes: its vectorized reader scans them fastest.
            self.writer = pq.ParquetWriter(
                self.path,
                table.schema,
                filesystem=self.filesystem,
                compression="snappy",
                write_statistics=True,
                data_page_version="1.0",
                use_dictionary=_dictionary_columns(table),
            )
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.stats.update(table)

    def close(self) -> dict[str, Any]:
        self._flush()
        if self.writer is not None:
            self.writer.close()
        size = self.filesystem.get_file_info(self.path).size
        return {
            # Relative and not URI-encoded: delta-rs encodes it when it writes the log.
            "path": self.local_path,
            "local_path": self.local_path,
            "size": size,
            "partition_values": self.partition_values,
            "modification_time": int(time.time() * 1000),
            "stats": json.dumps(self.stats.as_delta(self.rows)),
        }

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _Stats:
    """Delta file statistics: numRecords, nullCount for every column, min/max where they are exact and safe.

    min/max are kept for integers, dates, NaN-free floats and strings of up to 32 characters only: timestamps
    (millisecond precision in stats), decimals and long strings are left out rather than risk a reader skipping
    a file that holds matching rows.
    """

    def __init__(self) -> None:
        self.nulls: dict[str, int] = {}
        self.low: dict[str, Any] = {}
        self.high: dict[str, Any] = {}
        self.unsafe: set[str] = set()

    def update(self, table: pa.Table) -> None:
        for name, column in zip(table.column_names, table.columns, strict=True):
            self.nulls[name] = self.nulls.get(name, 0) + column.null_count
            if name in self.unsafe or column.null_count == len(column):
                continue
            kind = column.type
            if not (
                pa.types.is_integer(kind)
                or pa.types.is_date32(kind)
                or pa.types.is_floating(kind)
                or pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
            ):
                self.unsafe.add(name)
                continue
            if pa.types.is_floating(kind) and pc.any(pc.is_nan(column)).as_py():
                self.unsafe.add(name)
                continue
            bounds = pc.min_max(column).as_py()
            low, high = bounds["min"], bounds["max"]
            if isinstance(low, str) and (len(low) > _MAX_STAT_STRING or len(high) > _MAX_STAT_STRING):
                self.unsafe.add(name)
                continue
            self.low[name] = low if name not in self.low else min(self.low[name], low)
            self.high[name] = high if name not in self.high else max(self.high[name], high)

    def as_delta(self, rows: int) -> dict[str, Any]:
        keep = [n for n in self.low if n not in self.unsafe]
        return {
            "numRecords": rows,
            "minValues": {n: _json_value(self.low[n]) for n in keep},
            "maxValues": {n: _json_value(self.high[n]) for n in keep},
            "nullCount": self.nulls,
        }


def _dictionary_columns(table: pa.Table) -> list[str]:
    """Columns worth dictionary encoding, judged on a file's first row group: few distinct values.

    Dictionary pages on near-unique columns (ids, amounts) overflow the dictionary and fall back to plain pages
    mid-chunk, which Spark's vectorized reader scans ~1.5x slower; parquet-mr avoids that by dropping the
    dictionary, and so do we.
    """
    chosen = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_boolean(column.type) or pa.types.is_nested(column.type):
            continue
        distinct = pc.count_distinct(column, mode="only_valid").as_py()
        if distinct <= _DICTIONARY_SHARE * max(len(column), 1):
            chosen.append(name)
    return chosen


def _split(batch: pa.RecordBatch, partition_by: list[str]) -> Iterator[tuple[tuple, pa.Table]]:
    table = pa.Table.from_batches([batch])
    if not partition_by:
        yield (), table
        return
    keys = table.select(partition_by).group_by(partition_by, use_threads=False).aggregate([])
    for key in keys.to_pylist():
        mask = None
        for column in partition_by:
            value = key[column]
            condition = pc.is_null(table[column]) if value is None else pc.equal(table[column], value)
            mask = condition if mask is None else pc.and_(mask, condition)
        yield tuple(_partition_string(key[c]) for c in partition_by), table.filter(mask)


def _partition_string(value: Any) -> str | None:
    """A partition value as the Delta protocol serialises it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return (
            value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
            if value.tzinfo
            else (value.strftime("%Y-%m-%d %H:%M:%S.%f"))
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _escape(value: str | None) -> str:
    return NULL_PARTITION if value is None else quote(value, safe="")


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), location


def _delete(filesystem: pafs.FileSystem, path: str) -> None:
    try:
        filesystem.delete_file(path)
    except (FileNotFoundError, OSError):
        pass
