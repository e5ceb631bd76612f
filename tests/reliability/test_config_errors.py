"""Issue 13 item 12: a configuration with several problems reports every one of them, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_ml import cli
from tests.conftest import REPO


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = cli.main(["--conf-dir", str(REPO / "conf"), *argv])
    return code, capsys.readouterr().err.strip().splitlines()


def test_every_wrong_value_and_unknown_key_of_a_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = tmp_path / "two.yml"
    overlay.write_text(
        "spark: {shuffle_partitons: 3, master: 5}\nclassifier: {split: {train: abc}}\n", encoding="utf-8"
    )
    code, err = run(capsys, "--overlay", str(overlay), "config", "show")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("customer-ml: error: 3 problems: [1] ")
    for problem in (
        f"{overlay}: spark.master: input should be a valid string (got 5)",
        f"{overlay}: unknown key 'spark.shuffle_partitons' (known keys under spark: ",
        f"{overlay}: classifier.split.train: input should be a valid number",
    ):
        assert problem in err[0]


def test_every_unset_variable_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUSTOMER_ML_NOPE_A", raising=False)
    monkeypatch.delenv("CUSTOMER_ML_NOPE_B", raising=False)
    overlay = tmp_path / "vars.yml"
    overlay.write_text(
        'project: {name: "${CUSTOMER_ML_NOPE_A}"}\nlake: {root: "x/${CUSTOMER_ML_NOPE_B}"}\n', encoding="utf-8"
    )
    code, err = run(capsys, "--overlay", str(overlay), "config", "show")
    assert code == 2 and len(err) == 1
    assert err[0] == (
        f"customer-ml: error: 2 problems: [1] {overlay}: project.name uses environment variable "
        "${CUSTOMER_ML_NOPE_A}, which is not set; export CUSTOMER_ML_NOPE_A or write ${CUSTOMER_ML_NOPE_A:-default} "
        f"[2] {overlay}: lake.root uses environment variable ${{CUSTOMER_ML_NOPE_B}}, which is not set; export "
        "CUSTOMER_ML_NOPE_B or write ${CUSTOMER_ML_NOPE_B:-default}"
    )


def test_problems_from_set_options_are_all_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "--set", "spark.master=5", "config", "show", "--set", "lake.rooot=1")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("customer-ml: error: 2 problems: [1] --set spark.master=5: spark.master: ")
    assert "[2] --set lake.rooot=1: unknown key 'lake.rooot'" in err[0]
