"""Every stage but training over Spark Connect (Databricks serverless and shared clusters talk to Spark this way):
a local Spark Connect server from the pyspark install, `customer-ml` with SPARK_REMOTE=sc://… running info,
generate, validate, score and monitor; the models are trained on a classic session over the same lake and MLflow
store, as README "Spark Connect" says (issue 15 item 6)."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from customer_ml import classifier
from customer_ml.segmenter import stage as segmenter
from customer_ml.session import bind_settings
from tests.conftest import FAST_MODELS, make_settings
from tests.deploy.cluster import _stop, free_port
from tests.deploy.conftest import clean_env, run

pytestmark = pytest.mark.slow

ROWS = 3000
DATE = "2026-11-30"


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server (local[2]) whose Python workers run this interpreter; stopped by pid."""
    folder = tmp_path_factory.mktemp("connect")
    port = free_port()
    home = Path(pyspark.__file__).parent
    env = clean_env(
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        SPARK_HOME=str(home),
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    command = [
        home / "bin" / "spark-submit", "--master", "local[2]",
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=4",
    ]  # fmt: skip
    log = folder / "server.log"
    with log.open("w", encoding="utf-8") as out:
        server = subprocess.Popen(
            [str(c) for c in command], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Spark Connect server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        _stop(server)


def test_stages_over_spark_connect(connect_server: str, spark: SparkSession, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    lake, tracking = shared / "lake", f"sqlite:///{shared / 'mlflow.db'}"
    env = clean_env(
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        SPARK_REMOTE=connect_server,
        CUSTOMER_ML_WORK_DIR=str(shared / "work"),
        CUSTOMER_ML_LAKE_ROOT=str(lake),
        MLFLOW_TRACKING_URI=tracking,
    )
    cli = [Path(sys.executable).parent / "customer-ml", "--env", "cluster", "--overlay", "examples/retail_bank"]

    def over_connect(*arguments: str, allowed: tuple[int, ...] = (0,)) -> str:
        done = run([*cli, *arguments], tmp_path, env, timeout=600)
        assert done.returncode in allowed, f"{arguments}: exit {done.returncode}\n{done.stderr[-4000:]}"
        return done.stdout

    info = dict(line.split("  ", 1) for line in over_connect("info").splitlines() if "  " in line)
    assert info["master"].strip() == f"Spark Connect {connect_server}"
    assert info["delta engine"].strip() == "delta-rs"  # the server has no Delta classes: the offline engine writes
    over_connect("generate", "--rows", str(ROWS))
    over_connect("validate")

    # Training refuses Connect in one line, naming the way that works
    done = run([*cli, "train-classifier"], tmp_path, env, timeout=300)
    assert done.returncode == 2
    assert "cannot run over Spark Connect" in done.stderr.strip().splitlines()[-1]

    # ... and runs on a classic session over the same lake and MLflow store
    settings = make_settings(
        shared / "work",
        f"lake.root={lake}",
        f"mlflow.tracking_uri={tracking}",
        *FAST_MODELS,
        # xgboost.spark models load through the SparkContext: over Connect only Spark ML's own estimators score
        "classifier.candidates.xgboost.enabled=false",
        "classifier.candidates.logistic.enabled=false",
        "segmenter.selection.k_max=3",  # the models only need to exist: scoring and monitoring are under test
        "segmenter.stability.runs=0",
    )
    bind_settings(spark, settings, engine="delta-rs")
    classifier.run(spark, settings)
    segmenter.run(spark, settings)

    scored = over_connect("score", "--score-date", DATE)
    assert "scored" in scored
    over_connect("monitor", "--score-date", DATE, allowed=(0, 3))

    assert not (tmp_path / "mlruns").exists(), "MLflow artifacts landed in the current folder"
    validated = DeltaTable(str(lake / "customers_validated")).to_pyarrow_table().num_rows
    table = DeltaTable(str(lake / "scored_customers")).to_pyarrow_table()
    assert table.num_rows == validated > 0
    assert set(table.column("score_date").to_pylist()) == {dt.date(2026, 11, 30)}
    assert table.column("segment_id").null_count == 0
    assert DeltaTable(str(lake / "monitoring_drift")).to_pyarrow_table().num_rows > 0
