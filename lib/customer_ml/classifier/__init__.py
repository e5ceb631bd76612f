"""`customer-ml train-classifier`: split, class weights, features, candidate search, threshold, evaluation, MLflow.

Flow (each step logged, every figure in the MLflow run):
1. read `data.table` (its path and Delta version go to the run), label = (label column == positive value);
2. stratified train / validation / test split (exact fractions per class, deterministic by seed and id);
3. feature profile and pipeline fitted on the train rows only;
4. every enabled candidate (gbt, logistic, xgboost when installed) searched over its grid in parallel threads, each
   fit scored by PR AUC on the validation rows; the best candidate wins;
5. the decision threshold from the validation rows (target recall, or FP / FN costs);
6. evaluation on the test rows, plots, the model logged and registered, alias `challenger`, the promotion gate.

split.py holds the labelled rows and their split; candidates.py the estimators and their search; stage.py the
stage itself (`run`)."""

from __future__ import annotations

from customer_ml.classifier.candidates import (
    CandidateResult,
    available_candidates,
    importance_by_feature,
    make_estimator,
    model_stages,
    scored,
    search_candidates,
)
from customer_ml.classifier.split import (
    LABEL,
    SPLIT,
    WEIGHT,
    cap_train,
    check_both_classes,
    check_label,
    mark_split,
    parts,
    read_labelled,
    split,
    train_quota,
    with_weights,
)
from customer_ml.classifier.stage import KIND, TrainResult, choose_threshold, run, test_metrics
from customer_ml.columns import CLASSIFIER, PROBABILITY, SCORE, label_expression, score_expression

__all__ = [
    "CLASSIFIER",
    "CandidateResult",
    "KIND",
    "LABEL",
    "PROBABILITY",
    "SCORE",
    "SPLIT",
    "TrainResult",
    "WEIGHT",
    "available_candidates",
    "cap_train",
    "check_both_classes",
    "check_label",
    "choose_threshold",
    "importance_by_feature",
    "label_expression",
    "make_estimator",
    "mark_split",
    "model_stages",
    "parts",
    "read_labelled",
    "run",
    "score_expression",
    "scored",
    "search_candidates",
    "split",
    "test_metrics",
    "train_quota",
    "with_weights",
]
