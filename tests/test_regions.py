"""Defect regions: the labelling of only the box above the threshold finds what labelling the whole map finds."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection.contracts import Region
from inspection.model_card import Roi, Thresholds
from inspection.preprocess import roi_box
from inspection.regions import find_regions

THRESHOLDS = Thresholds(version="t", pass_below=0.3, reject_above=0.7, region_threshold=0.5, min_region_px=20)
ROI = Roi(x=0.22, y=0.12666667, width=0.56, height=0.74666667)


def whole_map_regions(heatmap: np.ndarray, frame_shape: tuple[int, int], roi: Roi | None) -> list[Region]:
    """The definition, written plainly: every 8-connected component of the whole map, in frame pixels."""
    x0, y0, w, h = roi_box(roi, *frame_shape)
    sy, sx = h / heatmap.shape[0], w / heatmap.shape[1]
    binary = (heatmap >= THRESHOLDS.region_threshold).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    regions = [
        Region(
            x=round(x0 + bx * sx),
            y=round(y0 + by * sy),
            width=max(1, round(bw * sx)),
            height=max(1, round(bh * sy)),
            area_px=round(area * sx * sy, 1),
            peak=round(float(heatmap[labels == i].max()), 4),
        )
        for i, (bx, by, bw, bh, area) in enumerate(stats.tolist())
        if i > 0 and area * sx * sy >= THRESHOLDS.min_region_px
    ]
    return sorted(regions, key=lambda r: r.area_px, reverse=True)


@st.composite
def defect_maps(draw: st.DrawFn) -> np.ndarray:
    """A clean map with a few blobs of random size and strength anywhere, edges included."""
    size = draw(st.sampled_from([32, 64, 256]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    heatmap = (rng.random((size, size)) * 0.3).astype(np.float32)
    for _ in range(draw(st.integers(0, 5))):
        x, y = rng.integers(0, size, 2)
        half = rng.integers(0, size // 4 + 1, 2)
        heatmap[max(0, y - half[0]) : y + half[0] + 1, max(0, x - half[1]) : x + half[1] + 1] = rng.uniform(0.5, 1)
    return heatmap


@settings(max_examples=150, deadline=None, database=None)
@given(heatmap=defect_maps(), roi=st.sampled_from([None, ROI]))
def test_regions_equal_those_of_the_whole_map(heatmap: np.ndarray, roi: Roi | None) -> None:
    assert find_regions(heatmap, THRESHOLDS, (600, 800), roi) == whole_map_regions(heatmap, (600, 800), roi)


def test_two_blobs_far_apart_are_two_regions_in_frame_pixels() -> None:
    heatmap = np.zeros((64, 64), dtype=np.float32)
    heatmap[2:6, 3:9] = 0.8  # 4 x 6 map pixels
    heatmap[50:60, 40:44] = 0.9
    heatmap[55, 42] = 0.95
    big, small = find_regions(heatmap, THRESHOLDS, (640, 640), None)  # 10 frame px per map px
    assert (big.x, big.y, big.width, big.height, big.area_px, big.peak) == (400, 500, 40, 100, 4000.0, 0.95)
    assert (small.x, small.y, small.width, small.height, small.area_px, small.peak) == (30, 20, 60, 40, 2400.0, 0.8)


def test_a_clean_map_has_no_regions() -> None:
    assert find_regions(np.full((64, 64), 0.49, dtype=np.float32), THRESHOLDS, (600, 800), ROI) == []
