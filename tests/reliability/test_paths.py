"""Issue 13 item 10: a relative table path never leaves lake.root; absolute paths and URIs stay allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_ml import cli
from customer_ml.config import load_settings
from customer_ml.errors import ConfigError
from tests.conftest import REPO


def settings(*overrides: str, overlays: tuple[Path, ...] = ()):  # noqa: ANN201
    return load_settings("local", conf_dir=REPO / "conf", overrides=overrides, overlays=overlays)


@pytest.mark.parametrize("path", ["../../x", "a/../../x", "..", ".", "./../x", "a\\..\\..\\x"])
def test_a_relative_path_that_leaves_the_root_is_refused(path: str) -> None:
    with pytest.raises(ConfigError, match=rf"tables\.esc\.path: .*'{path.replace(chr(92), chr(92) * 2)}' leaves "):
        settings(f"tables.esc.path={path}")


def test_the_refusal_names_the_file_it_came_from(tmp_path: Path) -> None:
    overlay = tmp_path / "mine.yml"
    overlay.write_text("tables: {esc: {path: ../outside}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mine\.yml.*tables\.esc\.path.*'\.\./outside' leaves lake\.root"):
        settings(overlays=(overlay,))


@pytest.mark.parametrize("path", ["a/../b", "nested/t", "/srv/lake/t", "s3://bucket/lake/t", "abfss://c@a.dfs/t"])
def test_paths_under_the_root_absolute_paths_and_uris_stay_allowed(path: str) -> None:
    assert settings(f"tables.esc.path={path}").tables["esc"].path == path


def test_a_table_named_on_the_command_line_is_a_name_not_a_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    code = cli.main(
        ["--conf-dir", str(REPO / "conf"), "--set", f"project.work_dir={work}", "ingest", "--table", "../x"]
    )
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "customer-ml: error: table name '../x': use letters, digits and _ (it names a folder under lake.root and a "
        "SQL view); a table elsewhere gets tables.<name>.path in your overlay"
    )
    assert not (tmp_path / "x").exists() and not work.exists()
