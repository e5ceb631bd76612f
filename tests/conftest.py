"""One SparkSession for the whole run (local[2], 2 shuffle partitions, UI off, warehouse under a tmp folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml.config import load_settings
from customer_ml.session import bind_settings, get_spark
from customer_ml.settings import Settings

REPO = Path(__file__).resolve().parents[1]
TEST_OVERRIDES = ("spark.master=local[2]", "spark.shuffle_partitions=2", "spark.driver_memory=2g")


def make_settings(work_dir: Path, *overrides: str) -> Settings:
    """The repo's local configuration with everything under `work_dir` and the test session's Spark settings."""
    return load_settings(
        "local",
        conf_dir=REPO / "conf",
        overrides=(f"project.work_dir={work_dir}", *TEST_OVERRIDES, *overrides),
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
