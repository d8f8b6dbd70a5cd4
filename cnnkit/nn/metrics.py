"""Classification metrics: confusion matrix, per-class precision/recall/F1, worst mistakes."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """(classes, classes) int64 counts: row = true class, column = predicted class."""
    index = labels.astype(np.int64) * classes + predicted.astype(np.int64)
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def per_class(confusion: np.ndarray) -> list[dict]:
    """Precision, recall, F1 and support for each class (0 where undefined)."""
    rows = []
    for k in range(confusion.shape[0]):
        tp = float(confusion[k, k])
        predicted, support = float(confusion[:, k].sum()), float(confusion[k].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": k, "precision": precision, "recall": recall, "f1": f1,
                     "support": int(support)})
    return rows


def top_mistakes(probs: np.ndarray, labels: np.ndarray, count: int) -> list[dict]:
    """The ``count`` wrong predictions made with the highest confidence."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:count]
    return [{"index": int(i), "true": int(labels[i]), "predicted": int(predicted[i]),
             "confidence": float(probs[i, predicted[i]])} for i in order]
