"""The `monitor` stage: a score date's profile, its drift from a baseline and from the previous score date, the
segments' fit, the model's quality, and the alerts a scheduler branches on.

Inputs (monitoring/inputs.py): the scored partition of the date and the input snapshot it scored (from the scoring
commit); the models that scored it; the baseline: by default the exact table version the classifier was trained on
(time travel) plus the test-score distribution and segment mix its training runs stored. Writes, each replacing
the score date's partition in one commit: `monitoring.profile_table`, `monitoring.drift_table`,
`monitoring.alerts_table`. Then plots and an MLflow run in the `<project>_monitoring` experiment (monitoring/report.py).

Each frame (the date's input, the baseline snapshot, the previous date's input, both scored partitions) is read
for a sample and then once to count (monitoring/scan.py); every comparison and the profile come from those counts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import lake
from customer_ml.errors import ConfigError, CustomerMLError
from customer_ml.features import quote
from customer_ml.logs import job_context, stage
from customer_ml.monitoring import inputs, report, scan, tables
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
from customer_ml.monitoring.profile import TABLE_ROW, ProfileRow, profile_rows
from customer_ml.monitoring.quality_check import ModelQuality, model_quality
from customer_ml.monitoring.reference import categorical_drift, stored_drift
from customer_ml.monitoring.stats import compare, grid_probabilities
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
        elsewhere = _other_lake(spark, found, base.features.table) if base and base.kind == TRAINING else None
        if elsewhere and baseline == PREVIOUS:
            logger.warning("monitor: no training comparison: %s", elsewhere)
            base = None
        elif elsewhere:
            raise CustomerMLError(elsewhere)
        current = inputs.read(spark, date.input)
        numeric, categorical = _columns(settings, found, current)
        _check_slices(settings, current)  # before any Spark work
        segments = found.segmenter.load(settings).model if found.segmenter else None
        columns = Columns(numeric, categorical, *_slices(settings, segments, current))
        features = _measure_features(spark, columns, current, base, previous)
        scores = _measure_scores(date, previous, base, columns, found.segmenter is not None)
        mix = scores[0].counts[scan.WHOLE].categorical[SEGMENT_COLUMN] if found.segmenter else None
        records = _baseline_drift(base, date, found, columns, features, scores) if base else []
        if previous is not None:
            records += _consecutive_drift(previous, date, found, columns, features, scores)
        record.count("drift statistics", len(records))
        top = settings.monitoring.top_categories
        profiled = profile_rows(features[0], numeric, categorical, top)
        scored_columns = ([SCORE_COLUMN], [SEGMENT_COLUMN] if found.segmenter else [])
        profiled += [row for row in profile_rows(scores[0], *scored_columns, top) if row.column_name != TABLE_ROW]
        fit = _segment_fit(found, segments, current, features[0].rows, settings)
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
class Columns:
    """The monitored features, the slice columns profiled, those drift is compared by, and what adds the segment
    column to the input rows (None without a segmenter among the slices)."""

    numeric: list[str]
    categorical: list[str]
    slices: list[str]
    compared: list[str]
    prepare: Callable[[DataFrame], DataFrame] | None


def _check_slices(settings: Settings, current: DataFrame) -> None:
    """Every slice is an input column or segment_name, else a one-line error naming `monitoring.slices`."""
    unknown = [s for s in settings.monitoring.slices if s != SEGMENT_COLUMN and s not in current.columns]
    if unknown:
        raise ConfigError(
            f"monitoring.slices: {unknown} not among the scored input's columns ({sorted(current.columns)}) nor "
            f"{SEGMENT_COLUMN}; name input columns"
        )


def _slices(
    settings: Settings, segments: PipelineModel | None, current: DataFrame
) -> tuple[list[str], list[str], Callable[[DataFrame], DataFrame] | None]:
    """The configured slices (segment_name only with a segmenter), those drift is compared by (with
    `compare_slices`: segment_name, and input columns with at most MAX_SLICE_VALUES values), and the segmenter as
    what adds segment_name to input rows."""
    config = settings.monitoring
    slices = [s for s in config.slices if s != SEGMENT_COLUMN or segments is not None]
    compared = []
    for name in slices if config.compare_slices else []:
        if name != SEGMENT_COLUMN:
            column = F.col(quote(name)).cast("string")
            if current.select(column).distinct().limit(MAX_SLICE_VALUES + 1).count() > MAX_SLICE_VALUES:
                logger.warning("monitor: slice %s has over %d values: profiled, not compared", name, MAX_SLICE_VALUES)
                continue
        compared.append(name)
    return slices, compared, _segmented(segments) if segments is not None and SEGMENT_COLUMN in slices else None


def _value_order(value: str | None) -> tuple[bool, str]:
    return value is None, value or ""


def _segmented(segments: PipelineModel) -> Callable[[DataFrame], DataFrame]:
    def prepare(rows: DataFrame) -> DataFrame:
        kept = [quote(c) for c in rows.columns if c != SEGMENT_COLUMN]
        return segments.transform(rows.select(*kept)).select(*kept, SEGMENT_COLUMN)

    return prepare


def _measure_features(
    spark: SparkSession,
    columns: Columns,
    current: DataFrame,
    base: Baseline | None,
    previous: ScoredDate | None,
) -> list[scan.Measured]:
    """The input of the score date (every slice), then the baseline snapshot and the previous date's input (the
    columns and compared slices they have), each counted in one pass over one shared grid per column."""
    sides = [
        scan.Side(current, columns.numeric, columns.categorical, columns.slices, columns.compared, columns.prepare)
    ]
    for snapshot in (base.features if base else None, previous.input if previous else None):
        if snapshot is None:
            continue
        frame = inputs.read(spark, snapshot)
        numeric, categorical = _shared(frame, columns.numeric, columns.categorical, str(snapshot))
        compared = [c for c in columns.compared if c == SEGMENT_COLUMN or c in frame.columns]
        for name in sorted(set(columns.compared) - set(compared)):
            logger.warning("monitor: %s has no column %s: not compared by it", snapshot, name)
        prepare = columns.prepare if SEGMENT_COLUMN in compared else None
        sides.append(scan.Side(frame, numeric, categorical, compared, compared, prepare))
    return scan.measure(sides, grid_probabilities())


def _measure_scores(
    date: ScoredDate, previous: ScoredDate | None, base: Baseline | None, columns: Columns, segmented: bool
) -> list[scan.Measured]:
    """The scored partition of the date, then the previous date's: score and segment by segment, on one grid that
    holds the training run's stored score grid too (so the date's bins merge onto it)."""
    mix = [SEGMENT_COLUMN] if segmented else []
    slices = [c for c in mix if c in columns.slices]
    by = [c for c in slices if c in columns.compared]
    sides = [scan.Side(date.partition, [SCORE_COLUMN], mix, slices, by)]
    if previous is not None:
        sides.append(scan.Side(previous.partition, [SCORE_COLUMN], mix, by, by))
    stored = {SCORE_COLUMN: base.scores.edges} if base is not None and base.scores is not None else None
    return scan.measure(sides, grid_probabilities(), extra_edges=stored)


def _baseline_drift(
    base: Baseline,
    date: ScoredDate,
    found: Models,
    columns: Columns,
    features: list[scan.Measured],
    scores: list[scan.Measured],
) -> list[DriftRecord]:
    """The features against the baseline snapshot (by slice too); the score and the segment mix against the
    training runs'."""
    records = _feature_drift("baseline", base.features, date, columns, features[0], features[1])
    scored = f"score date {date.day}"
    if base.scores is not None:
        counted = scores[0].counts[scan.WHOLE].numeric[SCORE_COLUMN]
        grid = scores[0].grids[SCORE_COLUMN]
        stat = stored_drift(SCORE_COLUMN, base.scores, grid, counted.binned(), counted.nulls)
        test_scores = f"{found.classifier.name} v{found.classifier.version} test scores"
        records.append(DriftRecord(stat, "baseline", test_scores, scored))
    if base.segment_mix is not None and found.segmenter is not None:
        mix = scores[0].counts[scan.WHOLE].categorical[SEGMENT_COLUMN]
        stat = categorical_drift(SEGMENT_COLUMN, base.segment_mix, mix)
        reference_name = f"{found.segmenter.name} v{found.segmenter.version} training"
        records.append(DriftRecord(stat, "baseline", reference_name, scored))
    return records


def _consecutive_drift(
    previous: ScoredDate,
    date: ScoredDate,
    found: Models,
    columns: Columns,
    features: list[scan.Measured],
    scores: list[scan.Measured],
) -> list[DriftRecord]:
    """The features, the score and the segment mix against the previous score date's (the score by segment too)."""
    records = _feature_drift("consecutive", previous.input, date, columns, features[0], features[-1])
    mix = [SEGMENT_COLUMN] if found.segmenter is not None else []
    names = (f"score date {previous.day}", f"score date {date.day}")
    keys = _keys(scores[0], [c for c in columns.compared if c == SEGMENT_COLUMN])
    found_stats = compare(scores[1], scores[0], [SCORE_COLUMN], mix, keys)
    records += [DriftRecord(s, "consecutive", *names) for s in found_stats[0]]
    for key, stats in zip(keys[1:], found_stats[1:], strict=True):
        records += [DriftRecord(s, "consecutive", *names, *key) for s in stats if s.column == SCORE_COLUMN]
    return records


def _feature_drift(
    drift_type: str,
    snapshot: inputs.Snapshot,
    date: ScoredDate,
    columns: Columns,
    current: scan.Measured,
    reference: scan.Measured,
) -> list[DriftRecord]:
    """The features of the date's input against a snapshot's (those it has), for the whole table and each
    compared slice it has."""
    numeric = [c for c in columns.numeric if c in reference.counts.get(scan.WHOLE, scan.SliceCounts()).numeric]
    categorical = [
        c for c in columns.categorical if c in reference.counts.get(scan.WHOLE, scan.SliceCounts()).categorical
    ]
    keys = _keys(current, [c for c in columns.compared if any(key[0] == c for key in reference.counts)])
    names = (str(snapshot), str(date.input))
    found = compare(reference, current, numeric, categorical, keys)
    return [
        DriftRecord(stat, drift_type, *names, *(key if key != scan.WHOLE else ()))
        for key, stats in zip(keys, found, strict=True)
        for stat in stats
    ]


def _keys(current: scan.Measured, compared: list[str]) -> list[scan.Slice]:
    """The whole frame, then each compared slice column's values on the score date, in value order (null last)."""
    keys = [scan.WHOLE]
    for column in compared:
        keys += sorted((key for key in current.counts if key[0] == column), key=lambda key: _value_order(key[1]))
    return keys


def _shared(reference: DataFrame, numeric: list[str], categorical: list[str], name: str) -> tuple[list[str], list[str]]:
    """The columns the reference also has (a feature it lacks is logged and left out)."""
    missing = [c for c in [*numeric, *categorical] if c not in reference.columns]
    if missing:
        logger.warning("monitor: %s has no column(s) %s: no drift for them", name, missing)
    return [c for c in numeric if c not in missing], [c for c in categorical if c not in missing]


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


def _other_lake(spark: SparkSession, found: Models, table: str) -> str | None:
    """Why the training rows are not in this lake (None when they are). The training baseline is read by table
    name and version: in another lake (a mistyped lake root) the same name is another table, and the comparison
    would be with its rows, silently. A copy or a move of the table keeps its Delta id, and passes."""
    tags = found.classifier_tags
    recorded = tags.get("input.table_id")
    if not recorded or recorded == "unknown" or not lake.table_exists(spark, table):
        return None
    here = lake.identity(spark, table)
    if here.table_id == recorded:
        return None
    return (
        f"{found.classifier.name} v{found.classifier.version} was trained on table {table} "
        f"{tags.get('input.location', '')} (Delta id {recorded}), but this lake's {table} is another table "
        f"({here.location}, id {here.table_id}): check lake.root (CUSTOMER_ML_LAKE_ROOT on a cluster), or pass "
        "--baseline TABLE@VERSION to compare with a table of this lake"
    )


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
