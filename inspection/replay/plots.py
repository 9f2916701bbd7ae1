"""The report's plots, rendered by matplotlib to PNG data URIs so the report is one file."""

from __future__ import annotations

import base64
import io

import matplotlib as mpl

mpl.use("Agg")  # no display on line PCs and CI; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from inspection.model_card import Thresholds

SERIES = (("model", "#1f5fbf"), ("challenger", "#d9822b"))


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def roc_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) sweeping the threshold from high to low."""
    order = np.argsort(-scores, kind="mergesort")
    y = labels[order]
    tpr = np.concatenate([[0.0], np.cumsum(y) / max(1, y.sum())])
    fpr = np.concatenate([[0.0], np.cumsum(~y) / max(1, (~y).sum())])
    return fpr, tpr


def pr_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) sweeping the threshold from high to low."""
    order = np.argsort(-scores, kind="mergesort")
    y = labels[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    recall = tp / max(1, y.sum())
    return recall, precision


def latency_histogram(latencies_ms: list[float]) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    values = np.asarray(latencies_ms)
    ax.hist(values, bins=60, color="#1f5fbf")
    for q, style in ((50, "-"), (99, "--")):
        v = float(np.percentile(values, q))
        ax.axvline(v, color="black", linestyle=style, linewidth=1)
        ax.annotate(f"p{q} {v:.2f} ms", (v, ax.get_ylim()[1] * 0.9), xytext=(4, 0), textcoords="offset points")
    ax.set_xlabel("per-image decision latency (ms): preprocess + model + decide")
    ax.set_ylabel("images")
    return _data_uri(fig)


def curves(models: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """ROC and precision-recall curves side by side; the challenger, if any, in a second colour."""
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(9.6, 3.8))
    for (scores, labels), (name, colour) in zip(models, SERIES, strict=False):
        fpr, tpr = roc_points(scores, labels)
        roc.plot(fpr, tpr, color=colour, label=name)
        recall, precision = pr_points(scores, labels)
        pr.plot(recall, precision, color=colour, label=name)
    roc.plot([0, 1], [0, 1], color="grey", linewidth=0.5, linestyle=":")
    roc.set(xlabel="false positive rate (good parts flagged)", ylabel="true positive rate", title="ROC")
    pr.set(xlabel="recall (defects caught)", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    for ax in (roc, pr):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is roc else "lower left")
    return _data_uri(fig)


def threshold_sweep(scores: np.ndarray, labels: np.ndarray, thresholds: Thresholds) -> str:
    """Score distributions, and escape / false-reject / review rates as the thresholds move."""
    fig, (hist, sweep) = plt.subplots(1, 2, figsize=(9.6, 3.8))
    bins = np.linspace(0.0, 1.0, 51)
    hist.hist(scores[~labels], bins=bins, alpha=0.7, color="#3a9d48", label="good")
    hist.hist(scores[labels], bins=bins, alpha=0.7, color="#c0392b", label="defect")
    hist.set_yscale("log")
    hist.set(xlabel="model score", ylabel="images (log)", title="Score by ground truth")
    grid = np.linspace(0.0, 1.0, 201)
    good, defect = scores[~labels], scores[labels]
    escape = [np.mean(defect < t) if len(defect) else np.nan for t in grid]
    false_reject = [np.mean(good >= t) if len(good) else np.nan for t in grid]
    review = [np.mean((scores >= t) & (scores < thresholds.reject_above)) for t in grid]
    sweep.plot(grid, escape, color="#c0392b", label="escape rate if pass_below = t")
    sweep.plot(grid, false_reject, color="#3a9d48", label="false-reject rate if reject_above = t")
    sweep.plot(grid, review, color="#d9822b", linestyle="--", label="review rate if pass_below = t")
    sweep.set(xlabel="threshold t", ylabel="share of parts", title="Threshold sweep", ylim=(0, 1))
    for ax in (hist, sweep):
        ax.axvspan(thresholds.pass_below, thresholds.reject_above, color="#d9822b", alpha=0.15)
        ax.axvline(thresholds.pass_below, color="black", linewidth=0.8)
        ax.axvline(thresholds.reject_above, color="black", linewidth=0.8, linestyle="--")
        ax.legend(fontsize=7)
    return _data_uri(fig)
