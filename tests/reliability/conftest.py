"""A small labelled project trained once, for the probes that need a model (scoring, kills)."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.reliability.helpers import Outcome, Project, TableState, labelled_project, labelled_rows, states

INPUT_TABLES = ("customers", "customers_validated", "customers_quarantine", "validation_results")


@dataclass(frozen=True)
class Trained:
    """300 labelled rows ingested, validated and a classifier trained on them (version 1, champion)."""

    project: Project
    training: Outcome  # `train-classifier` as the user saw it
    before: dict[str, TableState | None]  # the tables before training
    after: dict[str, TableState | None]  # and after


@pytest.fixture(scope="session")
def trained(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    mine = labelled_project(tmp_path_factory.mktemp("trained"), labelled_rows(300, seed=1))
    for stage in ("ingest", "validate"):
        done = mine.call(stage)
        assert done.code == 0, done.err[-3:]
    before = states(spark, mine.settings(), *INPUT_TABLES)
    training = mine.call("train-classifier")
    return Trained(mine, training, before, states(spark, mine.settings(), *INPUT_TABLES))


@pytest.fixture
def scorer(trained: Trained, tmp_path: Path) -> Project:
    """The trained project with a copy of its work dir (lake and MLflow store) as this test's own, to score into,
    and this test's folder as its root (for files of its own; the source and overlay stay the trained project's)."""
    assert trained.training.code == 0, trained.training.err[-3:]
    shutil.copytree(trained.project.work, tmp_path / "work")
    return dataclasses.replace(trained.project, root=tmp_path, work=tmp_path / "work")
