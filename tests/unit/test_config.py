from __future__ import annotations

from pathlib import Path

import pytest

from customer_ml.config import EXAMPLE_OVERLAY, find_conf_dir, load_settings, masked
from customer_ml.errors import ConfigError
from tests.conftest import REPO


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    root = tmp_path / "conf"
    write(
        root / "base" / "spark.yml",
        "spark:\n  app_name: base-app\n  shuffle_partitions: 4\n  conf:\n    a.b: '1'\n",
    )
    write(root / "base" / "project.yml", "project:\n  name: demo\n  work_dir: /tmp/w\n")
    write(root / "local" / "spark.yml", "spark:\n  master: local[3]\n  conf:\n    c.d: '2'\n")
    write(root / "other" / "spark.yml", "spark:\n  shuffle_partitions: 9\n")
    return root


def test_env_overlay_deep_merges_over_base(conf: Path) -> None:
    settings = load_settings("local", conf_dir=conf)
    assert settings.spark.master == "local[3]"
    assert settings.spark.app_name == "base-app"
    assert settings.spark.shuffle_partitions == 4
    assert settings.spark.conf == {"a.b": "1", "c.d": "2"}
    assert settings.env == "local"
    assert load_settings("other", conf_dir=conf).spark.shuffle_partitions == 9


def test_overrides_are_yaml_typed_and_win(conf: Path) -> None:
    settings = load_settings(
        "local",
        conf_dir=conf,
        overrides=["spark.shuffle_partitions=16", "spark.ui_enabled=true", "project.name=x=y"],
    )
    assert settings.spark.shuffle_partitions == 16
    assert settings.spark.ui_enabled is True
    assert settings.project.name == "x=y"


def test_an_empty_mapping_clears_a_mapping(conf: Path) -> None:
    settings = load_settings("local", conf_dir=conf, overrides=["spark.conf={}"])
    assert settings.spark.conf == {}
    assert load_settings("local", conf_dir=conf, overrides=["spark.conf={e.f: '3'}"]).spark.conf == {
        "a.b": "1",
        "c.d": "2",
        "e.f": "3",
    }


def test_later_override_replaces_earlier(conf: Path) -> None:
    settings = load_settings("local", conf_dir=conf, overrides=["spark.master=local[1]", "spark.master=local[2]"])
    assert settings.spark.master == "local[2]"


def test_env_var_interpolation_with_and_without_default(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        conf / "local" / "lake.yml",
        "lake:\n  root: ${LAKE_ROOT_FOR_TEST}/x\n  engine: ${ENGINE_FOR_TEST:-delta-rs}\n",
    )
    monkeypatch.setenv("LAKE_ROOT_FOR_TEST", "/data/lake")
    monkeypatch.delenv("ENGINE_FOR_TEST", raising=False)
    settings = load_settings("local", conf_dir=conf)
    assert settings.lake.root == "/data/lake/x"
    assert settings.lake.engine == "delta-rs"


def test_missing_env_var_names_file_key_and_variable(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(conf / "local" / "lake.yml", "lake:\n  root: ${NO_SUCH_VARIABLE_X}\n")
    monkeypatch.delenv("NO_SUCH_VARIABLE_X", raising=False)
    with pytest.raises(ConfigError, match=r"conf/local/lake.yml: lake.root .*\$\{NO_SUCH_VARIABLE_X\}.*export"):
        load_settings("local", conf_dir=conf)


def test_unknown_key_in_file_names_file_and_key(conf: Path) -> None:
    write(conf / "local" / "typo.yml", "spark:\n  shuffle_partitons: 3\n")
    with pytest.raises(ConfigError, match=r"conf/local/typo.yml: unknown key 'spark.shuffle_partitons'.*master"):
        load_settings("local", conf_dir=conf)


def test_unknown_key_from_override_names_full_key(conf: Path) -> None:
    with pytest.raises(ConfigError, match=r"--set nosuch.key=1: unknown key 'nosuch.key'"):
        load_settings("local", conf_dir=conf, overrides=["nosuch.key=1"])


def test_wrong_type_names_file_key_and_expectation(conf: Path) -> None:
    write(conf / "local" / "bad.yml", "spark:\n  shuffle_partitions: many\n")
    with pytest.raises(ConfigError, match=r"conf/local/bad.yml: spark.shuffle_partitions: .*integer.*'many'"):
        load_settings("local", conf_dir=conf)


def test_wrong_choice_lists_allowed_values(conf: Path) -> None:
    with pytest.raises(ConfigError, match=r"--set lake.engine=duckdb: lake.engine: .*'auto', 'spark' or 'delta-rs'"):
        load_settings("local", conf_dir=conf, overrides=["lake.engine=duckdb"])


def test_missing_env_folder_lists_available(conf: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment 'nosuch' has no folder .*available: local, other"):
        load_settings("nosuch", conf_dir=conf)


def test_malformed_override_and_yaml_are_named(conf: Path) -> None:
    with pytest.raises(ConfigError, match=r"--set 'spark.master': expected KEY=VALUE"):
        load_settings("local", conf_dir=conf, overrides=["spark.master"])
    write(conf / "local" / "broken.yml", "spark: [unclosed\n")
    with pytest.raises(ConfigError, match=r"conf/local/broken.yml: not valid YAML"):
        load_settings("local", conf_dir=conf)
    write(conf / "local" / "broken.yml", "- a list\n")
    with pytest.raises(ConfigError, match=r"conf/local/broken.yml: expected a mapping"):
        load_settings("local", conf_dir=conf)


def test_conf_dir_without_base_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has no base/ folder"):
        find_conf_dir(tmp_path)


def test_secrets_and_uri_credentials_are_masked(conf: Path) -> None:
    write(conf / "local" / "mlflow.yml", "mlflow:\n  tracking_uri: https://alice:s3cret@mlflow.bank:5000\n")
    write(
        conf / "local" / "spark_secret.yml",
        "spark:\n  conf:\n    fs.s3a.secret_key: abc\n    fs.s3a.endpoint: e\n",
    )
    shown = masked(load_settings("local", conf_dir=conf))
    assert shown["mlflow"]["tracking_uri"] == "https://***@mlflow.bank:5000"
    assert shown["spark"]["conf"]["fs.s3a.secret_key"] == "***"
    assert shown["spark"]["conf"]["fs.s3a.endpoint"] == "e"


def test_paths_resolve_under_work_dir(conf: Path, tmp_path: Path) -> None:
    settings = load_settings("local", conf_dir=conf, overrides=[f"project.work_dir={tmp_path}/w"])
    assert settings.lake_root == str(tmp_path / "w" / "lakehouse")
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/w/mlflow.db"
    uri = load_settings("local", conf_dir=conf, overrides=["lake.root=s3://bank-lake/cml"])
    assert uri.lake_root == "s3://bank-lake/cml"


@pytest.mark.parametrize("env", ["local", "cluster", "databricks"])
def test_shipped_configuration_loads_for_every_env(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMER_ML_LAKE_ROOT", "s3://lake/customer_ml")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = load_settings(env, conf_dir=REPO / "conf")
    assert settings.env == env
    assert "customers" in settings.tables
    assert (settings.spark.master is None) == (env != "local")


def test_synthetic_spec_names_unknown_factors_and_missing_parameters() -> None:
    with pytest.raises(ConfigError, match=r"synthetic: .*columns.age.loadings.nope: unknown factor"):
        load_settings(
            "local",
            conf_dir=REPO / "conf",
            overlays=[EXAMPLE_OVERLAY],
            overrides=["synthetic.columns.age.loadings.nope=0.1"],
        )
    with pytest.raises(ConfigError, match=r"synthetic.columns.extra: .*kind normal needs sd"):
        load_settings(
            "local",
            conf_dir=REPO / "conf",
            overlays=[EXAMPLE_OVERLAY],
            overrides=["synthetic.columns.extra={kind: normal, mean: 1}"],
        )
    with pytest.raises(ConfigError, match=r"loadings must sum to less than 1"):
        load_settings(
            "local",
            conf_dir=REPO / "conf",
            overlays=[EXAMPLE_OVERLAY],
            overrides=["synthetic.columns.age.loadings.spending=0.95"],
        )
    with pytest.raises(
        ConfigError,
        match=r"--set synthetic.faults.outlier.columns=\[nope\]: synthetic: .*faults.outlier: unknown column nope",
    ):
        load_settings(
            "local",
            conf_dir=REPO / "conf",
            overlays=[EXAMPLE_OVERLAY],
            overrides=["synthetic.faults.outlier.columns=[nope]"],
        )
