"""Issue 13 item 2: global options given before the command are never dropped; both sides merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_ml import cli
from tests.conftest import REPO


def settings(*argv: str):  # noqa: ANN201
    return cli.settings_for(cli.parse_args(["--conf-dir", str(REPO / "conf"), *argv]))


def test_set_on_both_sides_merges_in_order() -> None:
    both = settings("--set", "spark.master=local[1]", "config", "show", "--set", "lake.root=other/lake")
    assert (both.spark.master, both.lake.root) == ("local[1]", "other/lake")
    later_wins = settings("--set", "lake.root=a", "config", "show", "--set", "lake.root=b")
    assert later_wins.lake.root == "b"


def test_overlay_on_both_sides_stacks_in_order(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yml", tmp_path / "two.yml"
    one.write_text("project: {name: one}\ndata: {id_column: k}\n", encoding="utf-8")
    two.write_text("project: {name: two}\n", encoding="utf-8")
    merged = settings("--overlay", str(one), "config", "show", "--overlay", str(two))
    assert (merged.project.name, merged.data.id_column) == ("two", "k")


@pytest.mark.parametrize("side", ["before", "after"])
def test_env_conf_dir_and_verbose_work_on_either_side(side: str) -> None:
    options = ["--env", "cluster", "-v"]
    argv = [*options, "config", "show"] if side == "before" else ["config", "show", *options]
    args = cli.parse_args(["--conf-dir", str(REPO / "conf"), *argv])
    assert (args.env, args.verbose, args.conf_dir) == ("cluster", True, str(REPO / "conf"))


def test_a_single_value_after_the_command_wins() -> None:
    args = cli.parse_args(["--env", "cluster", "config", "show", "--env", "databricks"])
    assert args.env == "databricks"
