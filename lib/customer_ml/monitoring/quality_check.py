"""The model's quality on a score date, as the monitor stage reports it: measured from late labels when
`monitoring.labels` is set and some arrived, else estimated from the calibrated scores (CBPE), with the training
run's test figures beside it (monitoring/quality.py computes both)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from customer_ml.monitoring import quality
from customer_ml.monitoring.inputs import Models, ScoredDate
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)


FIGURES = ("roc_auc", "pr_auc", "recall", "precision", "positive_rate", "predicted_positive_rate")
"""The quality figures the profile table and the monitoring run report, in that order."""


@dataclass(frozen=True)
class ModelQuality:
    """A score date's quality figures (measured or estimated) beside the training run's test figures."""

    figures: quality.Quality
    training: dict[str, float] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """`measured` (from labels) or `estimated` (CBPE)."""
        return self.figures.method

    @property
    def labelled_rows(self) -> int | None:
        """The scored rows that got a label; None for an estimate (it rests on all rows)."""
        return self.figures.labelled_rows if self.source == "measured" else None

    def figure(self, name: str) -> float | None:
        """One of FIGURES; None where it is undefined on these rows (NaN in `figures`)."""
        value = getattr(self.figures, name)
        return None if value is None or math.isnan(value) else float(value)

    @property
    def roc_auc(self) -> float | None:
        return self.figure("roc_auc")

    @property
    def metric_name(self) -> str:
        return "roc_auc" if self.source == "measured" else "estimated_roc_auc"

    @property
    def roc_auc_drop(self) -> float | None:
        """Training test ROC AUC minus this date's (positive: worse now)."""
        if self.roc_auc is None or "test_roc_auc" not in self.training:
            return None
        return self.training["test_roc_auc"] - self.roc_auc


def model_quality(spark: SparkSession, settings: Settings, date: ScoredDate, found: Models) -> ModelQuality | None:
    """Measured quality when labels are configured and some scored rows have one, else the CBPE estimate when the
    classifier stored a calibration, else None (logged)."""
    model = found.classifier
    measured = None
    if settings.monitoring.labels is not None:
        labels = quality.read_labels(spark, settings, date.day)
        measured = quality.labelled_quality(date.partition, labels, settings.data.require_id(), model.threshold)
        if measured.labelled_rows == 0:
            logger.info("quality: no outcome in %s for %s yet: estimating", settings.monitoring.labels.table, date.day)
            measured = None
    if measured is None:
        calibration = quality.load_calibration(settings, model.run_id)
        if calibration is None:
            return None
        measured = quality.estimated_quality(date.partition, calibration, model.threshold)
    return ModelQuality(measured, quality.training_quality(settings, model.run_id))
