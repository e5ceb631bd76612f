"""What a write was decided to be, handed by `tables` to an engine (`native` or `delta_rs`): the engines read it,
so they need not import back from the module that calls them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import types as T


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
