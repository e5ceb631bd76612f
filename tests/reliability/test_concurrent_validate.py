"""Issue 13 item 7: two `validate` runs of one work dir at once (scheduled jobs overlap) both succeed: the GX
context is taken in turns (the waiting one says for whom), and two first appends to a new results table both land."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml import lake
from customer_ml.session import bind_settings
from tests.conftest import TEST_OVERRIDES, make_settings
from tests.reliability.helpers import project


@pytest.mark.slow
def test_two_validate_runs_at_once_both_succeed(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path)
    assert mine.run(capsys, "ingest").code == 0
    command = [str(Path(sys.executable).with_name("customer-ml")), "--overlay", str(mine.overlay)]
    for option in (f"project.work_dir={mine.work}", *TEST_OVERRIDES, "spark.master=local[1]"):
        command += ["--set", option]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    runs = [
        subprocess.Popen([*command, "validate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    try:
        outcomes = [run.communicate(timeout=600) for run in runs]
    finally:
        for run in runs:
            run.kill()
    for run, (out, err) in zip(runs, outcomes, strict=True):
        assert run.returncode == 0, err[-2000:]
        assert "validated customers: 3 rows -> 3 validated, 0 quarantined" in out
        assert "Traceback" not in err
    waited = [err for _, err in outcomes if "waiting for validate customers (pid " in err]
    assert len(waited) <= 1  # at most one waited, for the other (timing decides whether either had to)

    bind_settings(spark, make_settings(mine.work, overlays=(mine.overlay,)), engine="delta-rs")
    runs_recorded = lake.read_table(spark, "validation_results").groupBy("run_id").count().collect()
    assert sorted(r["count"] for r in runs_recorded) == [4, 4]  # both runs' results, none lost
    assert lake.read_table(spark, "customers_validated").count() == 3


def test_a_run_waits_for_the_one_holding_the_gx_context_and_says_for_whom(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import fcntl
    import threading
    import time

    from customer_ml.validation.gx_runner import _one_run_at_a_time

    entered = threading.Event()
    with _one_run_at_a_time(tmp_path, "customers"):

        def second() -> None:
            with _one_run_at_a_time(tmp_path, "holdout"):
                entered.set()

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)
        assert not entered.is_set()  # held: the second run waits
    waiter.join(timeout=10)
    assert entered.is_set()
    said = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert said == [
        f"validate holdout: waiting for validate customers (pid {os.getpid()}), which is using the GX "
        f"context at {tmp_path}"
    ]
    with (tmp_path / ".customer_ml.lock").open() as handle:  # released: free to take
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
