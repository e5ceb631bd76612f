"""The lake: the only place that reads or writes tables. See `customer_ml.lake.tables` for the API."""

from customer_ml.lake.maintenance import (
    SAFE_RETAIN_HOURS,
    OptimizeReport,
    VacuumReport,
    optimize,
    vacuum,
    vacuum_retention,
)
from customer_ml.lake.tables import (
    WRITE_MODES,
    TableIdentity,
    TableRef,
    history,
    identity,
    read_snapshot,
    read_table,
    register_views,
    table_exists,
    table_id,
    table_path,
    table_ref,
    tables_under_root,
    write_table,
)

__all__ = [
    "SAFE_RETAIN_HOURS",
    "WRITE_MODES",
    "OptimizeReport",
    "TableIdentity",
    "TableRef",
    "VacuumReport",
    "history",
    "identity",
    "optimize",
    "read_snapshot",
    "read_table",
    "register_views",
    "table_exists",
    "table_id",
    "table_path",
    "table_ref",
    "tables_under_root",
    "vacuum",
    "vacuum_retention",
    "write_table",
]
