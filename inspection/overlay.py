"""Pictures of a decision for people: the part with its defect map and region boxes."""

from __future__ import annotations

import cv2
import numpy as np

from inspection.contracts import Decision
from inspection.model_card import Roi
from inspection.preprocess import roi_box

VERDICT_COLOURS = {
    "pass": (80, 200, 80),
    "reject": (60, 60, 230),
    "uncertain": (0, 190, 255),
    "failsafe": (230, 80, 230),
}


def to_bgr8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    return image[:, :, :3].copy() if image.shape[2] == 4 else image.copy()


def overlay(
    image: np.ndarray, decision: Decision, heatmap: np.ndarray | None, roi: Roi | None, width: int = 320
) -> np.ndarray:
    """The ROI of the frame, the heatmap blended where it is hot, boxes, scaled to `width`."""
    x, y, w, h = roi_box(roi, image.shape[0], image.shape[1])
    view = to_bgr8(image)[y : y + h, x : x + w]
    if heatmap is not None and heatmap.size:
        heat = cv2.resize(np.clip(heatmap, 0.0, 1.0).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = np.clip((heat - 0.15) * 1.5, 0.0, 0.6)[..., None]
        view = (view * (1 - alpha) + colour * alpha).astype(np.uint8)
    scale = width / w
    view = cv2.resize(view, (width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    colour = VERDICT_COLOURS.get(decision.verdict, (255, 255, 255))
    for r in decision.regions:
        p0 = (round((r.x - x) * scale) - 3, round((r.y - y) * scale) - 3)
        p1 = (round((r.x - x + r.width) * scale) + 3, round((r.y - y + r.height) * scale) + 3)
        cv2.rectangle(view, p0, p1, colour, 1, cv2.LINE_AA)
    label = f"{decision.verdict} {decision.score:.3f}" if decision.score is not None else decision.verdict
    cv2.putText(view, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return view
