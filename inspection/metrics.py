"""Quality metrics of a defect model, in plain numpy."""

from __future__ import annotations

import numpy as np


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie correction); NaN if one class is absent."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def share(mask: np.ndarray, of: np.ndarray) -> float:
    """Fraction of the `of` items for which `mask` holds; NaN when there are none."""
    total = int(np.count_nonzero(of))
    return float(np.count_nonzero(mask & of) / total) if total else float("nan")


def iou(predicted: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """(intersection, union) pixel counts, so that callers can pool them over images."""
    return int(np.count_nonzero(predicted & truth)), int(np.count_nonzero(predicted | truth))
