"""A golden check kept on disk: the JSON report, and a picture of every score against its threshold."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # no display on line PCs and CI; must precede pyplot
import matplotlib.pyplot as plt

from calibration.golden_set import GoldenReport


def golden_plot(report: GoldenReport, pass_below: float, reject_above: float, path: Path) -> Path:
    rows = sorted(report.judgements, key=lambda j: (j.expected, j.image))
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.28 * len(rows) + 1.2)))
    ax.axvspan(pass_below, reject_above, color="#f2c14e", alpha=0.25, label="review band")
    ax.axvline(pass_below, color="#3a7d44", linestyle="--", linewidth=1)
    ax.axvline(reject_above, color="#c0392b", linestyle="--", linewidth=1)
    for y, j in enumerate(rows):
        score = 1.0 if j.score is None else j.score
        colour = "#3a7d44" if j.expected == "pass" else "#c0392b"
        ax.scatter([score], [y], color=colour, marker="o" if j.ok else "X", s=60 if j.ok else 110, zorder=3)
    ax.set_yticks(range(len(rows)), [f"{j.image} ({j.expected})" for j in rows], fontsize=8)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("model score (X: misjudged)")
    ax.set_title(f"golden samples: {report.summary()}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=96)
    plt.close(fig)
    return path


def save_report(report: GoldenReport, folder: Path, pass_below: float, reject_above: float) -> tuple[Path, Path]:
    """Writes `golden-<utc>.json` and its PNG; every check is kept, passed or not."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = "golden-" + report.utc.replace(":", "").replace("-", "").replace(".", "")
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return path, golden_plot(report, pass_below, reject_above, folder / f"{stem}.png")
