"""The `ingest` stage: read the configured sources, rename and cast, join them on the key, write the table."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml import lake
from customer_ml.errors import SourceError
from customer_ml.lake.sources import read_source
from customer_ml.logs import job_context, stage
from customer_ml.settings import IngestSettings, Settings, SourceSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    """What the ingest read and what the join did, per source."""

    table: str
    version: int
    rows_written: int
    source_rows: dict[str, int] = field(default_factory=dict)
    source_paths: dict[str, str] = field(default_factory=dict)
    unmatched_rows: dict[str, int] = field(default_factory=dict)
    not_utf8: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> column -> U+FFFD characters


def run(
    spark: SparkSession,
    settings: Settings,
    *,
    table: str | None = None,
    sources: Sequence[str] = (),
    path: str | None = None,
    allow_empty: bool = False,
) -> list[IngestReport]:
    """Ingest the configured sources, one table at a time (mode overwrite or merge on the key).

    Args:
        table: only this table (its sources, or with `sources` the target of those sources).
        sources: only these sources; with `table` they go to that table whatever their own `table:` says.
        path: read the one source named in `sources` from this path instead (same format, options, renames and
            casts: next month's extract of the same layout).
        allow_empty: let zero rows replace a table that has rows (refused by default: an empty export would
            silently empty the table).

    Returns:
        One report per table written, in the order the sources are configured.

    Raises:
        SourceError: nothing configured, an unknown source name, or a source that does not fit its description.
    """
    if path is not None:
        if not sources and len(settings.ingest.sources) == 1:
            sources = list(settings.ingest.sources)  # the only layout there is
        if len(sources) != 1:
            raise SourceError(
                f"--path {path} reads one file with one source's layout: name it with --source "
                f"({', '.join(settings.ingest.sources) or 'none configured'}), got {list(sources) or 'none'}"
            )
        settings = _with_path(settings, sources[0], path)
    plan = ingest_plan(settings.ingest, table=table, sources=sources)
    key = settings.ingest_key
    return [_ingest_table(spark, settings, target, names, key, allow_empty) for target, names in plan.items()]


def _with_path(settings: Settings, source: str, path: str) -> Settings:
    spec = settings.ingest
    if source not in spec.sources:
        raise SourceError(f"unknown ingest source '{source}'; configured: {', '.join(spec.sources)} (ingest.sources)")
    moved = spec.sources[source].model_copy(update={"path": path})
    ingest = spec.model_copy(update={"sources": {**spec.sources, source: moved}})
    return settings.model_copy(update={"ingest": ingest})


def ingest_plan(spec: IngestSettings, *, table: str | None = None, sources: Sequence[str] = ()) -> dict[str, list[str]]:
    """Which sources go to which table: {table: [source names, base first]} for the sources and table asked for."""
    if not spec.sources:
        raise SourceError(
            "ingest.sources is empty; describe your source in an overlay (`customer-ml init --source FILE …` writes "
            "one; see conf/base/ingest.yml)"
        )
    unknown = [name for name in sources if name not in spec.sources]
    if unknown:
        raise SourceError(f"unknown ingest source(s) {unknown}; configured: {', '.join(spec.sources)} (ingest.sources)")
    chosen = list(sources) or list(spec.sources)
    plan: dict[str, list[str]] = {}
    for name in chosen:
        target = table if table and sources else (spec.sources[name].table or spec.table)
        if table and target != table:
            continue
        plan.setdefault(target, []).append(name)
    if not plan:
        targets = sorted({s.table or spec.table for s in spec.sources.values()})
        raise SourceError(
            f"no ingest source goes to table '{table}' (sources go to: {', '.join(targets)}); give its sources "
            f"`table: {table}`, or pass --source NAME with --table {table}"
        )
    return plan


def _ingest_table(
    spark: SparkSession, settings: Settings, table: str, names: list[str], key: str, allow_empty: bool
) -> IngestReport:
    spec = settings.ingest
    label = [settings.data.label.column] if settings.data.label else []
    with stage(f"ingest {table}") as record:
        prepared = {
            name: prepare(read_source(spark, name, s.format, s.path, s.options), name, s, key, optional=label)
            for name, s in ((n, spec.sources[n]) for n in names)
        }
        counts, replaced = {}, {}
        for name, frame in prepared.items():
            rows, replaced[name] = _count_rows_and_replaced(frame, spec.sources[name].format)
            counts[name] = record.count(f"source {name}", rows)
            for column, characters in replaced[name].items():
                logger.warning(
                    "ingest: source %s, column %s: %d character(s) were not UTF-8 and read as U+FFFD; set "
                    "ingest.sources.%s.options.encoding (e.g. iso-8859-1) if the file is in another encoding",
                    name,
                    column,
                    characters,
                    name,
                )
        for name, frame in prepared.items():
            _check_keys(frame, name, key)
        joined = join_sources(prepared, key, spec.join)  # lazy; checks key types and column clashes first
        unmatched = _unmatched(prepared, key)
        for name, rows in unmatched.items():
            if rows:
                logger.warning(
                    "ingest: %d rows of source %s have no match in the join and are %s",
                    rows,
                    name,
                    "dropped" if spec.join != "full" else "kept with nulls",
                )
        paths = {name: spec.sources[name].path for name in names}
        if spec.mode == "overwrite" and not allow_empty:
            _refuse_emptying(spark, table, joined, counts, spec.join, names)
        recorded = {"sources": json.dumps(paths), "source_rows": json.dumps(counts), "unmatched": json.dumps(unmatched)}
        if any(replaced.values()):
            recorded["not_utf8"] = json.dumps({n: c for n, c in replaced.items() if c})
        with job_context(**recorded):
            mode = "merge" if spec.mode == "merge" else "overwrite"
            version = lake.write_table(
                joined,
                table,
                mode=mode,
                merge_keys=[key] if mode == "merge" else None,
                schema_mode="overwrite" if mode == "overwrite" else None,
            )
        written = record.count("written", lake.read_table(spark, table, version=version).count())
    return IngestReport(table, version, written, counts, paths, unmatched, {n: c for n, c in replaced.items() if c})


REPLACEMENT = "\ufffd"  # what a reader makes of bytes that are not valid in the file's encoding
_TEXT_FORMATS = ("csv", "json", "text")


def _count_rows_and_replaced(frame: DataFrame, fmt: str) -> tuple[int, dict[str, int]]:
    """The rows, and per text column the U+FFFD characters a text source's reader put in place of bytes that
    were not UTF-8 (or the configured encoding): one pass. Columns without any are left out."""
    strings = [f.name for f in frame.schema.fields if isinstance(f.dataType, T.StringType)]
    if fmt not in _TEXT_FORMATS:
        strings = []
    replaced = [
        F.coalesce(
            F.sum(F.length(F.col(f"`{c}`")) - F.length(F.regexp_replace(F.col(f"`{c}`"), REPLACEMENT, ""))), F.lit(0)
        ).alias(f"_r{i}")
        for i, c in enumerate(strings)
    ]
    row = frame.agg(F.count(F.lit(1)).alias("_rows"), *replaced).first()
    found = {c: int(row[f"_r{i}"]) for i, c in enumerate(strings) if row[f"_r{i}"]}
    return int(row["_rows"]), found


def prepare(frame: DataFrame, name: str, source: SourceSpec, key: str, optional: Sequence[str] = ()) -> DataFrame:
    """Rename, select and cast one source's columns; every problem names the source and the column.

    Args:
        optional: columns whose casts are skipped when the source lacks them (the label, absent from the rows to
            score); any other cast of a missing column is an error (a typo).
    """
    missing = [c for c in source.rename if c not in frame.columns]
    if missing:
        raise SourceError(f"source '{name}': cannot rename missing column(s) {missing} (columns: {frame.columns})")
    frame = frame.select(*[F.col(f"`{c}`").alias(source.rename.get(c, c)) for c in frame.columns])
    if source.columns is not None:
        absent = [c for c in [key, *source.columns] if c not in frame.columns]
        if absent:
            raise SourceError(f"source '{name}': column(s) {absent} not found (columns: {frame.columns})")
        frame = frame.select(key, *[c for c in source.columns if c != key])
    if key not in frame.columns:
        raise SourceError(
            f"source '{name}' has no key column '{key}' (columns: {frame.columns}); rename its key with "
            f"ingest.sources.{name}.rename"
        )
    casts = {c: t for c, t in source.casts.items() if c in frame.columns or c not in optional}
    unknown = [c for c in casts if c not in frame.columns]
    if unknown:
        raise SourceError(
            f"source '{name}' has no column(s) {unknown} that ingest.sources.{name}.casts types (columns: "
            f"{frame.columns}); a renamed column goes under ingest.sources.{name}.rename, one no longer delivered "
            "comes out of casts (and of the models' features)"
        )
    _check_casts(frame, name, casts)
    return frame.select(
        *[F.expr(f"try_cast(`{c}` AS {casts[c]})").alias(c) if c in casts else F.col(f"`{c}`") for c in frame.columns]
    )


def join_sources(prepared: Mapping[str, DataFrame], key: str, how: str) -> DataFrame:
    """Join every source onto the first by `key`; a non-key column in two sources is an error."""
    names = list(prepared)
    seen: dict[str, str] = {c: names[0] for c in prepared[names[0]].columns if c != key}
    joined = prepared[names[0]]
    key_type = dict(joined.dtypes)[key]
    for name in names[1:]:
        frame = prepared[name]
        other_type = dict(frame.dtypes)[key]
        if other_type != key_type:
            raise SourceError(
                f"key '{key}' is {key_type} in source '{names[0]}' but {other_type} in source '{name}'; "
                f"cast it in one of them (ingest.sources.{name}.casts: {{{key}: {key_type}}})"
            )
        clashes = [c for c in frame.columns if c != key and c in seen]
        if clashes:
            raise SourceError(
                f"column(s) {clashes} appear in sources '{seen[clashes[0]]}' and '{name}'; rename one of them"
            )
        seen.update({c: name for c in frame.columns if c != key})
        joined = joined.join(frame, on=key, how=how)
    return joined


def _refuse_emptying(
    spark: SparkSession, table: str, joined: DataFrame, counts: Mapping[str, int], join: str, names: list[str]
) -> None:
    """Refuse to overwrite a table that has rows with none (an empty or header-only export)."""
    empty = (
        counts[names[0]] == 0
        if join == "left"
        else sum(counts.values()) == 0
        if join == "full"
        else joined.limit(1).count() == 0
    )
    if not empty or not lake.table_exists(spark, table):
        return
    if lake.read_table(spark, table).limit(1).count() == 0:
        return
    raise SourceError(
        f"source(s) {', '.join(names)} hold no rows: refusing to replace table {table}, which has rows, with nothing "
        "(nothing written); check the export, or pass --allow-empty to empty the table on purpose"
    )


def _check_casts(frame: DataFrame, name: str, casts: Mapping[str, str]) -> None:
    """Fail, naming the column and an example value, when any non-null value does not cast."""
    if not casts:
        return
    fails = {c: F.col(f"`{c}`").isNotNull() & F.expr(f"try_cast(`{c}` AS {t})").isNull() for c, t in casts.items()}
    counts = frame.select(*[F.sum(f.cast("int")).alias(c) for c, f in fails.items()]).collect()[0].asDict()
    broken = {c: n for c, n in counts.items() if n}
    if broken:
        column = next(iter(broken))
        example = frame.where(fails[column]).select(f"`{column}`").first()[0]
        raise SourceError(
            f"source '{name}': values that cannot be cast {broken} (e.g. {column}={example!r} to {casts[column]}); "
            f"fix the data or ingest.sources.{name}.casts"
        )


def _check_keys(frame: DataFrame, name: str, key: str) -> None:
    stats = frame.select(
        F.count("*").alias("rows"), F.count(key).alias("keyed"), F.countDistinct(key).alias("distinct")
    ).collect()[0]
    if stats["keyed"] < stats["rows"]:
        raise SourceError(f"source '{name}': {stats['rows'] - stats['keyed']} row(s) have no {key}; fix the source")
    if stats["distinct"] < stats["keyed"]:
        duplicated = frame.groupBy(key).count().where("count > 1").limit(3).collect()
        raise SourceError(
            f"source '{name}': {stats['keyed'] - stats['distinct']} duplicate {key} value(s), e.g. "
            f"{[row[key] for row in duplicated]}; a join on them would duplicate customers — deduplicate the source"
        )


def _unmatched(prepared: Mapping[str, DataFrame], key: str) -> dict[str, int]:
    """Per source, the rows whose key has no partner on the other side of its join."""
    names = list(prepared)
    base_keys = prepared[names[0]].select(key)
    result = {}
    for name in names[1:]:
        keys = prepared[name].select(key)
        result[name] = keys.join(base_keys, on=key, how="left_anti").count()
        result[f"{names[0]} without {name}"] = base_keys.join(keys, on=key, how="left_anti").count()
    return result
