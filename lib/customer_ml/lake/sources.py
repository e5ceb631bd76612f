"""Reading source files (CSV, Parquet, JSON, Delta) for ingest: the lake's one door for data from outside."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from customer_ml.errors import SourceError
from customer_ml.lake import delta_rs
from customer_ml.lake.engines import engine_for
from customer_ml.settings import is_uri


def read_source(spark: SparkSession, name: str, fmt: str, path: str, options: Mapping[str, Any]) -> DataFrame:
    """Read one source; a missing or unreadable source fails with its name, path and what to fix.

    Args:
        spark: the session.
        name: the source's name in `ingest.sources`, for messages.
        fmt: csv, parquet, json or delta.
        path: a local path (relative to the current folder) or a URI.
        options: Spark reader options (e.g. header, sep, multiLine).
    """
    location = path if is_uri(path) else str(Path(path).expanduser().resolve())
    if not is_uri(path) and not Path(location).exists():
        raise SourceError(f"source '{name}': no file or folder at {location}; fix ingest.sources.{name}.path")
    try:
        if fmt == "delta":
            return engine_for(spark).read_path(location, name)
        reader = spark.read.format(fmt).options(
            **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}
        )
        frame = reader.load(location)
        frame.schema  # noqa: B018 - forces schema inference now, so an unreadable file fails here, by name
        return frame
    except (AnalysisException, delta_rs.TableNotFoundError, OSError) as error:
        first_line = str(error).strip().splitlines()[0][:300]
        raise SourceError(f"source '{name}': cannot read {location} as {fmt} ({first_line})") from None
    except Exception as error:  # Py4J errors for corrupt files carry the reason in their text
        if "Py4J" not in type(error).__name__ and "Spark" not in type(error).__name__:
            raise
        first_line = str(error).strip().splitlines()[0][:300]
        raise SourceError(f"source '{name}': cannot read {location} as {fmt} ({first_line})") from None
