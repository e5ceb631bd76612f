"""The monitoring policy: each drift statistic's status against its levels in conf, and the alerts with what to do.

A statistic at or over its `warn` level warns, at or over `alert` alerts. Alerts come from the drift type the run
was asked to judge (baseline, or consecutive with `--baseline previous`) and from the whole table (slices are
reported, not alerted on: a small segment drifts by chance). What each alert recommends:

| what alerts                                  | recommendation       |
|----------------------------------------------|----------------------|
| one feature's PSI / JS                       | check the source     |
| share of drifted features >= dataset share   | retrain classifier   |
| the score's PSI                              | retrain classifier   |
| model quality dropped from training          | retrain classifier   |
| the segment mix's PSI / JS, the segment fit  | re-cluster           |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from customer_ml.monitoring.stats import DriftStat
from customer_ml.settings import Levels, MonitoringSettings

SCORE_COLUMN = "score"
SEGMENT_COLUMN = "segment_name"
DATASET = ":dataset"
"""column_name of the dataset-drift alert (the share of features that drifted)."""
CHECK_SOURCE, RETRAIN, RECLUSTER = "check the source", "retrain classifier", "re-cluster"


@dataclass(frozen=True)
class DriftRecord:
    """A drift statistic with where it comes from: drift_type baseline|consecutive, slice, both sides described."""

    stat: DriftStat
    drift_type: str
    reference: str
    current: str
    slice_key: str | None = None
    slice_value: str | None = None


@dataclass(frozen=True)
class Alert:
    column: str
    drift_type: str
    statistic: str
    value: float
    level: float
    recommendation: str
    detail: str


def status(value: float | None, levels: Levels) -> str:
    """ok, warn or alert (ok when the statistic does not apply)."""
    if value is None:
        return "ok"
    return "alert" if value >= levels.alert else "warn" if value >= levels.warn else "ok"


def drift_status(stat: DriftStat, config: MonitoringSettings) -> str:
    """The worse of PSI's and (for categories) JS's statuses."""
    found = [status(stat.psi, config.psi), status(stat.js, config.js)]
    return "alert" if "alert" in found else "warn" if "warn" in found else "ok"


def drift_alerts(records: Sequence[DriftRecord], judged: str, config: MonitoringSettings) -> list[Alert]:
    """Alerts from the whole-table records of drift type `judged`: per statistic, then dataset drift."""
    alerts: list[Alert] = []
    features = []
    for record in records:
        if record.drift_type != judged or record.slice_key is not None:
            continue
        stat = record.stat
        if stat.column not in (SCORE_COLUMN, SEGMENT_COLUMN):
            features.append(stat)
        for name, value, levels in (("psi", stat.psi, config.psi), ("js", stat.js, config.js)):
            if value is not None and value >= levels.alert:
                alerts.append(_drift_alert(stat.column, judged, name, value, levels.alert))
    drifted = [s for s in features if drift_status(s, config) != "ok"]
    if features and len(drifted) / len(features) >= config.dataset_drift_share:
        share = len(drifted) / len(features)
        alerts.append(
            Alert(
                DATASET,
                judged,
                "drifted_share",
                share,
                config.dataset_drift_share,
                RETRAIN,
                f"{len(drifted)} of {len(features)} features drifted (PSI or JS over warn): "
                f"{', '.join(s.column for s in drifted[:8])}; retrain the classifier on recent rows",
            )
        )
    return alerts


def fit_alert(ratio: float | None, config: MonitoringSettings) -> Alert | None:
    """The segment fit (current mean distance to the centres / training's) over its alert level."""
    if ratio is None or ratio < config.segment_fit.alert:
        return None
    return Alert(
        SEGMENT_COLUMN,
        "baseline",
        "segment_fit_ratio",
        ratio,
        config.segment_fit.alert,
        RECLUSTER,
        f"customers sit {ratio:.2f}x as far from their segment's centre as at training: re-cluster "
        "(`customer-ml train-segmenter`)",
    )


def quality_alert(drop: float | None, metric: str, config: MonitoringSettings) -> Alert | None:
    """ROC AUC (measured from labels or estimated) `drop` points below the training run's test figure."""
    if drop is None or drop < config.quality_drop.alert:
        return None
    return Alert(
        ":model",
        "baseline",
        f"{metric}_drop",
        drop,
        config.quality_drop.alert,
        RETRAIN,
        f"{metric} is {drop:.3f} below the training run's test figure: retrain the classifier on recent rows",
    )


def _drift_alert(column: str, judged: str, statistic: str, value: float, level: float) -> Alert:
    if column == SCORE_COLUMN:
        recommendation = RETRAIN
        detail = "the score distribution moved: check the inputs' drift, then retrain the classifier on recent rows"
    elif column == SEGMENT_COLUMN:
        recommendation = RECLUSTER
        detail = "the segment mix moved: re-cluster (`customer-ml train-segmenter`) and review the segment names"
    else:
        recommendation = CHECK_SOURCE
        detail = f"check the source of {column}; if the change is real, retrain the classifier on recent rows"
    return Alert(column, judged, statistic, value, level, recommendation, detail)
