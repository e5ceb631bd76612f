"""Lake upkeep: vacuum (delete files no version within the retention needs: replaced data, a killed write's
orphans, stale staging) and optimize (compact small files in one commit), on both engines."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession

from customer_ml.errors import CustomerMLError, LakeError, describe_failure
from customer_ml.lake.engines import engine_for
from customer_ml.lake.tables import _commit_info, _exists, _not_found, table_ref
from customer_ml.session import bound_settings
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

SAFE_RETAIN_HOURS = 168  # Delta's own default retention and the floor of its retention check (7 days)


@dataclass(frozen=True)
class VacuumReport:
    """What a vacuum deleted (or, in a dry run, would delete)."""

    table: str
    files: tuple[str, ...]  # relative to the table folder (offline engine), or absolute (native engine)
    bytes: int | None  # None where the engine does not report sizes (native)
    retain_hours: int
    dry_run: bool


@dataclass(frozen=True)
class OptimizeReport:
    """What a compaction did: `files_removed` small files rewritten as `files_added`, in commit `version`."""

    table: str
    files_removed: int
    files_added: int
    bytes_removed: int
    bytes_added: int
    version: int | None  # None when there was nothing to compact (no commit)


def vacuum_retention(settings: Settings, asked: int | None, *, force: bool, name: str = "") -> int:
    """The retention a vacuum uses: the one asked for, else `lake.vacuum_retain_hours`; below Delta's safe
    default of 168 hours only with `force`.

    Raises:
        LakeError: the retention is negative, or below 168 hours without `force`.
    """
    hours = settings.lake.vacuum_retain_hours if asked is None else asked
    table = f" of table {name}" if name else ""
    if hours < 0:
        raise LakeError(f"vacuum{table}: retention must be 0 hours or more, got {hours}")
    if hours < SAFE_RETAIN_HOURS and not force:
        raise LakeError(
            f"vacuum{table}: a retention of {hours} hours is below Delta's safe {SAFE_RETAIN_HOURS}: a reader of "
            f"an older version or a write still running could lose files; set --retain-hours (or "
            f"lake.vacuum_retain_hours) to {SAFE_RETAIN_HOURS} or more, or pass --force to accept that"
        )
    return hours


def vacuum(
    spark: SparkSession,
    name: str,
    retain_hours: int | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> VacuumReport:
    """Delete the table's files that no version of the last `retain_hours` hours references, all older than that:
    files replaced or compacted away, Parquet files no commit references (a killed write's) and, on the offline
    engine, its staging manifests. Files of a version within the retention, and of writes in progress, stay.

    Args:
        spark: a session from `get_spark`.
        name: a table configured under `tables:`.
        retain_hours: default `lake.vacuum_retain_hours` (168). Versions older than this can no longer be read.
        dry_run: only list what would be deleted.
        force: accept a retention below 168 hours.

    Raises:
        LakeError: the retention is below 168 hours without `force`, or the vacuum failed.
        TableNotFoundError: the table does not exist.
    """
    hours = vacuum_retention(bound_settings(spark), retain_hours, force=force, name=name)
    ref = table_ref(spark, name)
    if not _exists(spark, ref):
        raise _not_found(name, ref)
    info = _commit_info(name, "vacuum")
    try:
        files, size = engine_for(spark).vacuum(ref, hours, dry_run=dry_run, force=force, info=info)
    except CustomerMLError:
        raise
    except Exception as error:
        where = ref.location or ref.catalog_name
        raise LakeError(
            f"vacuum of table {name} ({where}) failed: {describe_failure(error)}; rerun it (it deletes only files "
            "no retained version references)"
        ) from error
    logger.info(
        "%s: vacuum %s %d files (retention %d h)", name, "would delete" if dry_run else "deleted", len(files), hours
    )
    return VacuumReport(name, tuple(files), size, hours, dry_run)


def optimize(spark: SparkSession, name: str) -> OptimizeReport:
    """Compact the table's small files into larger ones in ONE commit: the rows are unchanged, older versions stay
    readable by time travel until a vacuum past the retention deletes the files they need.

    Raises:
        TableNotFoundError: the table does not exist.
        CommitConflictError: a concurrent write touched the same files; nothing changed.
    """
    ref = table_ref(spark, name)
    if not _exists(spark, ref):
        raise _not_found(name, ref)
    info = _commit_info(name, "optimize")
    try:
        metrics = engine_for(spark).optimize(ref, info)
    except CustomerMLError:
        raise
    except Exception as error:
        where = ref.location or ref.catalog_name
        raise LakeError(
            f"optimize of table {name} ({where}) failed, its previous version stands: {describe_failure(error)}"
        ) from error
    report = OptimizeReport(table=name, **metrics)
    logger.info("%s: compacted %d files into %d", name, report.files_removed, report.files_added)
    return report
