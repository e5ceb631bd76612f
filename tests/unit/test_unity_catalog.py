"""`lake.catalog`: every table in one catalog and schema, and three-level model names in the Unity Catalog registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from customer_ml import tracking
from customer_ml.config import EXAMPLE_OVERLAY, load_settings
from customer_ml.errors import ConfigError
from customer_ml.lake import table_ref
from customer_ml.session import bind_settings
from tests.conftest import REPO

CONF = REPO / "conf"


class FakeSession:
    """Just what the lake's name resolution reads from a session: its conf."""

    def __init__(self) -> None:
        self.conf = self

    def set(self, key: str, value: str) -> None:
        setattr(self, "_" + key, value)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, "_" + key, default)


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    """A user's overlay adding two tables: one plain, one with its own catalog name."""
    path = tmp_path / "mine.yml"
    path.write_text(
        "tables:\n  outcomes: {path: outcomes}\n  crm: {catalog_name: crm_cat.sales.accounts}\n", encoding="utf-8"
    )
    return path


@pytest.fixture
def databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the bundle's job cluster sets."""
    for name, value in {
        "CUSTOMER_ML_CATALOG": "cat",
        "CUSTOMER_ML_SCHEMA": "sch",
        "CUSTOMER_ML_VOLUME": "vol",
        "CUSTOMER_ML_EXPERIMENT": "/Shared/cml",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CUSTOMER_ML_OVERLAY", raising=False)
    monkeypatch.delenv("CUSTOMER_ML_LAKE_ROOT", raising=False)


def test_lake_catalog_names_every_table_catalog_schema_table(overlay: Path) -> None:
    settings = load_settings(
        "local", conf_dir=CONF, overlays=[EXAMPLE_OVERLAY, overlay], overrides=["lake.catalog=main.cml"]
    )
    settings = settings.with_tables(["to_score"])  # a table a command names (--table)
    expected = {
        # the product's tables, the example overlay's, the implied ones, the user's overlay's and --table's
        "customers": "main.cml.customers",
        "customers_validated": "main.cml.customers_validated",
        "customers_quarantine": "main.cml.customers_quarantine",
        "customers_truth": "main.cml.customers_truth",
        "scored_customers": "main.cml.scored_customers",
        "upgrade_candidates": "main.cml.upgrade_candidates",
        "monitoring_drift": "main.cml.monitoring_drift",
        "monitoring_alerts": "main.cml.monitoring_alerts",
        "monitoring_profile": "main.cml.monitoring_profile",
        "segment_profiles": "main.cml.segment_profiles",
        "validation_results": "main.cml.validation_results",
        "pipeline_runs": "main.cml.pipeline_runs",
        "outcomes": "main.cml.outcomes",
        "outcomes_validated": "main.cml.outcomes_validated",
        "outcomes_quarantine": "main.cml.outcomes_quarantine",
        "to_score": "main.cml.to_score",
        "to_score_validated": "main.cml.to_score_validated",
        "to_score_quarantine": "main.cml.to_score_quarantine",
        "crm": "crm_cat.sales.accounts",  # its own catalog name wins
        "crm_validated": "crm_cat.sales.accounts_validated",  # beside it, as before
        "crm_quarantine": "crm_cat.sales.accounts_quarantine",
    }
    assert {name: table.catalog_name for name, table in settings.tables.items()} == expected
    assert settings.tables["customers"].path == "customers"  # kept for the offline engine


def test_without_lake_catalog_only_explicit_catalog_names(overlay: Path) -> None:
    settings = load_settings("local", conf_dir=CONF, overlays=[EXAMPLE_OVERLAY, overlay])
    named = {name: table.catalog_name for name, table in settings.tables.items() if table.catalog_name}
    assert named == {
        "crm": "crm_cat.sales.accounts",
        "crm_validated": "crm_cat.sales.accounts_validated",
        "crm_quarantine": "crm_cat.sales.accounts_quarantine",
    }


@pytest.mark.parametrize("catalog", ["main", "main.cml.extra", "main.my-schema", ".cml"])
def test_lake_catalog_must_be_catalog_dot_schema(catalog: str) -> None:
    with pytest.raises(ConfigError, match=rf"--set lake.catalog={catalog}: lake.catalog: .*is not catalog.schema"):
        load_settings("local", conf_dir=CONF, overrides=[f"lake.catalog={catalog}"])


def test_a_table_name_that_is_no_identifier_needs_its_own_catalog_name() -> None:
    with pytest.raises(ConfigError, match=r"tables.bad-name: .*cannot be a catalog table name.*catalog_name"):
        load_settings("local", conf_dir=CONF, overrides=["lake.catalog=main.cml", "tables.bad-name.path=x"])


def test_table_ref_takes_the_catalog_name_on_the_native_engine_and_the_path_offline(tmp_path: Path) -> None:
    settings = load_settings(
        "local", conf_dir=CONF, overrides=["lake.catalog=main.cml", f"project.work_dir={tmp_path}"]
    )
    session = FakeSession()
    bind_settings(session, settings, engine="spark")  # type: ignore[arg-type]
    native = table_ref(session, "scored_customers")  # type: ignore[arg-type]
    assert (native.catalog_name, native.location) == ("main.cml.scored_customers", None)
    bind_settings(session, settings, engine="delta-rs")  # type: ignore[arg-type]
    offline = table_ref(session, "scored_customers")  # type: ignore[arg-type]
    assert (offline.catalog_name, offline.location) == (None, str(tmp_path / "lakehouse" / "scored_customers"))


def test_databricks_env_puts_tables_files_and_experiments_in_the_bundle_variables(databricks_env: None) -> None:
    settings = load_settings("databricks", conf_dir=CONF, overlays=[EXAMPLE_OVERLAY])
    assert settings.lake.catalog == "cat.sch"
    assert all(table.catalog_name == f"cat.sch.{name}" for name, table in settings.tables.items())
    assert settings.tables["scored_customers"].catalog_name == "cat.sch.scored_customers"
    # reports and Data Docs on the volume, not the driver's /tmp
    assert settings.work_dir == Path("/Volumes/cat/sch/vol/work")
    assert settings.reports_dir == Path("/Volumes/cat/sch/vol/work/reports")
    assert settings.mlflow.experiment == "/Shared/cml"
    assert settings.monitoring.experiment == "/Shared/cml_monitoring"  # a workspace path, as Databricks requires


def test_models_are_three_level_in_the_unity_catalog_registry(databricks_env: None) -> None:
    settings = load_settings("databricks", conf_dir=CONF)
    assert settings.unity_catalog_registry
    assert tracking.model_name(settings, "classifier") == "cat.sch.customer_ml_classifier"
    assert tracking.model_name(settings, "segmenter") == "cat.sch.customer_ml_segmenter"


def test_models_keep_their_plain_name_outside_unity_catalog() -> None:
    local = load_settings("local", conf_dir=CONF, overrides=["lake.catalog=main.cml"])
    assert not local.unity_catalog_registry
    assert tracking.model_name(local, "classifier") == "customer_ml_classifier"
    workspace_registry = load_settings(
        "local",
        conf_dir=CONF,
        overrides=["lake.catalog=main.cml", "mlflow.tracking_uri=databricks", "mlflow.registry_uri=databricks"],
    )
    assert tracking.model_name(workspace_registry, "classifier") == "customer_ml_classifier"


def test_databricks_tracking_without_registry_uri_is_unity_catalog() -> None:
    """MLflow 3 takes databricks-uc as the registry of a databricks tracking URI."""
    settings = load_settings(
        "local", conf_dir=CONF, overrides=["lake.catalog=main.cml", "mlflow.tracking_uri=databricks://prof"]
    )
    assert tracking.model_name(settings, "classifier") == "main.cml.customer_ml_classifier"


def test_unity_catalog_registry_without_lake_catalog_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Unity Catalog model registry .*set lake.catalog"):
        load_settings("local", conf_dir=CONF, overrides=["mlflow.registry_uri=databricks-uc"])
