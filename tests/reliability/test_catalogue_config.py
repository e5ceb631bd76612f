"""Reliability catalogue (issue 13), configuration: a typo, a wrong type or an unset variable in a user's overlay
stops a stage before Spark starts, in one line naming the file (or --set) and the key, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import assert_one_line_error, project

VARIABLE = "CUSTOMER_ML_CATALOGUE_UNSET"


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        pytest.param(
            "spark: {shuffle_partitons: 4}\n",
            "{file}: unknown key 'spark.shuffle_partitons' (known keys under spark: master, app_name, driver_memory, "
            "shuffle_partitions, ui_enabled, log_level, conf); remove it or fix its spelling",
            id="unknown-key",
        ),
        pytest.param(
            "lake: {target_file_rows: many}\n",
            "{file}: lake.target_file_rows: input should be a valid integer, unable to parse string as an integer "
            "(got 'many')",
            id="wrong-type",
        ),
        pytest.param(
            f"lake: {{root: '${{{VARIABLE}}}/lake'}}\n",
            f"{{file}}: lake.root uses environment variable ${{{VARIABLE}}}, which is not set; export {VARIABLE} or "
            f"write ${{{VARIABLE}:-default}}",
            id="unset-variable",
        ),
    ],
)
def test_a_bad_overlay_stops_ingest_in_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, yaml: str, message: str
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    mine = project(tmp_path)  # a source that ingests: only the extra overlay is wrong
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml, encoding="utf-8")
    failed = mine.run(capsys, "ingest", "--overlay", str(bad))
    assert_one_line_error(failed, message.replace("{file}", str(bad)))
    assert len(failed.err) == 1  # the whole of stderr: the configuration fails before any log line
    assert not mine.work.exists()  # no lake, no MLflow store, no Spark scratch folder: nothing written


def test_a_wrong_type_on_the_command_line_names_the_set_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path)
    failed = mine.run(capsys, "ingest", sets=("spark.shuffle_partitions=many",))
    assert_one_line_error(
        failed,
        "--set spark.shuffle_partitions=many: spark.shuffle_partitions: input should be a valid integer, unable to "
        "parse string as an integer (got 'many')",
    )
    assert len(failed.err) == 1
    assert not mine.work.exists()
