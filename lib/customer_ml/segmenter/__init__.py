"""The segmenter: `run` (the train-segmenter stage), k selection and stability, profiles and names.

selection.py chooses k and measures stability; profiles.py profiles and names segments (pure over a DataFrame);
fit.py measures how far customers sit from their segment's centre; stage.py runs the stage (read, fit, profile,
log, register, promote).
"""

from __future__ import annotations

from customer_ml.columns import MEAN_DISTANCE, SEGMENT_ID, SEGMENT_MIX, SEGMENT_NAME
from customer_ml.segmenter.fit import model_fit
from customer_ml.segmenter.profiles import (
    PROFILE_COLUMNS,
    level_profiles,
    name_segments,
    numeric_profiles,
    segment_profiles,
)
from customer_ml.segmenter.selection import KScan, choose_k, elbow_k, fit_best, kmeans, scan_k, stability_ari
from customer_ml.segmenter.stage import CLUSTER, KIND, SegmentResult, decide, run

__all__ = [
    "CLUSTER",
    "KIND",
    "MEAN_DISTANCE",
    "PROFILE_COLUMNS",
    "SEGMENT_ID",
    "SEGMENT_MIX",
    "SEGMENT_NAME",
    "KScan",
    "SegmentResult",
    "choose_k",
    "decide",
    "elbow_k",
    "fit_best",
    "kmeans",
    "level_profiles",
    "model_fit",
    "name_segments",
    "numeric_profiles",
    "run",
    "scan_k",
    "segment_profiles",
    "stability_ari",
]
