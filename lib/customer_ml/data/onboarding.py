"""`customer-ml init`: profile a source and write a ready, commented dataset overlay for the whole chain.

Great Expectations 1.x dropped its profiler; this is that, for ingest, validation and both models at once. Three
Spark passes (casts, statistics, value sets: see onboarding_profile), then pure decisions (onboarding_rules,
onboarding_plan) rendered as YAML (onboarding_render). The overlay is written through `--overlay FILE`:

    customer-ml init --source data/telco.csv --id customerID --label Churn --positive Yes
    customer-ml --overlay telco.yml ingest
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml.data import onboarding_profile, onboarding_rules
from customer_ml.data.onboarding_plan import decide
from customer_ml.data.onboarding_render import render
from customer_ml.data.onboarding_rules import (
    CastCounts,
    ColumnStats,
    SourceProfile,
    blank_note,
    delta_renames,
    infer_type,
    safe_identifier,
)
from customer_ml.errors import ConfigError, SourceError
from customer_ml.features import quote
from customer_ml.lake.sources import read_source
from customer_ml.logs import stage
from customer_ml.settings import Settings, is_uri

logger = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "delta")
# How init, and so the ingest of its overlay, reads a CSV: a header, every column as text, RFC 4180 quoting (Spark's
# default escape is a backslash, so a doubled "" inside quotes would not parse), unquoted values trimmed so that a
# blank field reads as null instead of failing a numeric cast.
CSV_OPTIONS: dict[str, str | bool] = {
    "header": True,
    "inferSchema": False,
    "escape": '"',
    "ignoreLeadingWhiteSpace": True,
    "ignoreTrailingWhiteSpace": True,
}


def _as_written(options: dict[str, Any]) -> dict[str, Any]:
    """The same file untrimmed: pass 1 counts the blank values the trimming options turn into nulls."""
    return {k: v for k, v in options.items() if not k.startswith("ignore")}


SEPARATORS = (",", ";", "\t", "|")


def sniff_separator(source: str) -> str:
    """The field separator of a local CSV (a file, or a folder's first data file), judged on its first lines:
    the one of , ; tab | that splits the header into the most fields and every sampled line into as many.
    A comma when the file is not local (a URI) or nothing beats it; `--sep` overrides."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = next((p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(("_", "."))), path)
    if not path.is_file():
        return ","
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        lines = [line for line in (handle.readline() for _ in range(20)) if line.strip()]
    if not lines:
        return ","

    def fields(line: str, sep: str) -> int:
        return next(csv.reader([line], delimiter=sep, quotechar='"'), []).__len__()

    best = max(SEPARATORS, key=lambda sep: (fields(lines[0], sep), sep == ","))
    consistent = all(fields(line, best) == fields(lines[0], best) for line in lines[1:-1])  # the last may be cut
    return best if fields(lines[0], best) > 1 and consistent else ","


@dataclass(frozen=True)
class InitReport:
    """What init wrote: the file, whether it changed, one line per decision, and the overlay as data."""

    path: Path
    changed: bool
    summary: list[str]
    overlay: dict[str, Any] = field(default_factory=dict)


def default_format(source: str) -> str:
    """The format a source's path implies: .csv -> csv, .parquet or a folder of Parquet files -> parquet, a folder
    with _delta_log -> delta.

    Raises:
        ConfigError: the path says nothing about its format.
    """
    path = Path(source).expanduser()
    if not is_uri(source) and path.is_dir():
        if (path / "_delta_log").is_dir():
            return "delta"
        if next(path.rglob("*.parquet"), None) is not None:
            return "parquet"
    elif path.suffix.lower() in (".csv", ".parquet"):
        return path.suffix.lower()[1:]
    raise ConfigError(f"cannot tell the format of {source} from its name; pass --format {'|'.join(FORMATS)}")


def default_name(source: str) -> str:
    """The dataset name a source implies: its file (or folder) name without extension, as a safe identifier."""
    return safe_identifier(Path(source.rstrip("/")).stem)


def default_output(name: str) -> Path:
    """Where the overlay goes by default: `<name>.yml` in the current folder."""
    return Path(f"{name}.yml")


def run(
    spark: SparkSession,
    *,
    source: str,
    fmt: str,
    id_column: str,
    label: str,
    positive: str,
    name: str,
    output: Path,
    force: bool = False,
    sep: str | None = None,
) -> InitReport:
    """Profile `source` and write the overlay that ingests, validates and models it.

    Args:
        spark: the session.
        source: the source's path (or URI), written into the overlay as given.
        fmt: csv, parquet or delta (see `default_format`).
        id_column: the customer id column (its name in the source, or after init's rename).
        label: the label column.
        positive: the label value that means positive, as typed on the command line.
        name: the dataset's name: project.name and the source's name (see `default_name`).
        output: the overlay file to write.
        force: overwrite an existing, different overlay.
        sep: a CSV's field separator (default: detected from its first lines, see `sniff_separator`).

    Returns:
        The report; `changed` is False when the file already held exactly this overlay.

    Raises:
        ConfigError: a bad name or format, a missing id or label column, a positive value the label never takes,
            or an existing different output without `force`.
        SourceError: the source cannot be read.
    """
    if safe_identifier(name) != name:
        raise ConfigError(f"--name {name}: use lower-case letters, digits and _ (e.g. {safe_identifier(name)})")
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: init reads {', '.join(FORMATS)}")
    options = dict(CSV_OPTIONS) if fmt == "csv" else {}
    if fmt == "csv":
        separator = sep if sep is not None else sniff_separator(source)
        if separator != ",":
            options["sep"] = separator
    with stage("init") as record:
        profile = _profile(spark, source, fmt, options, name, id_column, label, positive)
        record.count("source", profile.rows)
    overlay = decide(profile, name=name, output=str(output), options=options)
    text = render(overlay)
    parsed = yaml.safe_load(text)
    Settings.model_validate(parsed)  # the overlay must validate on its own (a bug here, not a user error)
    changed = _write(Path(output), text, force)
    for line in overlay.summary:
        logger.info("init: %s", line)
    return InitReport(Path(output), changed, overlay.summary, parsed)


def _profile(
    spark: SparkSession,
    source: str,
    fmt: str,
    options: dict[str, Any],
    name: str,
    id_column: str,
    label: str,
    positive: str,
) -> SourceProfile:
    """The three passes over the source, and the checks of the id, label and positive value they allow."""
    frame = read_source(spark, name, fmt, source, options)
    renames = delta_renames(frame.columns)
    renamed = frame.select(*[F.col(quote(c)).alias(renames.get(c, c)) for c in frame.columns])
    key = _resolve("--id", id_column, frame.columns, renames, source)
    target = _resolve("--label", label, frame.columns, renames, source)
    if key == target:
        raise ConfigError(f"--id and --label both name {key}: the label cannot be the id")
    casts, counts = _infer_casts(spark, name, source, renamed, options) if fmt == "csv" else ({}, {})
    rows, stats, id_distinct = onboarding_profile.column_stats(renamed, casts, key)
    dropped = {s.name for s in stats if s.cast_failures}
    if dropped:  # quoted blanks survive the trimming: ingest could not cast them, so those columns stay text
        casts = {c: t for c, t in casts.items() if c not in dropped}
        rows, stats, id_distinct = onboarding_profile.column_stats(renamed, casts, key)
    if rows == 0:
        raise ConfigError(f"{source} has no rows: init needs rows to profile")
    typed_positive = onboarding_rules.typed_positive(positive, next(s.type for s in stats if s.name == target))
    collected, positive_rows = onboarding_profile.value_sets(
        renamed, casts, onboarding_profile.few_values(stats, target), target, typed_positive
    )
    profile = SourceProfile(
        source=source,
        fmt=fmt,
        rows=rows,
        columns=tuple(_with_values(s, collected) for s in stats),
        id_column=key,
        id_distinct=id_distinct,
        label=target,
        positive=typed_positive,
        positive_rows=positive_rows,
        renamed_from={new: old for old, new in renames.items()},
        casts=casts,
        notes=_notes(counts, stats, dropped),
    )
    onboarding_rules.check_positive(profile, positive)
    return profile


def _resolve(option: str, column: str, columns: list[str], renames: dict[str, str], source: str) -> str:
    """The column's name after renames, from its name in the source or after the rename."""
    if column in columns:
        return renames.get(column, column)
    if column in renames.values():
        return column
    raise ConfigError(f"{option} {column}: no such column in {source}; its columns: {', '.join(columns)}")


def _infer_casts(
    spark: SparkSession, name: str, source: str, renamed: DataFrame, options: dict[str, Any]
) -> tuple[dict[str, str], dict[str, CastCounts]]:
    """Pass 1 over the CSV as written: the casts of the columns that are not text, and every column's counts."""
    as_written = read_source(spark, name, "csv", source, _as_written(options))
    if len(as_written.columns) != len(renamed.columns):
        raise SourceError(f"{source}: the header reads differently untrimmed ({as_written.columns}); fix the header")
    counts = dict(zip(renamed.columns, onboarding_profile.count_casts(as_written), strict=True))
    types = {column: infer_type(column_counts)[0] for column, column_counts in counts.items()}
    return {column: t for column, t in types.items() if t != "string"}, counts


def _notes(counts: dict[str, CastCounts], stats: list[ColumnStats], dropped: set[str]) -> dict[str, str]:
    """Per column, what reading and typing did besides the plain cast (CSV sources only)."""
    notes = {}
    for column in stats:
        if column.name not in counts:
            continue
        parts = [infer_type(counts[column.name])[1]]
        parts.append(blank_note(counts[column.name].blank, column.blank, column.name in dropped))
        if any(parts):
            notes[column.name] = "; ".join(p for p in parts if p)
    return notes


def _with_values(stats: ColumnStats, collected: dict[str, tuple[Any, ...]]) -> ColumnStats:
    return replace(stats, values=collected[stats.name]) if stats.name in collected else stats


def _write(path: Path, text: str, force: bool) -> bool:
    """Write the overlay; False when the file already holds exactly this text."""
    if path.exists():
        if path.read_bytes() == text.encode("utf-8"):
            return False
        if not force:
            raise ConfigError(f"{path} exists and differs from the overlay init would write; --force replaces it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
