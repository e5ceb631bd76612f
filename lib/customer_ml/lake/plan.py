"""What `tables` hands an engine (see `engines`): where a table lives (`TableRef`) and what a write was decided to
be (`WritePlan`). The engines read them, so they need not import back from the module that calls them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import types as T


@dataclass(frozen=True)
class TableRef:
    """Where a configured table lives: a path/URI, or a catalog name (native engine only)."""

    name: str
    location: str | None
    catalog_name: str | None
    partition_by: tuple[str, ...]


@dataclass(frozen=True)
class WritePlan:
    """One write, decided: where, how, and the table's schema and partitioning after it."""

    name: str
    location: str | None
    catalog_name: str | None
    mode: str
    schema: T.StructType
    partition_by: tuple[str, ...]
    partition_values: list[Mapping[str, Any]] | None
    schema_mode: str | None
    commit_info: dict[str, Any]
    create: bool
