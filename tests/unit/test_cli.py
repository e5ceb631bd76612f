from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession

from customer_ml.cli import entry, main
from tests.conftest import REPO, TEST_OVERRIDES


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_runs_in_process(spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overrides = [arg for override in TEST_OVERRIDES for arg in ("--set", override)]
    code, out, _ = run(
        capsys, "--conf-dir", str(REPO / "conf"), "--set", f"project.work_dir={tmp_path}", *overrides, "info"
    )
    assert code == 0
    fields = {name.strip(): value.strip() for name, value in (line.split("  ", 1) for line in out.splitlines())}
    assert fields["spark"] == spark.version
    assert fields["delta engine"] == "delta-rs"
    assert fields["master"] == "local[2]"
    assert fields["env"] == "local"
    assert fields["lake root"] == str(tmp_path / "lakehouse")
    assert fields["mlflow tracking uri"] == f"sqlite:///{tmp_path}/mlflow.db"


def test_entry_raises_the_failure_code_and_returns_on_success(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console script is also a Databricks wheel task's entry point, whose return value may be dropped: a
    failure must leave as SystemExit(2), success without raising."""
    conf = str(REPO / "conf")
    monkeypatch.setattr("sys.argv", ["customer-ml", "--conf-dir", conf, "config", "show"])
    assert entry() is None
    monkeypatch.setattr("sys.argv", ["customer-ml", "--conf-dir", conf, "--set", "spark.nope=1", "config", "show"])
    with pytest.raises(SystemExit) as failed:
        entry()
    assert failed.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("customer-ml: error:")


def test_options_after_the_command_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "show", "--conf-dir", str(REPO / "conf"), "--set", "spark.app_name=x")
    assert code == 0
    assert yaml.safe_load(out)["spark"]["app_name"] == "x"


def test_config_show_prints_merged_masked_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--conf-dir",
        str(REPO / "conf"),
        "--set",
        "mlflow.tracking_uri=http://u:pw@host:5000",
        "config",
        "show",
    )
    shown = yaml.safe_load(out)
    assert code == 0
    assert shown["spark"]["master"] == "local[*]"
    assert shown["mlflow"]["tracking_uri"] == "http://***@host:5000"
    assert shown["env"] == "local"


def test_config_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--conf-dir", str(REPO / "conf"), "--set", "nosuch.key=1", "info")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "nosuch.key" in err


def test_unknown_env_names_the_folder(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--conf-dir", str(REPO / "conf"), "--env", "nosuch", "info")
    assert code == 2
    assert "conf/nosuch" in err
