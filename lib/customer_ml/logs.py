"""One log format for the CLI and the jobs, and a stage helper that logs start, row counts and seconds."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_QUIET_LIBRARIES = (
    "py4j",
    "XGBoost-PySpark",
    "urllib3",
    "alembic",
    "great_expectations",
    "mlflow",
    "matplotlib",
    "numba",
)

logger = logging.getLogger(__name__)

# What the current code runs for (job, stage, run id): recorded in every Delta commit the lake makes.
PROCESS_RUN_ID = uuid.uuid4().hex
_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("customer_ml_context", default=None)


@contextmanager
def job_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Add fields (e.g. `job="score"`, `run_id=mlflow_run.info.run_id`) to the context of the code inside."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield _CONTEXT.get() or {}
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, Any]:
    """The job, stage and run id the current code runs under (run id defaults to one per process)."""
    return {"job": "customer-ml", "stage": "adhoc", "run_id": PROCESS_RUN_ID, **(_CONTEXT.get() or {})}


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to whatever sys.stderr is at the time of each record.

    A plain StreamHandler keeps the stream it was made with; when the CLI's main() is called again after
    sys.stderr was swapped (pytest's capture, a notebook cell, an embedding program), it would write to a
    closed file and print a "Logging error" traceback instead of the log.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str = "INFO", verbose: bool = False) -> None:
    """Send customer_ml's logs to stderr in one format; chatty libraries stay at WARNING unless verbose."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_customer_ml", False)), None)
    if handler is None:
        handler = _CurrentStderr()
        handler._customer_ml = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    root.setLevel(logging.DEBUG if verbose else level)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    _quiet_sql_context_logger(verbose)


def _quiet_sql_context_logger(verbose: bool) -> None:
    """pyspark logs every failed SQL statement as a page of JSON (the JVM stack included) on its own stderr
    handler before raising it; the CLI prints the error in one line, so that page shows only with -v.

    The logger must be made by PySparkLogger.getLogger: pyspark calls `.exception(…, errorClass=…)` on it, which
    a plain logging.Logger of the same name would refuse.
    """
    from pyspark.logger import PySparkLogger

    PySparkLogger.getLogger("SQLQueryContextLogger").setLevel(logging.DEBUG if verbose else logging.CRITICAL + 1)


@dataclass
class StageLog:
    """What a stage reports: its name, its row counts by label, and its seconds once finished."""

    name: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, label: str, rows: int) -> int:
        """Record a row count (e.g. `input`, `written`, `quarantined`) and return it."""
        self.rows[label] = rows
        logger.info("%s: %s rows = %d", self.name, label, rows)
        return rows


@contextmanager
def stage(name: str) -> Iterator[StageLog]:
    """Time a stage and log its start, its row counts and its seconds (or its failure)."""
    record = StageLog(name)
    logger.info("%s: started", name)
    started = time.perf_counter()
    try:
        with job_context(stage=name):
            yield record
    except BaseException:
        record.seconds = time.perf_counter() - started
        logger.error("%s: failed after %.1f s", name, record.seconds)
        raise
    record.seconds = time.perf_counter() - started
    counts = ", ".join(f"{label}={rows:,}" for label, rows in record.rows.items())
    logger.info("%s: finished in %.1f s%s", name, record.seconds, f" ({counts})" if counts else "")
