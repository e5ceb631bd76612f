from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from customer_ml.config import EXAMPLE_OVERLAY, find_conf_dir, load_settings, masked, to_yaml
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


def example_columns() -> set[str]:
    example = load_settings("local", conf_dir=REPO / "conf", overlays=[EXAMPLE_OVERLAY])
    spec = example.synthetic
    return {spec.id_column, spec.label.name, *spec.columns, *example.classifier.features.derived}


def test_conf_base_and_lib_name_no_column_of_the_example_dataset() -> None:
    """The product's defaults describe no dataset: the example bank's columns live only in its overlay."""
    columns = example_columns()
    assert {"customer_id", "is_affluent", "savings_balance", "credit_utilization"} <= columns
    merged = to_yaml(masked(load_settings("local", conf_dir=REPO / "conf")))
    base_text = "\n".join(f.read_text(encoding="utf-8") for f in sorted((REPO / "conf" / "base").glob("*.yml")))
    literals = "\n".join(f.read_text(encoding="utf-8") for f in sorted((REPO / "lib").rglob("*.py")))
    for column in sorted(columns):
        word = re.compile(rf"\b{re.escape(column)}\b")
        assert not word.search(merged), f"merged conf/base names {column}"
        assert not word.search(base_text), f"a file in conf/base names {column}"
        assert not re.search(rf"[\"'`]{re.escape(column)}[\"'`]", literals), f"lib/ has the literal {column!r}"


def test_a_later_file_replaces_a_suite_and_the_label_whole_while_set_changes_one_key(tmp_path: Path) -> None:
    first = tmp_path / "first.yml"
    first.write_text(
        "validation:\n  suites:\n    customers: {key: a, schema: {a: string, b: int}}\n"
        "data: {id_column: a, label: {column: y, positive: 1}}\n"
        "classifier: {features: {derived: {r: 'b / 2'}}}\n"
        "monitoring: {labels: {table: outcomes, date_column: closed_on, horizon_days: 30}}\n",
        encoding="utf-8",
    )
    second = tmp_path / "second.yml"
    second.write_text(
        "validation:\n  suites:\n    customers: {key: id, schema: {id: bigint}}\n"
        "data: {label: {column: churn}}\n"
        "classifier: {features: {derived: {s: 'x * 2'}}}\n"
        "monitoring: {labels: {table: truth}}\n",
        encoding="utf-8",
    )
    settings = load_settings("local", conf_dir=REPO / "conf", overlays=[first, second])
    suite = settings.validation.suites["customers"]
    assert (suite.key, suite.schema_) == ("id", {"id": "bigint"})  # not a's and b's schema merged in
    assert (settings.data.id_column, settings.data.label.column, settings.data.label.positive) == ("a", "churn", 1)
    assert settings.classifier.features.derived == {"s": "x * 2"}
    labels = settings.monitoring.labels  # another labels table: the first one's date and horizon do not apply
    assert (labels.table, labels.date_column, labels.horizon_days) == ("truth", None, 90)
    changed = load_settings(
        "local", conf_dir=REPO / "conf", overlays=[first], overrides=["validation.suites.customers.key=b"]
    )
    assert changed.validation.suites["customers"].schema_ == {"a": "string", "b": "int"}  # --set: one key only
    assert changed.validation.suites["customers"].key == "b"


def test_overlays_from_the_environment_then_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = tmp_path / "one.yml", tmp_path / "two.yml"
    one.write_text("project: {name: one}\ndata: {id_column: k}\n", encoding="utf-8")
    two.write_text("project: {name: two}\n", encoding="utf-8")
    monkeypatch.setenv("CUSTOMER_ML_OVERLAY", str(one))
    settings = load_settings("local", conf_dir=REPO / "conf", overlays=[two])
    assert (settings.project.name, settings.data.id_column) == ("two", "k")
    with pytest.raises(ConfigError, match=r"overlay nope.yml not found .*customer-ml init"):
        load_settings("local", conf_dir=REPO / "conf", overlays=["nope.yml"])


def test_config_show_spells_keys_as_the_yaml_does_and_loads_back(tmp_path: Path) -> None:
    shown = to_yaml(masked(load_settings("local", conf_dir=REPO / "conf", overlays=[EXAMPLE_OVERLAY])))
    assert "    customers:\n      key: customer_id\n      schema:\n" in shown and "schema_" not in shown
    (tmp_path / "shown.yml").write_text(shown, encoding="utf-8")
    data = yaml.safe_load(shown)
    for key in ("env", "conf_dir"):
        data.pop(key)
    (tmp_path / "shown.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    again = load_settings("local", conf_dir=REPO / "conf", overlays=[tmp_path / "shown.yml"])
    assert again.validation.suites["customers"].schema_["age"] == "int"


def test_runs_go_to_an_experiment_of_the_project_name_unless_one_is_set(tmp_path: Path) -> None:
    """Two projects on one MLflow store keep their runs apart: the experiment defaults to project.name."""
    import mlflow

    from customer_ml import tracking

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for sets, expected in (
        (("project.name=cards",), "cards"),
        (("project.name=cards", "mlflow.experiment=shared"), "shared"),
    ):
        settings = load_settings(
            "local",
            conf_dir=REPO / "conf",
            overrides=(f"project.work_dir={tmp_path}", f"mlflow.tracking_uri={store}", *sets),
        )
        experiment_id = tracking.configure(settings)
        assert mlflow.get_experiment(experiment_id).name == expected
