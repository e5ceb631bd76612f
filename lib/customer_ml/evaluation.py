"""Binary classifier evaluation from (score, label) rows: curves, AUCs, thresholds, deciles.

Spark does one aggregation (positives and rows per distinct score, scores rounded to 1e-6 so there are at most a
million of them) and everything else is exact arithmetic on that small table on the driver, so the threshold, the
confusion matrix and the decile tables all agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SCORE_DECIMALS = 6


@dataclass(frozen=True)
class ScoreCounts:
    """Distinct scores in decreasing order with their positives and rows (and weighted score sums)."""

    score: np.ndarray
    positives: np.ndarray
    rows: np.ndarray

    @property
    def total_positives(self) -> float:
        return float(self.positives.sum())

    @property
    def total_rows(self) -> float:
        return float(self.rows.sum())


@dataclass(frozen=True)
class Threshold:
    """A decision threshold (predict positive when score >= value) and what it gives on the rows it was chosen on."""

    value: float
    method: str
    recall: float
    precision: float
    predicted_positive_share: float


def score_counts(df: DataFrame, score: str, label: str) -> ScoreCounts:
    """Aggregate a (score, 0/1 label) frame by score on Spark; the result is at most ~1e6 small rows."""
    rows = (
        df.select(
            F.round(F.col(score).cast("double"), SCORE_DECIMALS).alias("s"), F.col(label).cast("double").alias("y")
        )
        .groupBy("s")
        .agg(F.sum("y").alias("p"), F.count(F.lit(1)).alias("n"))
        .toPandas()
    )
    return counts_from_pandas(rows.rename(columns={"s": "score", "p": "positives", "n": "rows"}))


def counts_from_pandas(frame: pd.DataFrame) -> ScoreCounts:
    """ScoreCounts from a pandas frame with columns score, positives, rows (any order, scores may repeat)."""
    grouped = frame.groupby("score", sort=True)[["positives", "rows"]].sum().iloc[::-1]
    return ScoreCounts(
        score=grouped.index.to_numpy(dtype=float),
        positives=grouped["positives"].to_numpy(dtype=float),
        rows=grouped["rows"].to_numpy(dtype=float),
    )


def curve(counts: ScoreCounts) -> pd.DataFrame:
    """One row per distinct score (as threshold): true/false positives, recall, precision, false positive rate."""
    tp = np.cumsum(counts.positives)
    predicted = np.cumsum(counts.rows)
    fp = predicted - tp
    negatives = counts.total_rows - counts.total_positives
    return pd.DataFrame(
        {
            "threshold": counts.score,
            "tp": tp,
            "fp": fp,
            "predicted": predicted,
            "recall": tp / counts.total_positives if counts.total_positives else np.zeros_like(tp),
            "precision": tp / predicted,
            "fpr": fp / negatives if negatives else np.zeros_like(fp),
        }
    )


def roc_auc(counts: ScoreCounts) -> float:
    """Area under the ROC curve (trapezoids between distinct scores: ties count one half)."""
    points = curve(counts)
    fpr = np.concatenate([[0.0], points["fpr"].to_numpy()])
    tpr = np.concatenate([[0.0], points["recall"].to_numpy()])
    return float(np.trapezoid(tpr, fpr))


def pr_auc(counts: ScoreCounts) -> float:
    """Area under the precision-recall curve, as Spark's BinaryClassificationMetrics computes it (trapezoids,
    starting at recall 0 with the first point's precision)."""
    points = curve(counts)
    recall = np.concatenate([[0.0], points["recall"].to_numpy()])
    precision = np.concatenate([[points["precision"].iloc[0]], points["precision"].to_numpy()])
    return float(np.trapezoid(precision, recall))


def threshold_for_recall(counts: ScoreCounts, target: float) -> Threshold:
    """The highest threshold whose recall reaches `target` (so the best precision among those that do)."""
    points = curve(counts)
    reaching = points[points["recall"] >= target - 1e-12]
    row = reaching.iloc[0] if len(reaching) else points.iloc[-1]
    return _threshold(row, "recall", counts)


def threshold_for_cost(counts: ScoreCounts, fp_cost: float, fn_cost: float) -> Threshold:
    """The threshold with the lowest total cost fp_cost * FP + fn_cost * FN (the highest such on ties)."""
    points = curve(counts)
    cost = fp_cost * points["fp"] + fn_cost * (counts.total_positives - points["tp"])
    return _threshold(points.iloc[int(np.argmin(cost.to_numpy()))], "cost", counts)


def confusion(counts: ScoreCounts, threshold: float) -> dict[str, float]:
    """Confusion matrix and recall / precision / F1 / accuracy when predicting positive for score >= threshold."""
    chosen = counts.score >= round(threshold, SCORE_DECIMALS) - 1e-12
    tp = float(counts.positives[chosen].sum())
    predicted = float(counts.rows[chosen].sum())
    fp = predicted - tp
    fn = counts.total_positives - tp
    tn = counts.total_rows - predicted - fn
    recall = tp / (tp + fn) if tp + fn else 0.0
    precision = tp / predicted if predicted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "accuracy": (tp + tn) / counts.total_rows,
    }


def deciles(counts: ScoreCounts, buckets: int = 10) -> pd.DataFrame:
    """Rows ranked by score cut into equal buckets (ties split pro rata): positives, rate, mean score, lift,
    cumulative gain (share of all positives found down to this bucket) and calibration (mean score vs rate)."""
    rows_cum = np.concatenate([[0.0], np.cumsum(counts.rows)])
    pos_cum = np.concatenate([[0.0], np.cumsum(counts.positives)])
    score_cum = np.concatenate([[0.0], np.cumsum(counts.rows * counts.score)])
    edges = np.linspace(0.0, counts.total_rows, buckets + 1)
    positives = np.diff(np.interp(edges, rows_cum, pos_cum))
    score_sum = np.diff(np.interp(edges, rows_cum, score_cum))
    size = np.diff(edges)
    base_rate = counts.total_positives / counts.total_rows
    rate = positives / size
    return pd.DataFrame(
        {
            "decile": np.arange(1, buckets + 1),
            "rows": size,
            "positives": positives,
            "positive_rate": rate,
            "mean_score": score_sum / size,
            "lift": rate / base_rate if base_rate else np.nan,
            "cumulative_gain": np.cumsum(positives) / counts.total_positives if counts.total_positives else np.nan,
        }
    )


def _threshold(row: pd.Series, method: str, counts: ScoreCounts) -> Threshold:
    return Threshold(
        value=float(row["threshold"]),
        method=method,
        recall=float(row["recall"]),
        precision=float(row["precision"]),
        predicted_positive_share=float(row["predicted"] / counts.total_rows),
    )
