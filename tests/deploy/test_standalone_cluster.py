"""spark-submit of the wheel's job files to a real standalone cluster (a master and a worker JVM, executors in JVMs
of their own), as README "Run on a cluster" says: generate → validate → train-classifier → score → monitor on a few
thousand rows, with the offline Delta engine writing from the executors (issue 15 item 2).

The submitter names only the driver's Python: the executors' interpreter follows it (customer_ml.session), although
the worker's PATH has a `python3` without pyarrow or customer_ml.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.deploy.cluster import standalone_cluster
from tests.deploy.conftest import WheelInstall, clean_env, run

pytestmark = pytest.mark.slow

ROWS = 3000
SMALL = (
    "spark.shuffle_partitions=4",
    "classifier.candidates.gbt.enabled=false",
    "classifier.candidates.logistic.enabled=false",
    "classifier.candidates.xgboost.grid={}",
    "classifier.candidates.xgboost.params.n_estimators=40",
)
STAGES = (
    ("generate", "--rows", str(ROWS)),
    ("validate",),
    ("train_classifier",),
    ("score", "--score-date", "2026-11-30"),
    ("monitor", "--score-date", "2026-11-30"),
)


def test_every_stage_by_spark_submit_on_a_standalone_cluster(wheel_install: WheelInstall, tmp_path: Path) -> None:
    runtime_pyspark = Path(
        run(
            [wheel_install.python, "-c", "import pyspark; print(pyspark.__path__[0])"], tmp_path, clean_env()
        ).stdout.strip()
    )
    shared = tmp_path / "shared"  # the shared storage every node sees: lake, MLflow, work dir
    node_env = clean_env(PATH="/usr/bin:/bin")  # a worker's shell: no venv on PATH
    submit_env = clean_env(
        PATH="/usr/bin:/bin",
        CUSTOMER_ML_WORK_DIR=str(shared / "work"),
        CUSTOMER_ML_LAKE_ROOT=str(shared / "lake"),
        MLFLOW_TRACKING_URI=f"sqlite:///{shared / 'mlflow.db'}",
    )
    jobs = wheel_install.package / "jobs"
    overrides = [arg for item in SMALL for arg in ("--set", item)]
    with standalone_cluster(runtime_pyspark, tmp_path / "cluster", node_env) as cluster:
        for stage, *arguments in STAGES:
            done = run(
                [
                    runtime_pyspark / "bin" / "spark-submit",
                    "--master",
                    cluster.url,
                    "--conf",
                    f"spark.pyspark.driver.python={wheel_install.python}",
                    "--conf",
                    "spark.ui.enabled=false",
                    "--executor-memory",
                    "2g",
                    jobs / f"{stage}.py",
                    "--env",
                    "cluster",
                    "--overlay",
                    "examples/retail_bank",
                    *overrides,
                    *arguments,
                ],
                tmp_path,
                submit_env,
                timeout=900,
            )
            allowed = (0, 3) if stage == "monitor" else (0,)
            assert done.returncode in allowed, f"{stage}: exit {done.returncode}\n{done.stderr[-4000:]}"
        apps = sorted(cluster.worker_dir.glob("app-*"))
    # Every submission ran executors on the worker, in their own JVMs (one folder per application).
    assert len(apps) == len(STAGES), apps
    assert all(list(app.glob("*/stderr")) for app in apps)

    assert not (tmp_path / "mlruns").exists(), "MLflow artifacts landed in the current folder"
    lake = shared / "lake"
    assert DeltaTable(str(lake / "customers")).to_pyarrow_table().num_rows == ROWS
    validated = DeltaTable(str(lake / "customers_validated")).to_pyarrow_table().num_rows
    quarantined = DeltaTable(str(lake / "customers_quarantine")).to_pyarrow_table().num_rows
    assert validated + quarantined == ROWS and validated > 0
    scored = DeltaTable(str(lake / "scored_customers")).to_pyarrow_table()
    assert scored.num_rows == validated
    assert set(scored.column("score_date").to_pylist()) == {dt.date(2026, 11, 30)}
    drift = DeltaTable(str(lake / "monitoring_drift")).to_pyarrow_table()
    assert drift.num_rows > 0
