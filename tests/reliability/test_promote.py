"""Issue 13 item 11: a first run can always be scored (the first segmenter becomes champion even when unstable,
see tests/unit/test_segmenter_units.py), and `customer-ml promote` moves @champion by hand on the real registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from customer_ml import cli
from tests.conftest import REPO


def run(capsys: pytest.CaptureFixture[str], work: Path, *argv: str) -> tuple[int, str, list[str]]:
    sets = ["--set", f"project.work_dir={work}", "--set", "project.name=bank"]
    code = cli.main(["--conf-dir", str(REPO / "conf"), *sets, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_promote_moves_champion_by_hand_and_refuses_a_version_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    registry = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    code, _, err = run(capsys, work, "promote", "--model", "segmenter", "--version", "1")
    assert code == 2
    assert err[-1] == (
        "customer-ml: error: registered model bank_segmenter has no version 1 (run `customer-ml train-segmenter` first)"
    )

    registry.create_registered_model("bank_segmenter")
    for _ in range(2):
        registry.create_model_version("bank_segmenter", source=str(tmp_path / "model"))
    registry.set_registered_model_alias("bank_segmenter", "champion", "1")

    code, out, _ = run(capsys, work, "promote", "--model", "segmenter", "--version", "2", "--reason", "reviewed k=4")
    assert (code, out) == (0, "bank_segmenter@champion: version 1 -> 2 (reviewed k=4)\n")
    assert str(registry.get_model_version_by_alias("bank_segmenter", "champion").version) == "2"
    assert registry.get_model_version("bank_segmenter", "2").tags["promotion"] == "promoted by hand: reviewed k=4"

    code, _, err = run(capsys, work, "promote", "--model", "segmenter", "--version", "7")
    assert (
        code == 2 and err[-1] == "customer-ml: error: registered model bank_segmenter has no version 7 (versions: 1, 2)"
    )
    assert str(registry.get_model_version_by_alias("bank_segmenter", "champion").version) == "2"
