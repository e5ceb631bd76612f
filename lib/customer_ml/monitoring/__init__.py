"""Monitoring: drift statistics and profiles from one counting pass per frame (only per-bin counts reach the driver)."""

from customer_ml.monitoring.divergence import EMPTY_BIN_EPSILON, chi_square_p, js_distance, psi
from customer_ml.monitoring.stats import (
    DriftStat,
    bin_counts,
    category_counts,
    column_drift,
    frame_drift,
    numeric_bins,
)

__all__ = [
    "EMPTY_BIN_EPSILON",
    "DriftStat",
    "bin_counts",
    "category_counts",
    "chi_square_p",
    "column_drift",
    "frame_drift",
    "js_distance",
    "numeric_bins",
    "psi",
]
