"""The Databricks bundle, checked offline (no workspace is reachable here; issue 15 item 4): databricks.yml's keys,
every job of resources/ through the `databricks-bundles` typed models (unknown keys fail), each task's parameters
through the CLI's parser, the jobs' task graphs against the pipelines conf, the monitor -> condition -> retrain
trigger against the task values the code publishes, and the entry points against the built wheel."""

from __future__ import annotations

import configparser
import copy
import fnmatch
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.bundles.jobs import Job

from customer_ml import cli, databricks
from customer_ml.config import OVERLAY_VARIABLE, load_settings
from tests.deploy.conftest import REPO, WheelInstall, clean_env, run

MONTHLY = "customer_ml_monthly"
RETRAIN = "customer_ml_retrain"
JOB_PIPELINES = {MONTHLY: "monthly", RETRAIN: "retrain"}  # each job runs the pipeline of the same meaning
# Top-level and target mappings of a bundle configuration (docs.databricks.com/dev-tools/bundles/settings).
BUNDLE_KEYS = {
    "bundle",
    "include",
    "artifacts",
    "variables",
    "targets",
    "workspace",
    "resources",
    "sync",
    "permissions",
    "presets",
    "run_as",
    "experimental",
    "scripts",
    "python",
}
TARGET_KEYS = {
    "default",
    "mode",
    "presets",
    "workspace",
    "variables",
    "resources",
    "run_as",
    "permissions",
    "artifacts",
    "bundle",
    "cluster_id",
    "compute_id",
    "git",
    "sync",
}
# ${...} references the CLI resolves itself.
BUILTINS = {"workspace.current_user.userName", "workspace.current_user.short_name", "bundle.name", "bundle.target"}
SAMPLE_SCORE_DATE = "2024-05-31"
# Values a dynamic value reference ({{...}}) stands for when a job runs, for parsing the parameters here.
DYNAMIC_SAMPLES = {"job.start_time.iso_date": SAMPLE_SCORE_DATE}
DYNAMIC = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
BUNDLE_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")


def read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return read_yaml(REPO / "databricks.yml")


@pytest.fixture(scope="module")
def resource_files(bundle: dict[str, Any]) -> list[Path]:
    files = sorted({path for pattern in bundle["include"] for path in REPO.glob(pattern)})
    assert files, f"include {bundle['include']} matches no file"
    return files


@pytest.fixture(scope="module")
def jobs(resource_files: list[Path]) -> dict[str, dict[str, Any]]:
    """Every job of every included resource file, as written."""
    found: dict[str, dict[str, Any]] = {}
    for path in resource_files:
        data = read_yaml(path)
        assert set(data) == {"resources"}, f"{path.name}: top-level keys {set(data)}"
        for name, job in data["resources"].get("jobs", {}).items():
            assert name not in found, f"job {name} defined twice"
            found[name] = job
    assert set(found) == {MONTHLY, RETRAIN}
    return found


@pytest.fixture
def no_user_conf(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's own customer-ml variables must not change what conf says."""
    for name in (OVERLAY_VARIABLE, "CUSTOMER_ML_CATALOG", "CUSTOMER_ML_SCHEMA", "CUSTOMER_ML_VOLUME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CUSTOMER_ML_EXPERIMENT", raising=False)
    monkeypatch.delenv("CUSTOMER_ML_CONF_DIR", raising=False)


def wheel_tasks(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["task_key"]: task for task in job["tasks"] if "python_wheel_task" in task}


def sample_parameters(job: dict[str, Any], parameters: list[str]) -> list[str]:
    """The task's parameters as a run passes them: job parameters at their defaults (a dynamic default at its
    sample), every other reference at its sample; an unknown reference fails."""
    defaults = {p["name"]: p["default"] for p in job.get("parameters", [])}

    def value(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference.startswith("job.parameters."):
            name = reference.removeprefix("job.parameters.")
            assert name in defaults, f"{{{{{reference}}}}}: the job has no parameter {name} ({sorted(defaults)})"
            return DYNAMIC.sub(value, defaults[name])
        assert reference in DYNAMIC_SAMPLES, f"no sample for {{{{{reference}}}}}: add one to DYNAMIC_SAMPLES"
        return DYNAMIC_SAMPLES[reference]

    return [DYNAMIC.sub(value, parameter) for parameter in parameters]


def parsed_tasks(job: dict[str, Any]) -> dict[str, Any]:
    """Each wheel task's parameters parsed by the CLI's parser (the one `customer-ml` runs)."""
    return {
        key: cli.parse_args(sample_parameters(job, task["python_wheel_task"]["parameters"]))
        for key, task in wheel_tasks(job).items()
    }


def bundle_references(data: Any) -> list[str]:
    text = json.dumps(data)
    return BUNDLE_VARIABLE.findall(text)


# ---------------------------------------------------------------------------------------------- the bundle file


def test_bundle_file_has_only_known_keys_and_the_two_targets(bundle: dict[str, Any]) -> None:
    assert set(bundle) <= BUNDLE_KEYS, set(bundle) - BUNDLE_KEYS
    assert bundle["bundle"]["name"] == "customer_ml"
    targets = bundle["targets"]
    assert set(targets) == {"dev", "prod"}
    for name, target in targets.items():
        assert set(target) <= TARGET_KEYS, f"targets.{name}: {set(target) - TARGET_KEYS}"
    dev, prod = targets["dev"], targets["prod"]
    assert (dev.get("default"), dev["mode"], dev["presets"]["trigger_pause_status"]) == (True, "development", "PAUSED")
    assert (prod.get("default", False), prod["mode"], prod["presets"]["trigger_pause_status"]) == (
        False,
        "production",
        "UNPAUSED",
    )
    assert prod["workspace"]["root_path"].startswith("/Workspace/"), "mode production needs workspace.root_path"


def test_the_wheel_is_the_artifact_every_task_installs(bundle: dict[str, Any], jobs: dict[str, dict]) -> None:
    (artifact,) = bundle["artifacts"].values()
    assert artifact["type"] == "whl"
    assert artifact["path"] == "."
    assert "wheel" in artifact["build"] and "-w dist" in artifact["build"]
    for name, job in jobs.items():
        for key, task in wheel_tasks(job).items():
            libraries = [library["whl"] for library in task.get("libraries", [])]
            assert len(libraries) == 1, f"{name}.{key}: {libraries}"
            folder, pattern = libraries[0].rsplit("/", 1)
            assert (REPO / "resources" / folder).resolve() == REPO / "dist", f"{name}.{key}: {libraries[0]}"
            assert fnmatch.fnmatch("customer_ml-0.1.0-py3-none-any.whl", pattern)


def test_every_bundle_reference_is_defined(bundle: dict[str, Any], jobs: dict[str, dict]) -> None:
    variables = bundle["variables"]
    used = set()
    for reference in bundle_references([bundle, jobs]):
        if reference.startswith("var."):
            name = reference.removeprefix("var.")
            assert name in variables, f"${{{reference}}}: no variable {name} in databricks.yml"
            used.add(name)
        elif reference.startswith("resources.jobs."):
            job = reference.split(".")[2]
            assert job in jobs and reference == f"resources.jobs.{job}.id", reference
        else:
            assert reference in BUILTINS, f"${{{reference}}}"
    assert used == set(variables), f"variables nothing uses: {set(variables) - used}"
    for name, variable in variables.items():
        assert variable.get("description") and "default" in variable, f"variables.{name}"


# ------------------------------------------------------------------------------------------------------ the jobs


@pytest.mark.parametrize("name", [MONTHLY, RETRAIN])
def test_job_loads_with_the_typed_models_and_no_key_is_lost(jobs: dict[str, dict], name: str) -> None:
    """`Job.from_dict` raises on a key its models do not know (at any depth) and on an unknown enum value; the
    round trip catches anything it would drop."""
    job = Job.from_dict(copy.deepcopy(jobs[name]))
    assert job.as_dict() == jobs[name]


def test_an_unknown_key_fails_the_typed_models(jobs: dict[str, dict]) -> None:
    """What the test above relies on: mlops-stacks' retraining template once had git_source_info on its
    condition task, which jobs do not know."""
    for where, key in (([], "shedule"), (["tasks", 0], "git_source_info"), (["tasks", 0, "python_wheel_task"], "args")):
        broken = copy.deepcopy(jobs[MONTHLY])
        node: Any = broken
        for step in where:
            node = node[step]
        node[key] = "x"
        with pytest.raises(ValueError, match=rf"Unexpected field '{key}'"):
            Job.from_dict(broken)


def test_jobs_share_one_cluster_spec_that_sets_the_conf_variables(jobs: dict[str, dict]) -> None:
    clusters = {name: job["job_clusters"] for name, job in jobs.items()}
    assert clusters[MONTHLY] == clusters[RETRAIN]
    (cluster,) = clusters[MONTHLY]
    assert cluster["new_cluster"]["data_security_mode"] == "SINGLE_USER"  # Unity Catalog, dbutils in wheel tasks
    for job in jobs.values():
        keys = {c["job_cluster_key"] for c in job["job_clusters"]}
        assert all(task["job_cluster_key"] in keys for task in wheel_tasks(job).values())


def test_the_bundle_variables_reach_the_databricks_conf(bundle: dict[str, Any], jobs: dict[str, dict]) -> None:
    """The job cluster's environment, with sample variable values, gives the tables, files and experiments."""
    samples = {"catalog": "cat_x", "schema": "sch_x", "volume": "vol_x", "experiment": "/Shared/x", "overlay": ""}
    env_vars = jobs[MONTHLY]["job_clusters"][0]["new_cluster"]["spark_env_vars"]
    resolved = {}
    for name, value in env_vars.items():
        variable = BUNDLE_VARIABLE.fullmatch(value)
        assert variable, f"{name}: {value}"
        resolved[name] = samples[variable.group(1).removeprefix("var.")]
    assert bundle["variables"]["overlay"]["default"] == ""  # no overlay unless one is given
    env = {**clean_env(), **resolved}
    script = (
        "from customer_ml.config import load_settings; from customer_ml import tracking; "
        "s = load_settings('databricks'); "
        "print(s.tables['scored_customers'].catalog_name, s.work_dir, s.mlflow.experiment, "
        "tracking.model_name(s, 'classifier'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [
        "cat_x.sch_x.scored_customers",
        "/Volumes/cat_x/sch_x/vol_x/work",
        "/Shared/x",
        "cat_x.sch_x.customer_ml_classifier",
    ]


@pytest.mark.parametrize("name", [MONTHLY, RETRAIN])
def test_every_task_parameter_list_parses_with_the_cli(jobs: dict[str, dict], name: str, no_user_conf: None) -> None:
    job = jobs[name]
    for key, args in parsed_tasks(job).items():
        assert args.env == "databricks", key
        settings = cli.settings_for(args)  # the env exists and the databricks conf loads
        assert settings.env == "databricks"
        if args.command in ("score", "monitor"):
            assert str(args.score_date) == SAMPLE_SCORE_DATE, f"{key} does not get the run's score date"


def pipeline_graph(pipeline: str) -> dict[str, tuple[str, frozenset[str]]]:
    settings = load_settings("databricks", conf_dir=REPO / "conf")
    tasks = settings.pipelines[pipeline].tasks
    assert all(task.when == "always" for task in tasks.values()), f"{pipeline}: a gated task has no job equivalent"
    return {name: (task.stage or name, frozenset(task.depends_on)) for name, task in tasks.items()}


@pytest.mark.parametrize("name", [MONTHLY, RETRAIN])
def test_job_graph_is_the_pipeline_graph(jobs: dict[str, dict], name: str, no_user_conf: None) -> None:
    job = jobs[name]
    parsed = parsed_tasks(job)
    graph = {
        key: (parsed[key].command, frozenset(d["task_key"] for d in task.get("depends_on", [])))
        for key, task in wheel_tasks(job).items()
    }
    assert graph == pipeline_graph(JOB_PIPELINES[name])


def test_monitor_alert_triggers_the_retrain_job(jobs: dict[str, dict]) -> None:
    monthly = jobs[MONTHLY]
    tasks = {task["task_key"]: task for task in monthly["tasks"]}
    parsed = parsed_tasks(monthly)
    (monitor,) = [key for key, args in parsed.items() if args.command == "monitor"]
    assert parsed[monitor].alert_exit_code == 0, "an alert must not fail the task the condition reads"
    others = {key: task for key, task in tasks.items() if key not in parsed}
    (condition_key,) = [key for key, task in others.items() if "condition_task" in task]
    (trigger_key,) = [key for key, task in others.items() if "run_job_task" in task]
    assert set(others) == {condition_key, trigger_key}

    condition = tasks[condition_key]
    assert [d["task_key"] for d in condition["depends_on"]] == [monitor]
    check = condition["condition_task"]
    reference = re.fullmatch(r"\{\{tasks\.(\w+)\.values\.(\w+)\}\}", check["left"])
    assert reference, check["left"]
    task, key = reference.groups()
    assert task == monitor
    alerted, quiet = databricks.monitor_task_values(1), databricks.monitor_task_values(0)
    assert key in alerted, f"the monitor publishes {sorted(alerted)}, not {key}"
    # EQUAL_TO compares strings; a boolean task value compares as "true" / "false" (its JSON form)
    assert check["op"] == "EQUAL_TO"
    assert check["right"] == json.dumps(alerted[key]) != json.dumps(quiet[key])

    trigger = tasks[trigger_key]
    assert trigger["depends_on"] == [{"task_key": condition_key, "outcome": "true"}]
    assert trigger["run_job_task"]["job_id"] == f"${{resources.jobs.{RETRAIN}.id}}"
    passed = trigger["run_job_task"]["job_parameters"]
    assert set(passed) <= {p["name"] for p in jobs[RETRAIN]["parameters"]}
    assert passed["env"] == "{{job.parameters.env}}"


def test_schedule_is_monthly_and_left_to_the_targets(jobs: dict[str, dict]) -> None:
    schedule = jobs[MONTHLY]["schedule"]
    assert "pause_status" not in schedule, "a pause_status here overrides the targets' presets (dev must pause)"
    assert set(schedule) == {"quartz_cron_expression", "timezone_id"}
    assert "schedule" not in jobs[RETRAIN]  # run by the monthly job's trigger, or by hand
    assert [p["name"] for p in jobs[MONTHLY]["parameters"]] == ["env", "score_date"]


# ------------------------------------------------------------------------------------------------- the wheel


@pytest.mark.slow
def test_entry_points_and_parameters_against_the_built_wheel(
    wheel_install: WheelInstall, jobs: dict[str, dict], tmp_path: Path
) -> None:
    """Each task's package_name / entry_point exists in the wheel's metadata, and the wheel's own parser (in a
    clean venv, from an empty folder) takes each task's parameters."""
    with zipfile.ZipFile(wheel_install.wheel) as archive:
        dist_info = next(n.split("/")[0] for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{dist_info}/METADATA").decode("utf-8")
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode("utf-8")
    name = re.search(r"^Name: (.+)$", metadata, re.MULTILINE).group(1).strip()
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    parser.read_string(entry_points)
    scripts = dict(parser["console_scripts"])
    assert "customer_ml/conf/databricks/spark.yml" in wheel_install.names()

    every = []
    for job_name, job in jobs.items():
        for key, task in wheel_tasks(job).items():
            wheel_task = task["python_wheel_task"]
            normalise = re.compile(r"[-_.]+")
            assert normalise.sub("-", wheel_task["package_name"]).lower() == normalise.sub("-", name).lower(), key
            assert scripts.get(wheel_task["entry_point"]) == "customer_ml.cli:entry", f"{job_name}.{key}: {scripts}"
            every.append(sample_parameters(job, wheel_task["parameters"]))

    empty = tmp_path / "empty"
    empty.mkdir()
    script = (
        "import json, sys; from customer_ml.cli import parse_args, settings_for\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    args = parse_args(argv); s = settings_for(args)\n"
        "    print(args.command, s.env, s.lake.catalog)\n"
    )
    done = run(
        [wheel_install.python, "-c", script, json.dumps(every)],
        empty,
        clean_env(PATH=f"{wheel_install.venv / 'bin'}:/usr/bin:/bin"),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [argv[2] for argv in every]
    assert all(line.split()[1:] == ["databricks", "main.customer_ml"] for line in lines), lines
