"""MLflow: the experiment, runs with flattened params, model logging and registration, aliases, the promotion gate.

The tracking URI comes from conf (`mlflow.tracking_uri`; by default a sqlite file under the work dir, with
artifacts under <work_dir>/mlartifacts); any MLflow server URI works the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customer_ml.errors import CustomerMLError, SparkSetupError
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
INPUT_COLUMNS = "input_columns"  # model version tag: JSON {column: Spark type} of the table columns the model reads
_PARAM_LIMIT = 6000


class ModelNotFoundError(CustomerMLError):
    """A registered model, version or alias does not exist."""


@dataclass(frozen=True)
class Promotion:
    """The promotion gate's decision, with the figures it compared."""

    promoted: bool
    reason: str
    challenger_metric: float
    champion_metric: float | None
    champion_version: str | None


def configure(settings: Settings, experiment_name: str | None = None) -> str:
    """Point MLflow at the configured tracking / registry URIs and experiment (or `experiment_name`); return the
    experiment id."""
    # Artifact downloads (monitoring reads stored references) would draw progress bars into the job's log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    if settings.mlflow.registry_uri:
        mlflow.set_registry_uri(settings.mlflow.registry_uri)
    experiment_name = experiment_name or settings.mlflow.experiment or settings.project.name
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        location = None
        if settings.tracking_uri.startswith("sqlite:"):  # a local store: artifacts beside the work, not ./mlruns
            location = (settings.work_dir / "mlartifacts").as_uri()
        experiment_id = mlflow.create_experiment(experiment_name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def client(settings: Settings):  # noqa: ANN201 - mlflow is imported lazily
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.mlflow.registry_uri)


def model_name(settings: Settings, kind: str) -> str:
    """`<project>_<kind>`, e.g. customer_ml_classifier; in the Unity Catalog registry three-level, under
    lake.catalog: main.customer_ml.customer_ml_classifier."""
    return settings.registered_model_name(f"{settings.project.name}_{kind}")


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow params: `a.b.c` keys, values as text (JSON for lists), cut to MLflow's limit."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            flat[name] = text[:_PARAM_LIMIT]
    return flat


def log_params(params: Mapping[str, Any]) -> None:
    """Log params in batches (MLflow takes at most 100 per call)."""
    import mlflow

    items = list(flatten(params).items())
    for start in range(0, len(items), 100):
        mlflow.log_params(dict(items[start : start + 100]))


def record_input(stage: str, table: str, version: int, location: str, table_id: str | None = None) -> None:
    """Tag the active run with what it read and what read it (input.table / .version / .location, the stage,
    customer-ml's version and the git commit), and log the table version as an MLflow dataset input (a Delta
    source at that version: the run page's Datasets lists it; `mlflow.search_runs` finds runs by it).

    Args:
        stage: the stage that trains (train-classifier, train-segmenter).
        table, version, location: the table as configured, the Delta version read, where it lives (a folder or
            URI, or a catalog name).
        table_id: the Delta table's id (`lake.table_id`): monitoring tells a copy of the table from another one.
    """
    import importlib.metadata

    import mlflow
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    try:
        package = importlib.metadata.version("customer-ml")
    except importlib.metadata.PackageNotFoundError:
        package = "unknown"
    mlflow.set_tags(
        {
            "stage": stage,
            "input.table": table,
            "input.version": str(version),
            "input.location": location,
            "input.table_id": table_id or "unknown",
            "customer_ml.version": package,
            "git_commit": git_commit() or "unknown",
        }
    )
    catalog = location if "." in location and "/" not in location else None
    source = DeltaDatasetSource(
        path=None if catalog else location, delta_table_name=catalog, delta_table_version=version
    )
    digest = hashlib.sha1(f"{location}@{version}".encode()).hexdigest()[:8]
    mlflow.log_input(
        MetaDataset(source, name=f"{table}@v{version}", digest=digest),
        context="training",
    )


def git_commit(start: Path | None = None) -> str | None:
    """The git commit of the code, when it runs from a git checkout."""
    folder = start or Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def pip_requirements() -> list[str]:
    """What a logged model needs, pinned to this environment (so MLflow does not infer it by loading the model)."""
    import importlib.metadata

    names = ["pyspark", "mlflow", "xgboost-cpu"]
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def log_and_register(
    model: Any,
    settings: Settings,
    name: str,
    example: Any,
    output: Any,
    metadata: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log a fitted Spark PipelineModel in the active run (signature from an input and output example, pinned
    requirements), register it as a new version of `name` with `tags`, point `challenger` at it; the version."""
    import mlflow
    from mlflow.models import infer_signature

    info = mlflow.spark.log_model(
        model,
        "model",
        registered_model_name=name,
        signature=infer_signature(example, output),
        pip_requirements=pip_requirements(),
        metadata=dict(metadata),
    )
    version = str(info.registered_model_version)
    registry = client(settings)
    for key, value in (tags or {}).items():
        registry.set_model_version_tag(name, version, key, value)
    set_alias(settings, name, CHALLENGER, version)
    return version


def champion_version(settings: Settings, name: str) -> str | None:
    """The version the `champion` alias points to, or None when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client(settings).get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def set_alias(settings: Settings, name: str, alias: str, version: str) -> None:
    client(settings).set_registered_model_alias(name, alias, version)
    logger.info("registry: %s@%s -> version %s", name, alias, version)


def resolve_version(settings: Settings, name: str, version: str | None) -> tuple[str, str]:
    """The model URI and version to load: the given version, else `champion`.

    Raises:
        ModelNotFoundError: no such registered model / version / champion, with the command that makes one.
    """
    from mlflow.exceptions import MlflowException

    registry = client(settings)
    try:
        found = (
            registry.get_model_version(name, version)
            if version
            else registry.get_model_version_by_alias(name, CHAMPION)
        )
    except MlflowException as error:
        what = f"version {version}" if version else f"@{CHAMPION}"
        kind = name.rsplit("_", 1)[-1]
        raise ModelNotFoundError(
            f"registered model {name} has no {what} in {settings.tracking_uri} "
            f"(run `customer-ml train-{kind}` first): {str(error).splitlines()[0]}"
        ) from None
    return f"models:/{name}/{found.version}", str(found.version)


def promotion_gate(
    settings: Settings,
    name: str,
    version: str,
    metric: str,
    evaluate: Callable[[Any], float],
    decide: Callable[[float | None, str | None], Promotion],
) -> Promotion:
    """What both trainers do once the new version is registered as challenger: measure the champion on the same
    rows (`evaluate`, see `champion_figure`), `decide(champion's figure, champion version)`, and record the decision
    (aliases, tags, the run's `promotion.*`) under `metric`."""
    figure, champion = champion_figure(settings, name, version, evaluate)
    decision = decide(figure, champion)
    record_promotion(settings, name, version, decision, metric)
    return decision


def decide_promotion(
    challenger: float, champion: float | None, margin: float, champion_version: str | None
) -> Promotion:
    """The gate: promote when there is no champion, or when the challenger's figure beats the champion's by at
    least `margin` (figures where higher is better, computed on the same rows). A champion without a figure (it
    could not be evaluated, see `champion_figure`) is kept."""
    if champion is None and champion_version is not None:
        reason = f"champion version {champion_version} could not be evaluated on the same rows"
        return Promotion(False, reason, challenger, None, champion_version)
    if champion is None:
        return Promotion(True, "no champion yet", challenger, None, champion_version)
    if challenger - champion >= margin:
        reason = f"challenger {challenger:.4f} >= champion {champion:.4f} + margin {margin}"
        return Promotion(True, reason, challenger, champion, champion_version)
    reason = f"challenger {challenger:.4f} < champion {champion:.4f} + margin {margin}"
    return Promotion(False, reason, challenger, champion, champion_version)


def load_spark_model(settings: Settings, uri: str) -> Any:
    """A logged Spark ML model (`models:/name/3`, `runs:/…`) loaded into the active session.

    Over Spark Connect MLflow's own loader cannot run: it copies the model through the JVM's Hadoop FileSystem,
    which a Connect client does not have. There the artifacts are downloaded under the work dir, which the server
    must reach too (shared storage, as for the lake), and the server loads the Spark ML model from that folder.
    """
    import mlflow
    from pyspark.sql import SparkSession

    from customer_ml.session import is_connect

    spark = SparkSession.getActiveSession()
    if spark is None or not is_connect(spark):
        return mlflow.spark.load_model(uri)
    from pyspark.ml import PipelineModel

    target = settings.work_dir / "models" / hashlib.sha1(uri.encode("utf-8")).hexdigest()[:16]
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target))
    try:
        return PipelineModel.load(str(Path(local) / "sparkml"))
    except Exception as error:
        if "JVM_ATTRIBUTE_NOT_SUPPORTED" not in str(error):
            raise
        raise SparkSetupError(
            f"model {uri} has a stage that needs the SparkContext (xgboost.spark does), so it cannot load over "
            "Spark Connect: score it on a classic session, or train with classifier.candidates.xgboost.enabled="
            "false to score over Connect"
        ) from None


def champion_figure(
    settings: Settings, name: str, version: str, evaluate: Callable[[Any], float]
) -> tuple[float | None, str | None]:
    """The current champion of `name` loaded and measured by `evaluate(model)`, for the promotion gate.

    Returns (None, None) without a champion (or when `version` is it), (None, champion) when the champion cannot
    be loaded or evaluated (e.g. it was trained on other columns): the gate then keeps it, and the error is logged.
    """

    champion = champion_version(settings, name)
    if champion is None or champion == version:
        return None, None
    try:
        return float(evaluate(load_spark_model(settings, f"models:/{name}/{champion}"))), champion
    except Exception as error:  # noqa: BLE001 - any failure of the old model keeps it, and is logged
        logger.warning("champion %s version %s cannot be evaluated: %s", name, champion, error)
        return None, champion


def record_promotion(settings: Settings, name: str, version: str, decision: Promotion, metric: str) -> None:
    """Log the gate's decision and both figures in the active run; move `champion` when promoted."""
    import mlflow

    mlflow.log_metric(f"promotion.challenger_{metric}", decision.challenger_metric)
    if decision.champion_metric is not None:
        mlflow.log_metric(f"promotion.champion_{metric}", decision.champion_metric)
    mlflow.set_tags(
        {
            "promotion.decision": "promoted" if decision.promoted else "kept champion",
            "promotion.reason": decision.reason,
            "promotion.previous_champion": decision.champion_version or "",
        }
    )
    client(settings).set_model_version_tag(name, version, "promotion", decision.reason)
    if decision.promoted:
        set_alias(settings, name, CHAMPION, version)
    level = logging.WARNING if "review it" in decision.reason else logging.INFO
    logger.log(level, "promotion of %s version %s: %s", name, version, decision.reason)


def promote(settings: Settings, kind: str, version: str, reason: str) -> str | None:
    """Point `<project>_<kind>@champion` at `version` by hand (a decision the gate did not take), tagging the
    version with who-decided text. Returns the previous champion's version (None when there was none).

    Raises:
        ModelNotFoundError: no such model or version, with the versions there are.
    """
    from mlflow.exceptions import MlflowException

    name = model_name(settings, kind)
    registry = client(settings)
    try:
        registry.get_model_version(name, version)
    except MlflowException:
        try:
            versions = sorted(int(v.version) for v in registry.search_model_versions(f"name = '{name}'"))
        except MlflowException:
            versions = []
        there = f"versions: {', '.join(map(str, versions))}" if versions else f"run `customer-ml train-{kind}` first"
        raise ModelNotFoundError(f"registered model {name} has no version {version} ({there})") from None
    previous = champion_version(settings, name)
    set_alias(settings, name, CHAMPION, version)
    registry.set_model_version_tag(name, version, "promotion", f"promoted by hand: {reason}")
    logger.info("promotion of %s version %s by hand (was %s): %s", name, version, previous or "none", reason)
    return previous
