"""Detection-quality figures and threshold choices, shared by training and evaluation."""

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


def measure(y_true, proba, threshold: float | None = None) -> dict:
    """Rows, positives, ROC-AUC and average precision; F1, precision, recall and macro-F1 (the
    mean of both classes' F1) at ``threshold``."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    both_classes = 0 < y_true.sum() < len(y_true)
    result = {
        "rows": int(len(y_true)),
        "positives": int(y_true.sum()),
        "roc_auc": round(float(roc_auc_score(y_true, proba)), 4) if both_classes else None,
        "average_precision": round(float(average_precision_score(y_true, proba)), 4)
        if both_classes else None,
    }
    if threshold is not None:
        predicted = (proba >= threshold).astype(int)
        for metric, func in (("f1", f1_score), ("precision", precision_score),
                             ("recall", recall_score)):
            result[metric] = round(float(func(y_true, predicted, zero_division=0)), 4)
        result["macro_f1"] = round(float(f1_score(y_true, predicted, average="macro",
                                                  labels=[0, 1], zero_division=0)), 4)
    return result


def best_f1_threshold(y_true, proba) -> float:
    """The probability threshold that maximises F1."""
    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[np.argmax(f1[:-1])])


def precision_threshold(y_true, proba, precision: float, floor: float = 0.0) -> float | None:
    """The lowest threshold ≥ ``floor`` whose precision reaches ``precision`` (None if none)."""
    precisions, _, thresholds = precision_recall_curve(y_true, proba)
    ok = (precisions[:-1] >= precision) & (thresholds >= floor)
    return float(thresholds[ok].min()) if ok.any() else None


def describe(y_true, proba, threshold: float) -> dict:
    """Everything ``measure`` gives at ``threshold``, plus the Brier score and the confusion
    matrix (counts; positive = 1)."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    predicted = (proba >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, predicted, labels=[0, 1]).ravel().tolist()
    return {
        **measure(y_true, proba, threshold),
        "brier": round(float(brier_score_loss(y_true, proba, pos_label=1)), 4),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }
