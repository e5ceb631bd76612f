"""One SparkSession for the whole run (local[2], 2 shuffle partitions, UI off, warehouse under a tmp folder)."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from mlflow.entities import Run
from pyspark.sql import SparkSession

from customer_ml.config import EXAMPLE_OVERLAY, load_settings
from customer_ml.session import bind_settings, get_spark
from customer_ml.settings import Settings

REPO = Path(__file__).resolve().parents[1]
TEST_OVERRIDES = ("spark.master=local[2]", "spark.shuffle_partitions=2", "spark.driver_memory=2g")


def make_settings(work_dir: Path, *overrides: str, overlays: tuple[str | Path, ...] = (EXAMPLE_OVERLAY,)) -> Settings:
    """The repo's local configuration with the example (synthetic retail bank) overlay, everything under
    `work_dir` and the test session's Spark settings. `overlays=()` gives the product's bare defaults."""
    return load_settings(
        "local",
        conf_dir=REPO / "conf",
        overrides=(f"project.work_dir={work_dir}", *TEST_OVERRIDES, *overrides),
        overlays=overlays,
    )


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The settings the shared session was started with."""
    return make_settings(tmp_path_factory.mktemp("spark-work"))


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[SparkSession]:
    session = get_spark(spark_settings)
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose work dir (and so lake root and MLflow store) is this test's tmp folder."""
    return make_settings(tmp_path / "work")


@pytest.fixture
def lake_settings(spark: SparkSession, tmp_path: Path) -> Settings:
    """Bind settings to the shared session whose lake root is this test's tmp folder, with test tables t, t2 and
    p (partitioned by `part`) configured besides conf/'s own."""
    settings = make_settings(
        tmp_path / "work", "tables.t.path=t", "tables.t2.path=t2", "tables.p.path=p", "tables.p.partition_by=[part]"
    )
    bind_settings(spark, settings, engine="delta-rs")
    return settings


# Model settings the tests train with: every candidate, each small, so a training takes seconds, not minutes.
FAST_MODELS = (
    "classifier.candidates.gbt.params={maxIter: 10}",
    "classifier.candidates.gbt.grid={}",
    "classifier.candidates.logistic.params={maxIter: 30}",
    "classifier.candidates.xgboost.params={n_estimators: 120}",
    "classifier.candidates.xgboost.grid={}",
    "segmenter.selection.k_max=6",
    "segmenter.stability.runs=2",
    "segmenter.n_init=2",
)


@dataclass(frozen=True)
class SyntheticLake:
    """A validated synthetic base shared by the model tests, and the settings that point at it."""

    settings: Settings
    rows: int
    bayes_auc: float


@pytest.fixture(scope="session")
def synthetic_lake_session(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> SyntheticLake:
    """20,000 generated customers, validated (customers_validated), once per test run."""
    from customer_ml.data import generate
    from customer_ml.validation import stage

    settings = make_settings(tmp_path_factory.mktemp("synthetic") / "work", *FAST_MODELS)
    bind_settings(spark, settings, engine="delta-rs")
    result = generate.run(spark, settings, rows=20_000)
    stage.run(spark, settings, "customers")
    return SyntheticLake(settings, result.rows, result.bayes_auc)


@pytest.fixture(scope="module")
def module_tracking_uri(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """An MLflow store (runs and registry) of this test module's own: no module finds another's models, so the
    order modules run in changes nothing (a first model is champion in each)."""
    folder = tmp_path_factory.mktemp("mlflow-" + request.module.__name__.rsplit(".", 1)[-1])
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def synthetic_lake(
    spark: SparkSession, synthetic_lake_session: SyntheticLake, module_tracking_uri: str
) -> SyntheticLake:
    """The shared synthetic lake, bound to the session for this test (other tests bind their own lakes), with this
    module's own MLflow store."""
    base = synthetic_lake_session.settings
    settings = base.model_copy(update={"mlflow": base.mlflow.model_copy(update={"tracking_uri": module_tracking_uri})})
    bind_settings(spark, settings, engine="delta-rs")
    return replace(synthetic_lake_session, settings=settings)


def assert_recorded_input(run: Run, table: str, version: int) -> None:
    """A training run says what it read: tags and an MLflow dataset input (the Delta table at that version)."""
    assert run.data.tags["input.table"] == table
    assert run.data.tags["input.version"] == str(version)
    assert run.data.tags["customer_ml.version"] == importlib.metadata.version("customer-ml")
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == f"{table}@v{version}"
    assert dataset.dataset.source_type == "delta_table"
    source = json.loads(dataset.dataset.source)
    assert source["path"].endswith(table)
    assert source.get("delta_table_version", 0) == version  # MLflow leaves out a version 0
    assert [tag.value for tag in dataset.tags if tag.key == "mlflow.data.context"] == ["training"]
