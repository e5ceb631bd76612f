"""Databricks jobs: task values a job's later tasks branch on (`{{tasks.<task>.values.<key>}}`).

On a Databricks cluster a stage publishes through `dbutils.jobs.taskValues.set`; anywhere else (a laptop, a
spark-submit cluster) the values are logged and nothing else happens, so the same command runs everywhere.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from customer_ml.errors import CustomerMLError, describe_failure

logger = logging.getLogger(__name__)

RUNTIME_VARIABLE = "DATABRICKS_RUNTIME_VERSION"  # set by every Databricks runtime, on the driver and the workers
ALERTS = "alerts"  # the monitor's alert count
RETRAIN = "retrain"  # true when the monitor alerted: the bundle's condition task runs the retrain job on it
_VALUE_LIMIT = 48 * 1024  # bytes of a task value's JSON form (Databricks' limit)


class TaskValueError(CustomerMLError):
    """A task value could not be set on Databricks."""


def on_databricks() -> bool:
    """True inside a Databricks runtime (a job's cluster or a notebook's)."""
    return bool(os.environ.get(RUNTIME_VARIABLE))


def monitor_task_values(alerts: int) -> dict[str, Any]:
    """What `customer-ml monitor` publishes: the alert count and whether to retrain (a JSON boolean, which a
    condition task compares as the string "true" or "false")."""
    return {ALERTS: alerts, RETRAIN: alerts > 0}


def set_task_values(values: Mapping[str, Any], dbutils: Any = None) -> bool:
    """Set each of `values` as a task value of the running Databricks job task.

    Args:
        values: key -> a JSON-serialisable value (at most 48 KiB as JSON).
        dbutils: the Databricks utilities to use (default: the runtime's, found on Databricks only).

    Returns:
        True when the values were set; False off Databricks, or on Databricks where no dbutils is reachable
        (e.g. `customer-ml` run from a cluster's terminal), both logged.

    Raises:
        TaskValueError: a value is not JSON or too large, or dbutils refused it.
    """
    for key, value in values.items():
        try:
            size = len(json.dumps(value).encode("utf-8"))
        except (TypeError, ValueError) as error:
            raise TaskValueError(f"task value {key!r} is not JSON: {error}") from None
        if size > _VALUE_LIMIT:
            raise TaskValueError(f"task value {key!r} is {size:,} bytes as JSON; Databricks takes at most 48 KiB")
    shown = ", ".join(f"{key}={json.dumps(value)}" for key, value in values.items())
    if dbutils is None:
        if not on_databricks():
            logger.debug("task values (not on Databricks, not published): %s", shown)
            return False
        dbutils, problems = _runtime_dbutils()
        if dbutils is None:
            logger.warning(
                "task values not published (%s): no dbutils in this process (%s); a job's condition on them will not "
                "find them. Run the stage as a python_wheel_task of a job on a dedicated (single user) cluster",
                shown,
                "; ".join(problems),
            )
            return False
    for key, value in values.items():
        try:
            dbutils.jobs.taskValues.set(key=key, value=value)
        except Exception as error:  # noqa: BLE001 - any refusal by dbutils ends as one named error
            raise TaskValueError(f"dbutils refused task value {key!r}: {describe_failure(error)}") from error
    logger.info("task values published: %s", shown)
    return True


def _runtime_dbutils() -> tuple[Any, list[str]]:
    """The runtime's dbutils and, when there is none, why: the Databricks SDK's runtime namespace (only inside a
    runtime, where `dbruntime` exists: elsewhere importing it builds a remote client that wants credentials),
    then pyspark's DBUtils over the active session."""
    problems = []
    if importlib.util.find_spec("dbruntime") is not None:
        try:
            from databricks.sdk import runtime

            if not runtime.is_local_implementation:
                return runtime.dbutils, problems
            problems.append("databricks.sdk.runtime has no runtime namespace")
        except Exception as error:  # noqa: BLE001 - an import failure here only means "try the next way"
            problems.append(f"databricks.sdk.runtime: {describe_failure(error)}")
    else:
        problems.append("no dbruntime module")
    try:
        from pyspark.dbutils import DBUtils  # only in Databricks' pyspark
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        if spark is not None:
            return DBUtils(spark), problems
        problems.append("pyspark.dbutils: no active SparkSession")
    except Exception as error:  # noqa: BLE001 - as above
        problems.append(f"pyspark.dbutils: {describe_failure(error)}")
    return None, problems
