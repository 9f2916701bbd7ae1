"""The picture beside a thresholds file: where the scores fall, and what each threshold would cost."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # no display on line PCs and CI; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

from calibration.thresholds import ThresholdsCalibration, split_scores

GOOD, DEFECT, REVIEW = "#3a9d48", "#c0392b", "#d9822b"


def thresholds_plot(scores: np.ndarray, labels: np.ndarray, record: ThresholdsCalibration, path: Path) -> Path:
    """Score histograms by ground truth (log counts) and the rates as the thresholds move; writes a PNG."""
    good, defect = split_scores(scores, labels)
    pb, ra = record.pass_below, record.reject_above
    fig, (hist, sweep) = plt.subplots(1, 2, figsize=(11.0, 4.0))
    bins = np.linspace(0.0, 1.0, 101)
    hist.hist(good, bins=bins, alpha=0.7, color=GOOD, label=f"good ({len(good)})")
    hist.hist(defect, bins=bins, alpha=0.7, color=DEFECT, label=f"defect ({len(defect)})")
    hist.set_yscale("log")
    hist.set(xlabel="model score", ylabel="images (log)", title="Scores by ground truth")

    grid = np.linspace(0.0, 1.0, 401)
    escape = np.mean(defect[None, :] < grid[:, None], axis=1)
    false_reject = np.mean(good[None, :] >= grid[:, None], axis=1)
    all_scores = np.concatenate([good, defect])
    review_if_pass = np.mean((all_scores[None, :] >= grid[:, None]) & (all_scores[None, :] < ra), axis=1)
    review_if_reject = np.mean((all_scores[None, :] >= pb) & (all_scores[None, :] < grid[:, None]), axis=1)
    sweep.plot(grid, escape, color=DEFECT, label="escape rate if pass_below = t")
    sweep.plot(grid, false_reject, color=GOOD, label="false-reject rate if reject_above = t")
    lower, upper = grid <= ra, grid >= pb
    sweep.plot(grid[lower], review_if_pass[lower], color=REVIEW, linestyle="--", label="review rate if pass_below = t")
    sweep.plot(
        grid[upper], review_if_reject[upper], color=REVIEW, linestyle=":", label="review rate if reject_above = t"
    )
    sweep.axhline(record.escape_rate_target, color=DEFECT, linewidth=0.6, linestyle="-.", label="escape target")
    sweep.axhline(
        record.false_reject_rate_target, color=GOOD, linewidth=0.6, linestyle="-.", label="false-reject target"
    )
    sweep.set_yscale("symlog", linthresh=0.01)
    sweep.set(xlabel="threshold t", ylabel="share (symlog)", title="Rates as a threshold moves", ylim=(0, 1.05))

    for ax in (hist, sweep):
        ax.axvspan(pb, ra, color=REVIEW, alpha=0.15, label="review band" if ax is hist else None)
        ax.axvline(pb, color="black", linewidth=0.8)
        ax.axvline(ra, color="black", linewidth=0.8, linestyle="--")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{record.id or 'thresholds'}: pass < {pb:g}, reject >= {ra:g} ({record.model_name})", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return path
