"""The `monitor` stage: a score date's profile, its drift from a baseline and from the previous score date, the
segments' fit, the model's quality, and the alerts a scheduler branches on.

Inputs (monitoring/inputs.py): the scored partition of the date and the input snapshot it scored (from the scoring
commit); the models that scored it; the baseline: by default the exact table version the classifier was trained on
(time travel) plus the test-score distribution and segment mix its training runs stored. Writes, each replacing
the score date's partition in one commit: `monitoring.profile_table`, `monitoring.drift_table`,
`monitoring.alerts_table`. Then plots and an MLflow run in the `<project>_monitoring` experiment (monitoring/report.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml.errors import ConfigError, CustomerMLError
from customer_ml.features import quote
from customer_ml.logs import job_context, stage
from customer_ml.monitoring import inputs, report, tables
from customer_ml.monitoring.inputs import PREVIOUS, TRAINING, Baseline, Models, ScoredDate
from customer_ml.monitoring.policy import (
    SCORE_COLUMN,
    SEGMENT_COLUMN,
    Alert,
    DriftRecord,
    drift_alerts,
    drift_status,
    fit_alert,
    quality_alert,
    status,
)
from customer_ml.monitoring.profile import TABLE_ROW, ProfileRow, profile
from customer_ml.monitoring.quality_check import ModelQuality, model_quality
from customer_ml.monitoring.reference import categorical_drift, numeric_drift
from customer_ml.monitoring.stats import category_counts, frame_drift, sliced_drift
from customer_ml.session import bind_settings
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

CATEGORICAL_TYPES = ("string", "boolean")
MAX_SLICE_VALUES = 50
"""An input column with more values than this is profiled by slice but not compared by slice."""
SCORED_COLUMNS = (SCORE_COLUMN, SEGMENT_COLUMN, "score_decile", "predicted_positive")
"""The scored partition's columns: never features, even when the input holds a column of that name."""


@dataclass(frozen=True)
class MonitorResult:
    score_date: dt.date
    baseline: str
    current: inputs.Snapshot
    stored: Baseline | None  # the baseline, with the training runs' stored score distribution and segment mix
    previous: dt.date | None
    classifier_version: str
    segmenter_version: str | None
    records: list[DriftRecord]
    statuses: list[str]  # one per record
    profile: list[ProfileRow]
    segment_fit: float | None  # current mean distance to the centres / training's
    quality: ModelQuality | None
    fit_status: str  # ok, warn or alert against monitoring.segment_fit
    quality_status: str  # ok, warn or alert of the ROC AUC drop against monitoring.quality_drop
    alerts: list[Alert]
    current_mix: dict[str | None, int] | None  # rows per segment name on the score date (None: no segmenter)
    run_id: str | None
    reports: str

    @property
    def reference(self) -> inputs.Snapshot | None:
        """The features' baseline snapshot."""
        return self.stored.features if self.stored else None

    @property
    def judged(self) -> str:
        """The drift type alerts come from."""
        return inputs.judged_drift_type(self.baseline)


def run(
    spark: SparkSession, settings: Settings, score_date: dt.date | None = None, baseline: str = TRAINING
) -> MonitorResult:
    """Monitor one score date (default the latest) against `baseline` (training, previous or TABLE@VERSION).

    Raises:
        CustomerMLError: nothing scored for that date, no earlier date with `previous`, a baseline that cannot be
            read, or settings naming columns the rows do not have.
    """
    inputs.parse_baseline(baseline)
    with stage("monitor") as record:
        date = inputs.scored_date(spark, settings, score_date)
        found = inputs.models(settings, date.partition)
        # `previous` judges the consecutive drift; the training comparison is still made (when the training run
        # recorded its input), so that a run replacing the date's rows does not lose it.
        base = (
            inputs.baseline(settings, baseline, found) if baseline != PREVIOUS else _training_or_none(settings, found)
        )
        previous = inputs.previous_date(spark, settings, date.day)
        if baseline == PREVIOUS and previous is None:
            raise CustomerMLError(
                f"--baseline previous: no score date before {date.day} in {settings.scoring.scored_table}; monitor "
                "against the training rows (the default) instead"
            )
        named = {
            s.table for s in (date.input, base.features if base else None, previous.input if previous else None) if s
        }
        settings = settings.with_tables(sorted(named))  # tables given with --input-table / --table are in no conf
        bind_settings(spark, settings)
        current = inputs.read(spark, date.input)
        numeric, categorical = _columns(settings, found, current)
        _check_slices(settings, current)  # before any Spark work
        segments = found.segmenter.load().model if found.segmenter else None
        mix = category_counts(date.partition, SEGMENT_COLUMN) if segments is not None else None
        columns = Columns(numeric, categorical, _slicing(settings, segments, current, mix))
        records = _baseline_drift(spark, base, date, found, current, columns, mix) if base else []
        if previous is not None:
            records += _consecutive_drift(spark, previous, date, found, current, columns)
        record.count("drift statistics", len(records))
        profiled = _profile(current, date.partition, numeric, categorical, segments, settings)
        fit = _segment_fit(found, segments, current, _rows(profiled), settings)
        quality = model_quality(spark, settings, date, found)
        statuses = [drift_status(r.stat, settings.monitoring) for r in records]
        alerts = drift_alerts(records, inputs.judged_drift_type(baseline), settings.monitoring)
        alerts += [a for a in (fit_alert(fit, settings.monitoring), _quality_alert(quality, settings)) if a]
        with job_context(job="monitor", score_date=date.day.isoformat()):
            tables.write(spark, settings, date, found, profiled, records, statuses, alerts, quality, fit)
        record.count("alerts", len(alerts))
        result = MonitorResult(
            date.day,
            baseline,
            date.input,
            base,
            previous.day if previous else None,
            found.classifier.version,
            found.segmenter.version if found.segmenter else None,
            records,
            statuses,
            profiled,
            fit,
            quality,
            status(fit, settings.monitoring.segment_fit),
            status(quality.roc_auc_drop if quality else None, settings.monitoring.quality_drop),
            alerts,
            mix,
            None,
            "",
        )
        run_id, folder = report.log(spark, settings, result, date)
    return replace(result, run_id=run_id, reports=folder)


def _columns(settings: Settings, found: Models, current: DataFrame) -> tuple[list[str], list[str]]:
    """The monitored features (`monitoring.columns`, default the classifier's inputs), numeric and categorical."""
    config = settings.monitoring
    skip = {settings.data.id_column, settings.data.label.column if settings.data.label else None, *SCORED_COLUMNS}
    types = dict(current.dtypes)
    if config.columns:
        missing = [c for c in config.columns if c not in types]
        if missing:
            raise ConfigError(
                f"monitoring.columns: {missing} not in the scored input (it has {sorted(types)}); fix the list or "
                "leave it empty for the classifier's inputs"
            )
        wanted = {c: types[c] for c in config.columns}
    else:
        wanted = {c: t for c, t in found.classifier.input_columns.items() if c not in skip and c in types}
    categorical = [c for c, t in wanted.items() if t in CATEGORICAL_TYPES]
    return [c for c in wanted if c not in categorical], categorical


@dataclass(frozen=True)
class Slicing:
    """A slice column, the values compared one by one, and what adds the column to a frame that lacks it."""

    column: str
    values: list[str | None]
    prepare: Callable[[DataFrame], DataFrame]


@dataclass(frozen=True)
class Columns:
    numeric: list[str]
    categorical: list[str]
    slicing: list[Slicing]


def _check_slices(settings: Settings, current: DataFrame) -> None:
    """Every slice is an input column or segment_name, else a one-line error naming `monitoring.slices`."""
    unknown = [s for s in settings.monitoring.slices if s != SEGMENT_COLUMN and s not in current.columns]
    if unknown:
        raise ConfigError(
            f"monitoring.slices: {unknown} not among the scored input's columns ({sorted(current.columns)}) nor "
            f"{SEGMENT_COLUMN}; name input columns"
        )


def _slicing(
    settings: Settings, segments: PipelineModel | None, current: DataFrame, mix: dict[str | None, int] | None
) -> list[Slicing]:
    """The configured slices drift is compared by: segment_name (the segmenter that scored the date applied to
    both sides, its values those the date has) and input columns with at most MAX_SLICE_VALUES values."""
    found: list[Slicing] = []
    if not settings.monitoring.compare_slices:
        return found
    for name in settings.monitoring.slices:
        if name == SEGMENT_COLUMN:
            if segments is not None:
                found.append(Slicing(name, sorted(mix, key=_value_order), _segmented(segments)))
            continue
        column = F.col(quote(name)).cast("string")
        values = [r[0] for r in current.select(column).distinct().limit(MAX_SLICE_VALUES + 1).collect()]
        if len(values) > MAX_SLICE_VALUES:
            logger.warning("monitor: slice %s has over %d values: profiled, not compared", name, MAX_SLICE_VALUES)
            continue
        found.append(Slicing(name, sorted(values, key=_value_order), lambda rows: rows))
    return found


def _value_order(value: str | None) -> tuple[bool, str]:
    return value is None, value or ""


def _segmented(segments: PipelineModel) -> Callable[[DataFrame], DataFrame]:
    def prepare(rows: DataFrame) -> DataFrame:
        kept = [quote(c) for c in rows.columns if c != SEGMENT_COLUMN]
        return segments.transform(rows.select(*kept)).select(*kept, SEGMENT_COLUMN)

    return prepare


def _baseline_drift(
    spark: SparkSession,
    base: Baseline,
    date: ScoredDate,
    found: Models,
    current: DataFrame,
    columns: Columns,
    mix: dict[str | None, int] | None,
) -> list[DriftRecord]:
    """The features against the baseline snapshot (by slice too); the score and the segment mix against the
    training runs'."""
    records = _feature_drift(spark, "baseline", base.features, date, current, columns)
    scored = f"score date {date.day}"
    if base.scores is not None:
        stat = numeric_drift(SCORE_COLUMN, base.scores, date.partition, SCORE_COLUMN)
        test_scores = f"{found.classifier.name} v{found.classifier.version} test scores"
        records.append(DriftRecord(stat, "baseline", test_scores, scored))
    if base.segment_mix is not None and mix is not None:
        stat = categorical_drift(SEGMENT_COLUMN, base.segment_mix, mix)
        reference_name = f"{found.segmenter.name} v{found.segmenter.version} training"
        records.append(DriftRecord(stat, "baseline", reference_name, scored))
    return records


def _consecutive_drift(
    spark: SparkSession, previous: ScoredDate, date: ScoredDate, found: Models, current: DataFrame, columns: Columns
) -> list[DriftRecord]:
    """The features, the score and the segment mix against the previous score date's (the score by segment too)."""
    records = _feature_drift(spark, "consecutive", previous.input, date, current, columns)
    mix = [SEGMENT_COLUMN] if found.segmenter is not None else []
    segments = next((s for s in columns.slicing if s.column == SEGMENT_COLUMN), None)
    by = (SEGMENT_COLUMN, segments.values) if segments else (None, [])
    scored = sliced_drift(previous.partition, date.partition, [SCORE_COLUMN], mix, *by)
    names = (f"score date {previous.day}", f"score date {date.day}")
    records += [DriftRecord(s, "consecutive", *names) for s in scored[0]]
    for value, stats in zip(by[1], scored[1:], strict=True):
        score = [s for s in stats if s.column == SCORE_COLUMN]
        records += [DriftRecord(s, "consecutive", *names, SEGMENT_COLUMN, value) for s in score]
    return records


def _feature_drift(
    spark: SparkSession,
    drift_type: str,
    snapshot: inputs.Snapshot,
    date: ScoredDate,
    current: DataFrame,
    columns: Columns,
) -> list[DriftRecord]:
    """The features of `current` against a snapshot (those it has), for the whole table and each slice."""
    reference = inputs.read(spark, snapshot)
    numeric, categorical = _shared(reference, columns.numeric, columns.categorical, str(snapshot))
    names = (str(snapshot), str(date.input))
    if not columns.slicing:
        return [DriftRecord(s, drift_type, *names) for s in frame_drift(reference, current, numeric, categorical)]
    records: list[DriftRecord] = []
    for k, slicing in enumerate(columns.slicing):
        if slicing.column != SEGMENT_COLUMN and slicing.column not in reference.columns:
            logger.warning("monitor: %s has no column %s: not compared by it", snapshot, slicing.column)
            continue
        found = sliced_drift(
            slicing.prepare(reference), slicing.prepare(current), numeric, categorical, slicing.column, slicing.values
        )
        if k == 0:
            records += [DriftRecord(s, drift_type, *names) for s in found[0]]
        for value, stats in zip(slicing.values, found[1:], strict=True):
            records += [DriftRecord(s, drift_type, *names, slicing.column, value) for s in stats]
    return records


def _shared(reference: DataFrame, numeric: list[str], categorical: list[str], name: str) -> tuple[list[str], list[str]]:
    """The columns the reference also has (a feature it lacks is logged and left out)."""
    missing = [c for c in [*numeric, *categorical] if c not in reference.columns]
    if missing:
        logger.warning("monitor: %s has no column(s) %s: no drift for them", name, missing)
    return [c for c in numeric if c not in missing], [c for c in categorical if c not in missing]


def _profile(
    current: DataFrame,
    partition: DataFrame,
    numeric: list[str],
    categorical: list[str],
    segments: PipelineModel | None,
    settings: Settings,
) -> list[ProfileRow]:
    """The input's columns per slice, and the score and segment from the scored partition. A customer's segment
    comes from the segmenter that scored the date, applied to its input row: the same segment scoring wrote, with
    no join of the input and the scored rows (a shuffle of both)."""
    config = settings.monitoring
    slices = [s for s in config.slices if s != SEGMENT_COLUMN or segments is not None]
    prepare = _segmented(segments) if SEGMENT_COLUMN in slices else None
    profiled = profile(current, numeric, categorical, slices, config.top_categories, prepare=prepare)
    mix = [SEGMENT_COLUMN] if segments is not None else []
    scored = profile(partition, [SCORE_COLUMN], mix, mix if SEGMENT_COLUMN in slices else [], config.top_categories)
    return profiled + [row for row in scored if row.column_name != TABLE_ROW]


def _rows(profiled: list[ProfileRow]) -> int:
    """The input's rows, as the whole table's `:table` profile row counted them."""
    return next(row.count for row in profiled if row.column_name == TABLE_ROW and row.slice_key is None)


def _segment_fit(
    found: Models, segments: PipelineModel | None, current: DataFrame, total: int, settings: Settings
) -> float | None:
    """Current mean distance to the assigned centre (on a sample of the `total` rows) over the training run's;
    None without both."""
    from customer_ml.segmenter import model_fit

    if segments is None or not found.segmenter_fit:
        if found.segmenter is not None:
            logger.info(
                "segment fit: %s v%s has no training distance; retrain it",
                found.segmenter.name,
                found.segmenter.version,
            )
        return None
    rows = settings.monitoring.segment_fit_sample_rows
    sample = current if total <= rows else current.sample(fraction=rows / total, seed=settings.segmenter.seed)
    return model_fit(segments, sample) / found.segmenter_fit


def _quality_alert(quality: ModelQuality | None, settings: Settings) -> Alert | None:
    if quality is None or quality.roc_auc_drop is None:
        return None
    return quality_alert(quality.roc_auc_drop, quality.metric_name, settings.monitoring)


def _training_or_none(settings: Settings, found: Models) -> Baseline | None:
    try:
        return inputs.baseline(settings, TRAINING, found)
    except CustomerMLError as error:
        logger.info("monitor: no training baseline (%s): consecutive drift only", error)
        return None


def summary(result: MonitorResult) -> list[str]:
    """What the run found, for stdout: one headline, then one line per alert."""
    judged = [
        s
        for r, s in zip(result.records, result.statuses, strict=True)
        if r.slice_key is None and r.drift_type == result.judged
    ]
    counts = ", ".join(f"{sum(s == name for s in judged)} {name}" for name in ("ok", "warn", "alert"))
    if result.baseline == PREVIOUS:
        against = f"score date {result.previous} (previous)"
    else:
        against = f"{result.reference}" + (" (training)" if result.baseline == TRAINING else "")
    parts = [f"monitored {result.score_date}: {len(judged)} statistics of {result.current} against {against}: {counts}"]
    if result.previous and result.baseline != PREVIOUS:
        parts.append(f"consecutive drift against {result.previous}")
    if result.segment_fit is not None:
        parts.append(f"segment fit {result.segment_fit:.2f}x training ({result.fit_status})")
    if result.quality is not None and result.quality.roc_auc is not None:
        trained = result.quality.training.get("test_roc_auc")
        parts.append(
            f"{result.quality.metric_name} {result.quality.roc_auc:.3f}"
            + (f" (training {trained:.3f}; {result.quality_status})" if trained is not None else "")
        )
    parts.append(f"{len(result.alerts)} alert(s); plots in {result.reports}")
    return ["; ".join(parts)] + [
        f"ALERT {a.column}: {a.statistic} {a.value:.3f} >= {a.level} ({a.drift_type}) — {a.recommendation}"
        for a in result.alerts
    ]
