"""The classifier's calibration: scores mapped to probabilities of the positive class, fitted at training time.

Isotonic regression (scikit-learn's, weighted by rows) over the distinct validation scores and their positive
shares: a non-decreasing step function, stored as its step points in the training run's `calibration.json` (JSON,
no pickle). Between step points it interpolates linearly and outside them it clips, as scikit-learn predicts with
`out_of_bounds="clip"`; `Calibration.column` gives the same numbers as a Spark expression (no UDF). Quality
estimation without labels (monitoring/quality.py, CBPE) reads probabilities from it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F

from customer_ml import evaluation, tracking
from customer_ml.errors import MonitoringError
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

CALIBRATION_ARTIFACT = "calibration.json"
"""The training run's artifact holding the calibration (`Calibration.to_dict`)."""
_KIND = "isotonic"
_warned_runs: set[str] = set()


@dataclass(frozen=True)
class Calibration:
    """A non-decreasing piecewise-linear map from score to probability through the step points (x, y).

    Attributes:
        x: the step points' scores, strictly increasing.
        y: the probabilities there, non-decreasing, in [0, 1].
        rows: the rows it was fitted on (the validation rows).
        positives: their positives.
    """

    x: tuple[float, ...]
    y: tuple[float, ...]
    rows: float
    positives: float

    @classmethod
    def fit(cls, counts: evaluation.ScoreCounts) -> Calibration:
        """Isotonic regression of the positive share on the score, each distinct score weighed by its rows.

        Raises:
            MonitoringError: `counts` holds no rows.
        """
        from sklearn.isotonic import IsotonicRegression

        if not len(counts.score) or counts.total_rows <= 0:
            raise MonitoringError("a calibration needs scored rows: the validation counts are empty")
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        isotonic.fit(counts.score, counts.positives / counts.rows, sample_weight=counts.rows)
        return cls(
            x=tuple(float(v) for v in isotonic.X_thresholds_),
            y=tuple(float(v) for v in isotonic.y_thresholds_),
            rows=counts.total_rows,
            positives=counts.total_positives,
        )

    def probability(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated probability of each score (clipped to the first / last step point outside them)."""
        return np.interp(np.asarray(scores, dtype=float), self.x, self.y)

    def column(self, score: Column) -> Column:
        """`probability` as a Spark expression: a balanced CASE tree over the step points (log2 of their number
        comparisons per row), each leaf the linear piece between two points; null for a null score."""
        return F.when(score.isNull(), F.lit(None).cast("double")).otherwise(self._pieces(score, 0, len(self.x)))

    def _pieces(self, score: Column, low: int, high: int) -> Column:
        """Piece k is the scores from x[k-1] (included) to x[k]; piece 0 is below x[0], piece len(x) from the last
        point on. The expression for pieces low..high."""
        if low == high:
            return self._piece(score, low)
        middle = (low + high + 1) // 2
        return F.when(score < F.lit(self.x[middle - 1]), self._pieces(score, low, middle - 1)).otherwise(
            self._pieces(score, middle, high)
        )

    def _piece(self, score: Column, k: int) -> Column:
        if k == 0 or k == len(self.x):
            return F.lit(self.y[max(k - 1, 0)]).cast("double")
        slope = (self.y[k] - self.y[k - 1]) / (self.x[k] - self.x[k - 1])
        return F.lit(slope) * (score.cast("double") - F.lit(self.x[k - 1])) + F.lit(self.y[k - 1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the kind, the step points and the rows fitted on."""
        return {"kind": _KIND, "x": list(self.x), "y": list(self.y), "rows": self.rows, "positives": self.positives}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Calibration:
        """The calibration `to_dict` gave.

        Raises:
            MonitoringError: not an isotonic calibration, or step points that are not a non-decreasing map.
        """
        if values.get("kind") != _KIND or not {"x", "y", "rows", "positives"} <= set(values):
            raise MonitoringError(
                f"{CALIBRATION_ARTIFACT}: expected kind {_KIND} with x, y, rows and positives, got keys "
                f"{sorted(values)}; retrain the classifier to store a new one"
            )
        x, y = np.asarray(values["x"], dtype=float), np.asarray(values["y"], dtype=float)
        if not len(x) or len(x) != len(y) or np.any(np.diff(x) <= 0) or np.any(np.diff(y) < 0):
            raise MonitoringError(
                f"{CALIBRATION_ARTIFACT}: x must be strictly increasing and y non-decreasing, of one length "
                f"(got {len(x)} and {len(y)} points); retrain the classifier to store a new one"
            )
        if y[0] < 0 or y[-1] > 1:
            raise MonitoringError(f"{CALIBRATION_ARTIFACT}: probabilities outside [0, 1] ({y[0]} .. {y[-1]})")
        return cls(tuple(x.tolist()), tuple(y.tolist()), float(values["rows"]), float(values["positives"]))


def load_calibration(settings: Settings, run_id: str) -> Calibration | None:
    """The calibration logged with training run `run_id`, or None for a run trained before calibrations were
    stored (logged once per run: quality is then measured from labels only)."""
    registry = tracking.client(settings)
    if CALIBRATION_ARTIFACT not in {artifact.path for artifact in registry.list_artifacts(run_id)}:
        if run_id not in _warned_runs:
            _warned_runs.add(run_id)
            logger.warning(
                "training run %s has no %s (trained before calibrations were stored): no quality estimate without "
                "labels for the dates it scored; retrain the classifier to get one",
                run_id,
                CALIBRATION_ARTIFACT,
            )
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = registry.download_artifacts(run_id, CALIBRATION_ARTIFACT, folder)
        return Calibration.from_dict(json.loads(Path(path).read_text()))
