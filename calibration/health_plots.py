"""The health reference's PNG: the flat-field gain map, and the reference numbers beside it for the logbook."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # no display on line PCs and CI; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from calibration.health import HealthReference


def reference_lines(reference: HealthReference) -> list[str]:
    """The reference metrics as text, `mean ± spread`, shared by the plot and the CLI."""
    mean, spread = reference.metrics.model_dump(), reference.spread.model_dump()
    width, height = reference.image_size
    lines = [f"camera {reference.camera_serial}, {width}x{height} px, {reference.frames} frames"]
    lines += [f"{name:<11} {mean[name]:.4g} ± {spread[name]:.2g}" for name in mean]
    return lines


def health_plot(reference: HealthReference, gain: np.ndarray | None, path: Path) -> Path:
    """Writes the PNG and returns its path; without a gain map the left panel says so."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.4, 4.0), width_ratios=(1.6, 1.0))
    if gain is None:
        left.text(0.5, 0.5, "no flat field\n(calibrated with --no-flat-field)", ha="center", va="center")
        left.set_axis_off()
    else:
        norm = TwoSlopeNorm(1.0, min(float(gain.min()), 0.99), max(float(gain.max()), 1.01))  # white = no change
        shown = left.imshow(gain, cmap="RdBu_r", norm=norm)
        fig.colorbar(shown, ax=left, label="gain (frame mean / local level)")
        left.set(title=f"flat-field gain {gain.min():.2f}..{gain.max():.2f}", xlabel="x (px)", ylabel="y (px)")
    right.set_axis_off()
    right.text(
        0, 1, "\n".join([reference.id or "(unsaved)", *reference_lines(reference)]), va="top", family="monospace"
    )
    fig.savefig(path, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return path
