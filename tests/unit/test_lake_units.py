"""Pure pieces of the lake: schema enforcement, the native engine's partition predicate, the engine interface."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pyspark.sql import types as T

from customer_ml.config import load_settings
from customer_ml.errors import SchemaMismatchError
from customer_ml.lake.engines import Engine, NativeEngine, OfflineEngine, engine_for
from customer_ml.lake.native import _predicate
from customer_ml.lake.schema import conform, enforce_schema
from customer_ml.session import bind_settings
from tests.unit.test_unity_catalog import CONF, FakeSession

TABLE = T.StructType([T.StructField("id", T.LongType()), T.StructField("name", T.StringType())])


def test_native_replace_where_predicate_quotes_and_handles_null() -> None:
    assert _predicate(["d"], [{"d": "2024-01-31"}]) == "(`d` = '2024-01-31')"
    assert _predicate(["d", "r"], [{"d": "x'y", "r": None}, {"d": "z", "r": "n"}]) == (
        "(`d` = 'x''y' AND `r` IS NULL) OR (`d` = 'z' AND `r` = 'n')"
    )


def test_enforce_schema_accepts_same_columns_any_order_and_nullability() -> None:
    frame = T.StructType([T.StructField("name", T.StringType(), False), T.StructField("ID", T.LongType(), False)])
    assert enforce_schema("t", TABLE, frame, None) == TABLE


def test_enforce_schema_merge_appends_new_nullable_columns() -> None:
    frame = T.StructType([*TABLE.fields, T.StructField("score", T.DoubleType(), False)])
    merged = enforce_schema("t", TABLE, frame, "merge")
    assert merged.fieldNames() == ["id", "name", "score"]
    assert merged["score"].nullable is True


def test_enforce_schema_rejects_unknown_mode() -> None:
    with pytest.raises(SchemaMismatchError, match=r"schema_mode must be one of"):
        enforce_schema("t", TABLE, TABLE, "append")


def test_conform_orders_columns_and_fills_missing_with_typed_nulls() -> None:
    assert conform(["name"], TABLE) == ["CAST(NULL AS bigint) AS `id`", "`name` AS `name`"]


def test_dictionary_encoding_only_for_repetitive_columns() -> None:
    import pyarrow as pa

    from customer_ml.lake.arrow_sink import _dictionary_columns

    table = pa.table(
        {
            "id": list(range(100)),
            "amount": [i / 3 for i in range(100)],
            "segment": ["a", "b", None, "c"] * 25,
            "tenure": [i % 20 for i in range(100)],
            "active": [True, False] * 50,
        }
    )
    assert _dictionary_columns(table) == ["segment", "tenure"]


def test_tables_under_root_lists_delta_folders_with_sql_names(tmp_path) -> None:
    from customer_ml.lake import tables_under_root

    for folder in ("to_score", "customers", "my table", "not_delta"):
        (tmp_path / folder).mkdir()
    for folder in ("to_score", "customers", "my table"):
        (tmp_path / folder / "_delta_log").mkdir()
    assert tables_under_root(str(tmp_path)) == ["customers", "to_score"]
    assert tables_under_root(str(tmp_path / "missing")) == []
    assert tables_under_root("s3://bucket/lake") == []


def test_vacuum_retention_defaults_to_conf_and_refuses_less_than_a_week_unless_forced(tmp_path) -> None:
    from customer_ml.errors import LakeError
    from customer_ml.lake import vacuum_retention
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, overlays=())
    assert settings.lake.vacuum_retain_hours == 168  # conf/base/lake.yml
    assert vacuum_retention(settings, None, force=False) == 168
    assert vacuum_retention(settings, 720, force=False) == 720
    assert vacuum_retention(settings, 0, force=True) == 0
    with pytest.raises(LakeError, match=r"^vacuum of table t: a retention of 167 hours .*lake\.vacuum_retain_hours"):
        vacuum_retention(settings, 167, force=False, name="t")
    short = make_settings(tmp_path, "lake.vacuum_retain_hours=24", overlays=())
    with pytest.raises(LakeError, match="pass --force"):
        vacuum_retention(short, None, force=False)
    assert vacuum_retention(short, None, force=True) == 24
    with pytest.raises(LakeError, match="0 hours or more"):
        vacuum_retention(settings, -1, force=True)


@pytest.mark.parametrize("engine", [NativeEngine, OfflineEngine])
def test_each_engine_answers_every_question_the_lake_asks_with_the_same_signature(engine: type) -> None:
    asked = {name for name in vars(Engine) if not name.startswith("_") and callable(getattr(Engine, name))}
    assert asked >= {"exists", "read", "write", "merge", "history", "vacuum", "optimize"}
    for name in asked:
        wanted = inspect.signature(getattr(Engine, name))
        given = inspect.signature(getattr(engine, name))
        assert list(given.parameters) == list(wanted.parameters), f"{engine.__name__}.{name}{given} != {wanted}"
    assert isinstance(engine.catalogs, bool)


def test_the_engine_is_the_one_the_session_was_bound_with(tmp_path: Path) -> None:
    settings = load_settings("local", conf_dir=CONF, overrides=[f"project.work_dir={tmp_path}"])
    session = FakeSession()
    bind_settings(session, settings, engine="spark")  # type: ignore[arg-type]
    assert type(engine_for(session)) is NativeEngine  # type: ignore[arg-type]
    bind_settings(session, settings, engine="delta-rs")  # type: ignore[arg-type]
    assert type(engine_for(session)) is OfflineEngine  # type: ignore[arg-type]
