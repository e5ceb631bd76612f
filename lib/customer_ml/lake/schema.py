"""Schemas: Delta <-> Spark conversion, and the comparison that enforces a table's schema on writes."""

from __future__ import annotations

import json

from pyspark.sql import types as T

from customer_ml.errors import SchemaMismatchError

SCHEMA_MODES = (None, "merge", "overwrite")


def spark_schema_from_delta_json(schema_json: str) -> T.StructType:
    """Delta stores its schema in Spark's own StructType JSON format, so the conversion is exact."""
    return T.StructType.fromJson(json.loads(schema_json))


def schema_differences(table: T.StructType, frame: T.StructType) -> list[str]:
    """Human-readable differences between a table's schema and a DataFrame's (names compared case-insensitively)."""
    table_fields = {f.name.lower(): f for f in table.fields}
    frame_fields = {f.name.lower(): f for f in frame.fields}
    differences = [
        f"missing column {table_fields[k].name} ({table_fields[k].dataType.simpleString()})"
        for k in table_fields
        if k not in frame_fields
    ]
    differences += [
        f"extra column {frame_fields[k].name} ({frame_fields[k].dataType.simpleString()})"
        for k in frame_fields
        if k not in table_fields
    ]
    for key, field in table_fields.items():
        other = frame_fields.get(key)
        if other is not None and not _same_type(field.dataType, other.dataType):
            differences.append(
                f"column {field.name} is {field.dataType.simpleString()} in the table but "
                f"{other.dataType.simpleString()} in the data"
            )
    return differences


def enforce_schema(table_name: str, table: T.StructType, frame: T.StructType, schema_mode: str | None) -> T.StructType:
    """Check a write against the table's schema and return the schema the table has after the write.

    Args:
        table_name: for the error message.
        table: the table's current schema.
        frame: the DataFrame's schema.
        schema_mode: None (must match), "merge" (new nullable columns are added; missing ones are written as
            null) or "overwrite" (the frame's schema replaces the table's; overwrite mode only).

    Returns:
        The table schema after the write.

    Raises:
        SchemaMismatchError: listing every difference and how to accept them.
    """
    if schema_mode not in SCHEMA_MODES:
        raise SchemaMismatchError(f"schema_mode must be one of None, 'merge', 'overwrite', got {schema_mode!r}")
    if schema_mode == "overwrite":
        return frame
    differences = schema_differences(table, frame)
    if not differences:
        return table
    if schema_mode == "merge":
        retyped = [d for d in differences if d.startswith("column ")]
        if retyped:
            raise SchemaMismatchError(f"cannot merge the schema of table {table_name}: {'; '.join(retyped)}")
        known = {f.name.lower() for f in table.fields}
        added = [
            T.StructField(f.name, f.dataType, True, f.metadata) for f in frame.fields if f.name.lower() not in known
        ]
        return T.StructType([*table.fields, *added])
    raise SchemaMismatchError(
        f"the data does not match the schema of table {table_name}: {'; '.join(differences)} "
        "(select the table's columns, or write with schema_mode='merge' to add new columns)"
    )


def conform(frame_columns: list[str], schema: T.StructType) -> list[str]:
    """Column expressions that put a frame in the table's column order, with nulls for columns it lacks."""
    present = {c.lower(): c for c in frame_columns}
    return [
        f"`{present[f.name.lower()]}` AS `{f.name}`"
        if f.name.lower() in present
        else f"CAST(NULL AS {f.dataType.simpleString()}) AS `{f.name}`"
        for f in schema.fields
    ]


def _same_type(left: T.DataType, right: T.DataType) -> bool:
    """Equal types, ignoring nullability (a non-null column may be written into a nullable one and back)."""
    return _strip_nullability(left) == _strip_nullability(right)


def _strip_nullability(data_type: T.DataType) -> T.DataType:
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, _strip_nullability(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(_strip_nullability(data_type.elementType), True)
    if isinstance(data_type, T.MapType):
        return T.MapType(_strip_nullability(data_type.keyType), _strip_nullability(data_type.valueType), True)
    return data_type
