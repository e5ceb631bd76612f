"""Issue 13 item 4: secrets never shown by `config show` or `info`: keys that hold them, and secrets inside values
(URI credentials and query parameters, JDBC properties, bearer tokens). One case per pattern."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_ml import cli
from customer_ml.config import _mask as mask_tree
from customer_ml.config import mask_text
from tests.conftest import REPO

SECRET_KEYS = [
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
    "spark.hadoop.fs.s3a.access.key",
    "spark.hadoop.fs.s3a.secret.key",
    "spark.hadoop.fs.gs.auth.service.account.private.key",
    "db.password",
    "db.passwd",
    "db.pwd",
    "api_key",
    "spark.hadoop.fs.azure.sas.container.acct.blob.core.windows.net",
    "auth.token",
    "http.authorization",
    "client_secret",
    "credentials",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_secret_key_is_masked(key: str) -> None:
    assert mask_tree({"conf": {key: "s3cr3t-value"}}) == {"conf": {key: "***"}}


@pytest.mark.parametrize(
    "key", ["spark.sql.shuffle.partitions", "spark.ui.showConsoleProgress", "work_dir", "keytab_path", "spark.master"]
)
def test_an_ordinary_key_is_kept(key: str) -> None:
    assert mask_tree({"conf": {key: "plain"}}) == {"conf": {key: "plain"}}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://bob:hunter2@host/x", "https://***@host/x"),
        ("https://host/path?token=abc123&x=1", "https://host/path?token=***&x=1"),
        ("https://a.blob.core.windows.net/c?sv=2020&sig=XYZ%2B", "https://a.blob.core.windows.net/c?sv=2020&sig=***"),
        ("jdbc:postgresql://db:5432/m?user=a&password=s3cr3t", "jdbc:postgresql://db:5432/m?user=a&password=***"),
        ("jdbc:sqlserver://h;user=a;password=pw;encrypt=true", "jdbc:sqlserver://h;user=a;password=***;encrypt=true"),
        ("Server=h;Uid=a;Pwd=pw;", "Server=h;Uid=a;Pwd=***;"),
        ("Authorization: Bearer eyJabc.def", "Authorization: Bearer ***"),
        ("http://mlflow:5000", "http://mlflow:5000"),
        ("./work/lakehouse", "./work/lakehouse"),
    ],
)
def test_secrets_inside_values_are_masked(text: str, shown: str) -> None:
    assert mask_text(text) == shown


def test_config_show_never_prints_a_resolved_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_KEY", "resolved-secret-1")
    monkeypatch.setenv("MY_TOKEN", "resolved-secret-2")
    overlay = tmp_path / "secrets.yml"
    overlay.write_text(
        "spark:\n  conf:\n    spark.hadoop.fs.s3a.secret.key: ${MY_KEY}\n"
        "mlflow:\n  tracking_uri: https://mlflow.bank/api?token=${MY_TOKEN}\n",
        encoding="utf-8",
    )
    settings = cli.settings_for(cli.parse_args(["--conf-dir", str(REPO / "conf"), "--overlay", str(overlay), "info"]))
    assert settings.spark.conf["spark.hadoop.fs.s3a.secret.key"] == "resolved-secret-1"  # resolved, then masked
    assert cli.main(["--conf-dir", str(REPO / "conf"), "--overlay", str(overlay), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "resolved-secret" not in out
    assert "spark.hadoop.fs.s3a.secret.key: '***'" in out and "token=***" in out
