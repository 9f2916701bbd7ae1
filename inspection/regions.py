"""Defect regions: connected components of the defect map, in frame pixels."""

from __future__ import annotations

import cv2
import numpy as np

from inspection.contracts import Region
from inspection.model_card import Roi, Thresholds
from inspection.preprocess import roi_box


def find_regions(
    heatmap: np.ndarray, thresholds: Thresholds, frame_shape: tuple[int, int], roi: Roi | None
) -> list[Region]:
    """Regions above `region_threshold`, largest first, mapped back through the ROI and resize."""
    if not heatmap.size or heatmap.max() < thresholds.region_threshold:
        return []  # most parts are clean: one reduction instead of a labelling pass (same result)
    x0, y0, w, h = roi_box(roi, frame_shape[0], frame_shape[1])
    sy, sx = h / heatmap.shape[0], w / heatmap.shape[1]
    binary = (heatmap >= thresholds.region_threshold).astype(np.uint8)
    # Label only the box that holds every pixel above the threshold: OpenCV's labelling costs ~0.2 ms
    # over a whole 256x256 map, ~20 us over a defect's few hundred pixels, with the same components.
    ox, oy, bw_all, bh_all = cv2.boundingRect(binary)
    binary, heat = binary[oy : oy + bh_all, ox : ox + bw_all], heatmap[oy : oy + bh_all, ox : ox + bw_all]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    regions = []
    for i in range(1, count):
        bx, by, bw, bh, area = (int(v) for v in stats[i])
        if area * sx * sy < thresholds.min_region_px:
            continue
        box = (slice(by, by + bh), slice(bx, bx + bw))
        regions.append(
            Region(
                x=round(x0 + (ox + bx) * sx),
                y=round(y0 + (oy + by) * sy),
                width=max(1, round(bw * sx)),
                height=max(1, round(bh * sy)),
                area_px=round(area * sx * sy, 1),
                peak=round(float(heat[box][labels[box] == i].max()), 4),
            )
        )
    return sorted(regions, key=lambda r: r.area_px, reverse=True)
