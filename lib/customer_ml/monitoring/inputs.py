"""What `customer-ml monitor` compares: the score date's scored rows and input, the models that scored them, and the
baseline (the classifier's training rows, a table version, or the previous score date), all pinned to versions.

Only metadata is read here (MLflow tags and artifacts, Delta commit info); the frames stay lazy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import lake, tracking
from customer_ml.columns import CLASSIFIER, MEAN_DISTANCE, SEGMENT_MIX, SEGMENTER
from customer_ml.errors import ConfigError, CustomerMLError
from customer_ml.monitoring.reference import SCORE_REFERENCE, StoredNumeric
from customer_ml.scoring import SCORE_DATE, ModelRef, resolve_model
from customer_ml.settings import TABLE_NAME, Settings

logger = logging.getLogger(__name__)

TRAINING, PREVIOUS = "training", "previous"
BASELINE_HELP = (
    "training (default: the classifier's training rows), previous (the last earlier score date), TABLE@VERSION"
)
_TABLE_AT = re.compile(rf"^(?P<table>{TABLE_NAME.pattern})@(?P<version>\d+)$")


@dataclass(frozen=True)
class Snapshot:
    """A table at a version: what one side of a comparison read."""

    table: str
    version: int

    def __str__(self) -> str:
        return f"{self.table}@{self.version}"


@dataclass(frozen=True)
class ScoredDate:
    """A score date's scored partition (lazy) and the input snapshot its scoring read."""

    day: dt.date
    partition: DataFrame
    input: Snapshot


@dataclass(frozen=True)
class Baseline:
    """What drift_type `baseline` compares with: the features' reference snapshot, and the stored score distribution
    and segment mix of the models' training runs (None where a run stored none: trained before monitoring)."""

    kind: str  # training or TABLE@VERSION
    features: Snapshot
    scores: StoredNumeric | None
    segment_mix: dict[str, int] | None


@dataclass(frozen=True)
class Models:
    """The models that scored the date, and their training runs' figures monitoring compares with."""

    classifier: ModelRef
    segmenter: ModelRef | None
    classifier_tags: dict[str, str]
    segmenter_fit: float | None  # mean distance to the assigned centre over the segmenter's training rows


def judged_drift_type(baseline: str) -> str:
    """The drift type a run with this baseline alerts on: consecutive for `previous`, else baseline."""
    return "consecutive" if baseline == PREVIOUS else "baseline"


def parse_baseline(text: str) -> str:
    """`training`, `previous` or `TABLE@VERSION`, else a one-line error with the forms."""
    if text in (TRAINING, PREVIOUS) or _TABLE_AT.match(text):
        return text
    raise ConfigError(f"--baseline {text!r}: expected {BASELINE_HELP}, e.g. customers_validated@3")


def scored_date(spark: SparkSession, settings: Settings, day: dt.date | None) -> ScoredDate:
    """The partition of `day` (default the latest score date) and the input it scored.

    Raises:
        CustomerMLError: nothing scored yet, or not for that date, or the scoring commit does not say what it read.
    """
    table = settings.scoring.scored_table
    if not lake.table_exists(spark, table):
        raise CustomerMLError(f"no table {table} yet: run `customer-ml score` before monitoring")
    scored = lake.read_table(spark, table)
    day = day or scored.agg(F.max(SCORE_DATE)).first()[0]
    partition = scored.where(F.col(SCORE_DATE) == F.lit(day)) if day else scored.limit(0)
    if day is None or partition.limit(1).count() == 0:
        raise CustomerMLError(
            f"nothing scored for {day or 'any date'} in {table}: run `customer-ml score --score-date "
            f"{day or 'YYYY-MM-DD'}` first"
        )
    return ScoredDate(day, partition, _scored_input(spark, table, day))


def previous_date(spark: SparkSession, settings: Settings, day: dt.date) -> ScoredDate | None:
    """The last score date before `day`, if any (consecutive drift compares with it)."""
    scored = lake.read_table(spark, settings.scoring.scored_table)
    earlier = scored.where(F.col(SCORE_DATE) < F.lit(day)).agg(F.max(SCORE_DATE)).first()[0]
    return scored_date(spark, settings, earlier) if earlier else None


def models(settings: Settings, partition: DataFrame) -> Models:
    """The classifier and segmenter versions that scored the partition (one each; a mix is an error)."""
    found = partition.select("classifier_version", "segmenter_version").distinct().collect()
    if len(found) != 1:
        versions = sorted(f"classifier v{r[0]} / segmenter v{r[1]}" for r in found)
        raise CustomerMLError(f"the score date was scored by several model versions ({versions}); score it again")
    classifier_version, segmenter_version = found[0]
    model = resolve_model(settings, CLASSIFIER, str(classifier_version))
    tags = tracking.client(settings).get_run(model.run_id).data.tags
    segments = resolve_model(settings, SEGMENTER, str(segmenter_version)) if segmenter_version else None
    fit = None
    if segments is not None:
        fit = tracking.client(settings).get_run(segments.run_id).data.metrics.get(MEAN_DISTANCE)
    return Models(model, segments, dict(tags), fit)


def baseline(settings: Settings, chosen: str, found: Models) -> Baseline | None:
    """The baseline `chosen` names (None for `previous`: only consecutive drift then)."""
    if chosen == PREVIOUS:
        return None
    if chosen == TRAINING:
        tags = found.classifier_tags
        if "input.table" not in tags or "input.version" not in tags:
            raise CustomerMLError(
                f"{found.classifier.name} v{found.classifier.version}'s training run does not record its input "
                "table and version; retrain it, or pass --baseline TABLE@VERSION"
            )
        features = Snapshot(tags["input.table"], int(tags["input.version"]))
    else:
        match = _TABLE_AT.match(chosen)
        features = Snapshot(match["table"], int(match["version"]))
    scores = _artifact(settings, found.classifier, SCORE_REFERENCE)
    mix = _artifact(settings, found.segmenter, SEGMENT_MIX) if found.segmenter else None
    return Baseline(
        TRAINING if chosen == TRAINING else "table",
        features,
        StoredNumeric.from_dict(scores) if scores else None,
        {str(k): int(v) for k, v in mix.items()} if mix else None,
    )


def read(spark: SparkSession, snapshot: Snapshot) -> DataFrame:
    """The snapshot's rows (time travel); a table or version that is not there is named with the fix."""
    if not lake.table_exists(spark, snapshot.table):
        raise CustomerMLError(f"cannot read {snapshot} for monitoring: there is no table {snapshot.table} in the lake")
    latest = lake.history(spark, snapshot.table, limit=1)[0]["version"]
    if snapshot.version > latest:
        raise CustomerMLError(
            f"cannot read {snapshot} for monitoring: {snapshot.table}'s versions are 0 to {latest}; pass one of them"
        )
    try:
        return lake.read_table(spark, snapshot.table, version=snapshot.version)
    except CustomerMLError as error:
        raise CustomerMLError(
            f"cannot read {snapshot} for monitoring ({error}); a vacuumed version cannot be read: pass a later "
            "--baseline TABLE@VERSION"
        ) from None


def _scored_input(spark: SparkSession, scored_table: str, day: dt.date) -> Snapshot:
    """The table and version the newest scoring of `day` read, from its commit."""
    for commit in lake.history(spark, scored_table):
        info = commit["info"]
        if info.get("customer_ml.score_date") == day.isoformat() and "customer_ml.input_table" in info:
            return Snapshot(info["customer_ml.input_table"], int(info["customer_ml.input_version"]))
    raise CustomerMLError(
        f"the commits of {scored_table} do not say which table scoring read for {day}; score that date again"
    )


def _artifact(settings: Settings, model: ModelRef, path: str) -> dict[str, Any] | None:
    """A JSON artifact of the model's training run, or None (logged) when the run has none."""
    import mlflow

    try:
        location = mlflow.artifacts.download_artifacts(
            run_id=model.run_id, artifact_path=path, tracking_uri=settings.tracking_uri
        )
    except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
        logger.info("%s v%s has no %s (trained before monitoring stored it): skipped", model.name, model.version, path)
        return None
    with open(location, encoding="utf-8") as handle:
        return json.load(handle)
