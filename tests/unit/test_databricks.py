"""The task values `monitor` publishes for a Databricks job, and its `--alert-exit-code`, on the real CLI parser."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from customer_ml import cli, databricks
from customer_ml.monitoring import stage
from tests.conftest import REPO


class FakeDbutils:
    """dbutils.jobs.taskValues.set, recording what it is given (or refusing)."""

    def __init__(self, refuse: bool = False) -> None:
        self.values: dict[str, Any] = {}
        self.refuse = refuse
        self.jobs = SimpleNamespace(taskValues=SimpleNamespace(set=self.set))

    def set(self, key: str, value: Any) -> None:
        if self.refuse:
            raise RuntimeError("task values are not supported here")
        self.values[key] = value


@pytest.fixture
def off_databricks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(databricks.RUNTIME_VARIABLE, raising=False)


def test_monitor_values_say_retrain_exactly_when_an_alert_fired() -> None:
    assert databricks.monitor_task_values(0) == {"alerts": 0, "retrain": False}
    assert databricks.monitor_task_values(3) == {"alerts": 3, "retrain": True}


def test_off_databricks_the_values_are_logged_and_nothing_else(
    off_databricks: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="customer_ml.databricks"):
        published = databricks.set_task_values({"alerts": 2, "retrain": True})
    assert published is False
    assert "not on Databricks" in caplog.text
    assert "retrain=true" in caplog.text


def test_on_databricks_without_dbutils_it_warns_and_does_not_fail(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """E.g. `customer-ml monitor` from a cluster's web terminal: no dbruntime, no pyspark.dbutils here."""
    monkeypatch.setenv(databricks.RUNTIME_VARIABLE, "17.3")
    with caplog.at_level(logging.WARNING, logger="customer_ml.databricks"):
        published = databricks.set_task_values({"retrain": False})
    assert published is False
    assert "task values not published (retrain=false)" in caplog.text
    assert "no dbruntime module" in caplog.text


def test_values_go_to_dbutils_task_values() -> None:
    dbutils = FakeDbutils()
    assert databricks.set_task_values(databricks.monitor_task_values(1), dbutils=dbutils) is True
    assert dbutils.values == {"alerts": 1, "retrain": True}


def test_a_refusal_by_dbutils_is_one_named_error() -> None:
    with pytest.raises(databricks.TaskValueError, match=r"dbutils refused task value 'alerts'.*not supported here"):
        databricks.set_task_values({"alerts": 1}, dbutils=FakeDbutils(refuse=True))


def test_values_that_are_no_json_or_too_large_fail_before_dbutils() -> None:
    dbutils = FakeDbutils()
    with pytest.raises(databricks.TaskValueError, match=r"task value 'when' is not JSON"):
        databricks.set_task_values({"when": object()}, dbutils=dbutils)
    with pytest.raises(databricks.TaskValueError, match=r"task value 'big' is 50,002 bytes as JSON; .*48 KiB"):
        databricks.set_task_values({"big": "x" * 50_000}, dbutils=dbutils)
    assert dbutils.values == {}


def test_alert_exit_code_on_the_real_parser() -> None:
    assert cli.parse_args(["monitor"]).alert_exit_code == cli.ALERT_EXIT == 3
    args = cli.parse_args(["--env", "databricks", "monitor", "--score-date", "2024-05-31", "--alert-exit-code", "0"])
    assert (args.command, args.env, args.alert_exit_code, str(args.score_date)) == (
        "monitor",
        "databricks",
        0,
        "2024-05-31",
    )
    with pytest.raises(SystemExit):
        cli.parse_args(["monitor", "--alert-exit-code", "zero"])


@pytest.mark.parametrize("code", ["2", "256", "-1"])
def test_an_alert_exit_code_that_means_failure_or_is_no_exit_code_is_refused(
    code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--conf-dir", str(REPO / "conf"), "monitor", "--alert-exit-code", code]) == 2
    assert f"--alert-exit-code must be 0..255 and not 2 (2 means the monitor failed), got {code}" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(("alerts", "argv", "expected"), [(1, [], 3), (1, ["--alert-exit-code", "0"], 0), (0, [], 0)])
def test_monitor_exits_with_the_alert_code_and_publishes_its_values(
    alerts: int, argv: list[str], expected: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The monitor's own work stubbed out: what `_monitor` does with its result."""
    published: list[dict[str, Any]] = []
    monkeypatch.setattr("customer_ml.session.get_spark", lambda settings: None)
    monkeypatch.setattr(stage, "run", lambda spark, settings, **_: SimpleNamespace(alerts=["drift"] * alerts))
    monkeypatch.setattr(stage, "summary", lambda result: [f"{len(result.alerts)} alert(s)"])
    monkeypatch.setattr(databricks, "set_task_values", lambda values: published.append(dict(values)))
    assert cli.main(["--conf-dir", str(REPO / "conf"), "monitor", *argv]) == expected
    assert published == [{"alerts": alerts, "retrain": alerts > 0}]
    assert capsys.readouterr().out == f"{alerts} alert(s)\n"
