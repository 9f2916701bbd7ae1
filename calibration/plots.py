"""The pictures beside a camera calibration: where the board was seen, and which views were rejected.

Distortion is only known where corners were seen, so the coverage plot is how a reviewer judges
whether a calibration can be trusted at the edges of the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # no display on line PCs and CI; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from calibration.intrinsics import CameraCalibration

USED, REJECTED, NOT_FOUND = "#1f5fbf", "#c0392b", "#9a9a9a"


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return path


def coverage_plot(calibration: CameraCalibration, corners_per_view: Mapping[str, np.ndarray], path: Path) -> Path:
    """Detected corners of every view over the image rectangle (rejected views in red); writes a PNG."""
    width, height = calibration.image_size
    fig, ax = plt.subplots(figsize=(7.0, 7.0 * height / width + 0.6))
    ax.add_patch(Rectangle((0, 0), width, height, fill=False, edgecolor="black", linewidth=1))
    for view in sorted(calibration.views, key=lambda v: v.used):  # used views drawn last, on top
        points = corners_per_view.get(view.name)
        if points is not None and len(points):
            xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            ax.plot(xy[:, 0], xy[:, 1], ".", markersize=2, color=USED if view.used else REJECTED)
    ax.set(xlim=(-0.02 * width, 1.02 * width), ylim=(1.02 * height, -0.02 * height), aspect="equal")
    ax.set(xlabel="x (px)", ylabel="y (px)")
    used, rejected = calibration.used_views, sum(v.error_px is not None and not v.used for v in calibration.views)
    ax.set_title(
        f"{calibration.camera_serial}: corners of {used} used views, {rejected} rejected; "
        f"coverage {calibration.coverage:.0%}",
        fontsize=10,
    )
    handles = [Patch(color=USED, label="used view"), Patch(color=REJECTED, label="rejected view")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: corners matter
    return _save(fig, path)


def view_errors_plot(calibration: CameraCalibration, path: Path) -> Path:
    """Per-view RMS reprojection error as bars, the rejection limit as a line; writes a PNG."""
    views = calibration.views
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(views) + 2.0), 3.6))
    positions = np.arange(len(views))
    errors = [v.error_px if v.error_px is not None else 0.0 for v in views]
    colours = [USED if v.used else REJECTED if v.error_px is not None else NOT_FOUND for v in views]
    ax.bar(positions, errors, color=colours)
    for x, view in zip(positions, views, strict=True):
        if view.error_px is None:
            ax.annotate("no board", (x, 0), rotation=90, ha="center", va="bottom", fontsize=7, color=NOT_FOUND)
    ax.axhline(calibration.rejection_px, color="black", linestyle="--", linewidth=1)
    ax.annotate(
        f"rejection limit {calibration.rejection_px:.2f} px",
        (0, calibration.rejection_px),
        xytext=(2, 3),
        textcoords="offset points",
        fontsize=8,
    )
    ax.axhline(calibration.rms_px, color=USED, linestyle=":", linewidth=1)
    ax.set_yscale("symlog", linthresh=1.0)  # one gross outlier must not flatten the good views to nothing
    ax.set_xticks(positions, [Path(v.name).name for v in views], rotation=90, fontsize=7)
    ax.set(ylabel="RMS reprojection error (px)", title=f"Per-view error; overall RMS {calibration.rms_px:.3f} px")
    handles = [
        Patch(color=USED, label="used"),
        Patch(color=REJECTED, label="rejected"),
        Patch(color=NOT_FOUND, label="board not found"),
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    return _save(fig, path)
