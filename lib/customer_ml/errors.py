"""Named errors: each message says what is wrong, where, and how to fix it."""

from __future__ import annotations

import errno
import os
import re


class CustomerMLError(Exception):
    """Base class of every error customer-ml raises on purpose. The CLI prints it as one line and exits 2."""


class ConfigError(CustomerMLError):
    """The configuration is invalid: a file, a key, a value or an environment variable."""


class SparkSetupError(CustomerMLError):
    """Spark (or Java, or the Delta engine asked for) could not be set up."""


class LakeError(CustomerMLError):
    """A table could not be read or written."""


class TableNotFoundError(LakeError):
    """The table does not exist at its configured location."""


class SchemaMismatchError(LakeError):
    """A DataFrame does not match the schema of the table it is written to."""


class UnsupportedTableError(LakeError):
    """The table uses Delta protocol features the offline engine cannot honour."""


class CommitConflictError(LakeError):
    """Another writer committed first and the two commits cannot both stand."""


class SourceError(CustomerMLError):
    """An ingest source is missing, unreadable, or does not fit its description in conf."""


class ValidationError(CustomerMLError):
    """Validation could not run (schema, unknown expectation) or an `error`-severity expectation failed."""


class MonitoringError(CustomerMLError):
    """Drift or quality statistics cannot be computed from what they were given (a missing column, an empty frame,
    counts that do not fit together)."""


_ERRNO_FIXES = {
    errno.ENOSPC: "no space left on the device: free space, or point project.work_dir / lake.root elsewhere",
    errno.EROFS: "read-only file system: point project.work_dir / lake.root at a writable place",
    errno.EACCES: "permission denied: give this user write access, or point project.work_dir / lake.root elsewhere",
    errno.EDQUOT: "disk quota exceeded: free space, or point project.work_dir / lake.root elsewhere",
}
_CONDITION_FIXES = {
    "FAILED_READ_FILE": "a data file is truncated or damaged: rerun the stage that wrote the table, or restore the "
    "file; `customer-ml history TABLE` lists the versions",
}
_PYTHON_ERROR = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt): .+$")
_JAVA_ERROR = re.compile(r"^(?:Caused by: )?[\w.$]+(?:Exception|Error): (.+)$")
# A Python worker's interpreter lacks a package: the executors run another Python than the driver's.
_MISSING_MODULE = re.compile(r"^(?:ModuleNotFoundError|ImportError): .*?'([\w.]+)'")
_WORKER_PYTHON_FIX = (
    "Spark's Python workers run an interpreter without '{module}': point spark.pyspark.python (or PYSPARK_PYTHON) "
    "at a Python with customer-ml installed, at the same path on every node, or ship a packed venv with "
    "--archives; README 'Run on a cluster'"
)
_FILE = re.compile(r"(?:file:|s3a?://|abfss?://|gs://|dbfs:)\S+|(?<![\w.])/(?:[\w.@%+=-]+/)+[\w.@%+=-]+")


def describe_failure(error: BaseException) -> str:
    """One line for an error customer-ml did not raise on purpose (Spark, the file system, a library): its kind,
    what it says, and the file it names. `-v` shows the whole traceback instead of only this line."""
    if isinstance(error, CustomerMLError):
        return str(error)
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in _ERRNO_FIXES:
            where = cause.filename or _first_file(str(cause))
            return f"{_ERRNO_FIXES[cause.errno]} ({where or 'path not reported'})"
    whole = str(error)
    for errno_code, fix in _ERRNO_FIXES.items():  # the same faults inside a Spark task's or the JVM's report
        if os.strerror(errno_code).lower() in whole.lower():
            where = _first_file(whole)
            return f"{fix} ({where})" if where else fix
    raised = _python_worker_error(whole)
    if raised:
        missing = _MISSING_MODULE.match(raised)
        fix = f" ({_WORKER_PYTHON_FIX.format(module=missing.group(1))})" if missing else ""
        return f"a Spark task failed in Python: {raised[:500]}{fix}"
    text = _first_meaningful_line(error)
    hint = next((h for condition, h in _CONDITION_FIXES.items() if text.startswith(f"[{condition}")), "")
    if hint:
        return f"{text} ({hint})"
    if not text.startswith("[") and not _PYTHON_ERROR.match(text):  # [CONDITION] or `Name: …` already say what
        text = f"{type(error).__name__}: {text}"
    return text


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _python_worker_error(text: str) -> str | None:
    """What a Python worker raised (a UDF, a data source writer), from the report Spark relays: its first line
    only says "An exception was thrown from the Python worker" (or "Failed to initialize Python data source
    writer: Traceback …"); the exception is the first unindented line after the frames of the (last) traceback."""
    if "thrown from the Python worker" not in text and "Python data source" not in text:
        return None
    _, marker, frames = text.rpartition("Traceback (most recent call last):")
    if not marker:
        return None
    return next((line.strip() for line in frames.splitlines() if line.strip() and not line[0].isspace()), None)


def _first_meaningful_line(error: BaseException) -> str:
    """Spark's errors start with `[CONDITION] message`, py4j's with `An error occurred while calling oN.x.` and
    the Java exception on the next line: the first line that says something, without the class prefix."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("An error occurred while calling"):
            continue
        line = line.lstrip(": ").strip()
        match = _JAVA_ERROR.match(line)
        return (match.group(1) if match else line)[:500]
    return type(error).__name__


def _first_file(text: str) -> str | None:
    """The first data path a report names (not a source file of a stack trace)."""
    for match in _FILE.finditer(text):
        path = match.group(0).rstrip(".,;:)'\"")
        if not path.endswith((".py", ".scala", ".java")) and "site-packages" not in path:
            return path
    return None
