"""PNG plots for the MLflow runs (matplotlib, headless). Each function writes one file and returns its path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def roc_plot(points: pd.DataFrame, auc: float, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(np.r_[0, points["fpr"]], np.r_[0, points["recall"]], label=f"model (AUC {auc:.3f})")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    axis.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC")
    axis.legend(loc="lower right")
    return _save(figure, path)


def pr_plot(points: pd.DataFrame, auc: float, base_rate: float, threshold: Mapping[str, float], path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(points["recall"], points["precision"], label=f"model (PR AUC {auc:.3f})")
    axis.axhline(base_rate, linestyle="--", color="grey", label=f"base rate {base_rate:.3f}")
    axis.scatter([threshold["recall"]], [threshold["precision"]], color="red", zorder=3, label="decision threshold")
    axis.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    axis.legend(loc="upper right")
    return _save(figure, path)


def gain_plot(table: pd.DataFrame, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(5, 5))
    share = table["decile"] / len(table)
    axis.plot(np.r_[0, share], np.r_[0, table["cumulative_gain"]], marker="o", label="model")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    axis.set(xlabel="share of customers (by score)", ylabel="share of positives found", title="Cumulative gain")
    axis.legend(loc="lower right")
    return _save(figure, path)


def lift_plot(table: pd.DataFrame, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.bar(table["decile"], table["lift"])
    axis.axhline(1.0, linestyle="--", color="grey")
    axis.set(xlabel="decile (1 = highest scores)", ylabel="lift", title="Lift by decile", xticks=table["decile"])
    return _save(figure, path)


def calibration_plot(table: pd.DataFrame, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(table["mean_score"], table["positive_rate"], marker="o", label="deciles")
    top = float(max(table["mean_score"].max(), table["positive_rate"].max(), 0.01))
    axis.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    axis.set(xlabel="mean score", ylabel="observed positive rate", title="Calibration by decile")
    axis.legend(loc="upper left")
    return _save(figure, path)


def confusion_plot(matrix: Mapping[str, float], threshold: float, path: Path) -> Path:
    values = np.array([[matrix["tn"], matrix["fp"]], [matrix["fn"], matrix["tp"]]])
    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.imshow(values, cmap="Blues")
    for (row, column), value in np.ndenumerate(values):
        axis.text(column, row, f"{value:,.0f}", ha="center", va="center", color="black")
    axis.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["predicted 0", "predicted 1"],
        yticklabels=["actual 0", "actual 1"],
        title=f"Confusion at threshold {threshold:.3f}",
    )
    return _save(figure, path)


def importance_plot(importances: Mapping[str, float], path: Path, title: str = "Feature importance") -> Path:
    names = list(importances)[::-1]
    figure, axis = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
    axis.barh(names, [importances[n] for n in names])
    axis.set(xlabel="importance (share)", title=title)
    return _save(figure, path)


def elbow_plot(
    ks: Sequence[int], inertia: Sequence[float], silhouette: Sequence[float], chosen: int, path: Path
) -> Path:
    figure, left = plt.subplots(figsize=(6, 4))
    left.plot(ks, inertia, marker="o", color="tab:blue")
    left.set(xlabel="k", ylabel="inertia (within-cluster sum of squares)", title=f"Elbow and silhouette (k = {chosen})")
    right = left.twinx()
    right.plot(ks, silhouette, marker="s", color="tab:orange")
    right.set_ylabel("silhouette", color="tab:orange")
    left.axvline(chosen, linestyle="--", color="grey")
    return _save(figure, path)


def scatter_plot(points: pd.DataFrame, names: Mapping[int, str], path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(7, 6))
    for segment, group in points.groupby("segment"):
        axis.scatter(group["pc1"], group["pc2"], s=4, alpha=0.5, label=names.get(int(segment), str(segment)))
    axis.set(xlabel="PC 1", ylabel="PC 2", title="Segments (2-D PCA of a sample)")
    axis.legend(markerscale=4, fontsize=7, loc="best")
    return _save(figure, path)


def strongest_columns(z_scores: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The `limit` columns with the largest |z| in any row (ties: the earlier column), in their original order."""
    strength = z_scores.abs().max(axis=0).fillna(0.0)
    kept = set(strength.sort_values(ascending=False, kind="stable").index[:limit])
    return z_scores[[c for c in z_scores.columns if c in kept]]


def heatmap_plot(z_scores: pd.DataFrame, path: Path, max_features: int = 30) -> Path:
    """Segments (rows) by features (columns), coloured by z; only the `max_features` most distinguishing features,
    so categorical levels do not crowd the plot."""
    z_scores = strongest_columns(z_scores, max_features)
    figure, axis = plt.subplots(figsize=(0.5 * z_scores.shape[1] + 3, 0.5 * z_scores.shape[0] + 2))
    limit = float(np.nanmax(np.abs(z_scores.to_numpy()))) or 1.0
    image = axis.imshow(z_scores.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axis.set_xticks(range(z_scores.shape[1]), z_scores.columns, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(z_scores.shape[0]), z_scores.index, fontsize=8)
    axis.set_title("Segment profiles (z-score of the segment mean or level share)")
    figure.colorbar(image, ax=axis)
    return _save(figure, path)


def psi_plot(values: Mapping[str, float], warn: float, alert: float, title: str, path: Path) -> Path:
    """PSI per feature, largest first, with the warn and alert levels drawn."""
    ordered = sorted(values.items(), key=lambda item: item[1])
    figure, axis = plt.subplots(figsize=(7, max(3, 0.3 * len(ordered) + 1)))
    colours = ["tab:red" if v >= alert else "tab:orange" if v >= warn else "tab:blue" for _, v in ordered]
    axis.barh([name for name, _ in ordered], [v for _, v in ordered], color=colours)
    axis.axvline(warn, linestyle="--", color="tab:orange", label=f"warn {warn}")
    axis.axvline(alert, linestyle="--", color="tab:red", label=f"alert {alert}")
    axis.set(xlabel="population stability index (PSI, unitless)", ylabel="feature", title=title)
    axis.legend(loc="lower right")
    return _save(figure, path)


REFERENCE_COLOUR, CURRENT_COLOUR = "tab:grey", "tab:blue"


def score_distribution_plot(current: np.ndarray, reference: np.ndarray | None, title: str, path: Path) -> Path:
    """Share of customers per twentieth of the score, current against the reference (when there is one)."""
    bins = len(current)
    centres = (np.arange(bins) + 0.5) / bins
    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.4 / bins
    axis.bar(
        centres + width / 2, current / max(current.sum(), 1), width=width, color=CURRENT_COLOUR, label="this score date"
    )
    if reference is not None:
        shares = reference / max(reference.sum(), 1)
        axis.bar(centres - width / 2, shares, width=width, color=REFERENCE_COLOUR, label="training test rows")
    axis.set(xlabel="score (probability of the positive class)", ylabel="share of customers", title=title)
    axis.legend(loc="upper right")
    return _save(figure, path)


def segment_mix_plot(reference: Mapping[str, float], current: Mapping[str, float], title: str, path: Path) -> Path:
    """Share of customers per segment, the segmenter's training rows against this score date."""
    names = sorted(set(reference) | set(current), key=lambda n: -reference.get(n, 0.0))
    positions = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(7, 4))
    shares = [reference.get(n, 0.0) for n in names]
    axis.bar(positions - 0.2, shares, width=0.4, color=REFERENCE_COLOUR, label="segmenter training rows")
    shares = [current.get(n, 0.0) for n in names]
    axis.bar(positions + 0.2, shares, width=0.4, color=CURRENT_COLOUR, label="this score date")
    axis.set_xticks(positions, names, rotation=20, ha="right")
    axis.set(xlabel="segment", ylabel="share of customers", title=title)
    axis.legend(loc="upper right")
    return _save(figure, path)


def quality_plot(history: Sequence[tuple], path: Path) -> Path:
    """ROC AUC per score date (measured from labels, or estimated), with the training run's test figure."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for source, marker in (("measured", "o"), ("estimated", "s")):
        points = [(row[0], row[2]) for row in history if row[1] == source]
        if points:
            label = "measured from outcomes" if source == "measured" else "estimated from the scores (CBPE)"
            axis.plot(
                *zip(*points, strict=True), marker=marker, linestyle="-" if source == "measured" else ":", label=label
            )
    trained = [row[3] for row in history if row[3] is not None]
    if trained:
        axis.axhline(trained[-1], linestyle="--", color="grey", label=f"training test ROC AUC {trained[-1]:.3f}")
    dates = [row[0] for row in history]
    axis.set_xlim(min(dates) - dt.timedelta(days=20), max(dates) + dt.timedelta(days=20))
    axis.set(xlabel="score date", ylabel="ROC AUC", title="Model quality over score dates")
    axis.legend(loc="best")
    figure.autofmt_xdate()
    return _save(figure, path)
