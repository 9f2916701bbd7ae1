"""AUROC, share and IoU against hand-computed and brute-force values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspection.metrics import auroc, iou, share


def brute_force_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random defect > score of a random good part), ties counting one half."""
    pos = [float(s) for s, y in zip(scores, labels, strict=True) if y]
    neg = [float(s) for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_perfect_separation_is_one() -> None:
    assert auroc(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), np.array([0, 0, 0, 1, 1])) == 1.0


def test_reversed_separation_is_zero() -> None:
    assert auroc(np.array([0.9, 0.8, 0.3, 0.2, 0.1]), np.array([0, 0, 0, 1, 1])) == 0.0


def test_all_ties_is_one_half() -> None:
    assert auroc(np.full(7, 0.42), np.array([1, 0, 1, 0, 0, 1, 0])) == 0.5


def test_small_mixed_case_by_hand() -> None:
    # pos {0.4, 0.8}, neg {0.1, 0.4, 0.6}: 0.4 beats 0.1, ties 0.4 -> 1.5; 0.8 beats all -> 3; 4.5 / 6
    scores = np.array([0.1, 0.4, 0.4, 0.6, 0.8])
    labels = np.array([False, True, False, False, True])
    assert auroc(scores, labels) == pytest.approx(0.75)


def test_order_of_the_items_does_not_matter() -> None:
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 5, size=40) / 4
    labels = rng.random(40) < 0.4
    perm = rng.permutation(40)
    assert auroc(scores[perm], labels[perm]) == pytest.approx(auroc(scores, labels))


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_pairwise_counting_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    scores = rng.integers(0, 6, size=n) / 5.0  # few distinct values: many ties, within and across classes
    labels = rng.random(n) < 0.5
    labels[0], labels[1] = True, False  # both classes present
    expected = brute_force_auroc(scores, labels)
    assert auroc(scores, labels) == pytest.approx(expected, abs=1e-12)
    # The complement: flipping the labels mirrors the curve.
    assert auroc(scores, ~labels) == pytest.approx(1.0 - expected, abs=1e-12)


def test_matches_brute_force_on_continuous_scores() -> None:
    rng = np.random.default_rng(11)
    labels = rng.random(80) < 0.3
    labels[:2] = (True, False)
    scores = rng.normal(size=80) + labels * 0.8
    assert auroc(scores, labels) == pytest.approx(brute_force_auroc(scores, labels), abs=1e-12)


def test_accepts_lists_and_integer_labels() -> None:
    assert auroc([0.3, 0.1, 0.7], [1, 0, 0]) == pytest.approx(0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1], []])
def test_nan_when_a_class_is_missing(labels: list[int]) -> None:
    scores = np.linspace(0.0, 1.0, len(labels))
    assert math.isnan(auroc(scores, np.array(labels, dtype=int)))


def test_share_is_the_fraction_of_the_selected_items() -> None:
    mask = np.array([True, False, True, True, False, True])
    of = np.array([True, True, True, False, False, False])
    assert share(mask, of) == pytest.approx(2 / 3)
    assert share(mask, np.ones(6, dtype=bool)) == pytest.approx(4 / 6)
    assert share(np.zeros(6, dtype=bool), of) == 0.0
    assert share(of, of) == 1.0


def test_share_is_nan_when_there_is_nothing_to_share() -> None:
    assert math.isnan(share(np.ones(4, dtype=bool), np.zeros(4, dtype=bool)))


def test_iou_counts_intersection_and_union() -> None:
    predicted = np.zeros((5, 5), dtype=bool)
    truth = np.zeros((5, 5), dtype=bool)
    predicted[0:3, 0:3] = True  # 9 px
    truth[1:4, 1:4] = True  # 9 px, 4 shared
    assert iou(predicted, truth) == (4, 14)
    assert iou(truth, predicted) == (4, 14)
    assert iou(predicted, predicted) == (9, 9)
    assert iou(predicted, np.zeros_like(truth)) == (0, 9)
    assert iou(np.zeros_like(truth), np.zeros_like(truth)) == (0, 0)


def test_iou_counts_pool_over_images() -> None:
    rng = np.random.default_rng(2)
    preds = rng.random((4, 10, 10)) < 0.3
    truths = rng.random((4, 10, 10)) < 0.3
    inter = sum(iou(p, t)[0] for p, t in zip(preds, truths, strict=True))
    union = sum(iou(p, t)[1] for p, t in zip(preds, truths, strict=True))
    assert (inter, union) == (int((preds & truths).sum()), int((preds | truths).sum()))
    assert all(isinstance(v, int) for v in iou(preds[0], truths[0]))
