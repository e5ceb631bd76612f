"""The lake: the only place that reads or writes tables. See `customer_ml.lake.tables` for the API."""

from customer_ml.lake.tables import (
    WRITE_MODES,
    TableRef,
    history,
    read_snapshot,
    read_table,
    register_views,
    table_exists,
    table_path,
    table_ref,
    tables_under_root,
    write_table,
)

__all__ = [
    "WRITE_MODES",
    "TableRef",
    "history",
    "read_snapshot",
    "read_table",
    "register_views",
    "table_exists",
    "table_path",
    "table_ref",
    "tables_under_root",
    "write_table",
]
