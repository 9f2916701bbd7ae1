"""Image archives of rendered parts on disk, for replay benchmarks and demos."""

from __future__ import annotations

from pathlib import Path

import cv2

from camera.sim.scene import render_part


def write_archive(
    folder: Path, count: int, distinct: int = 50, first_seed: int = 1_300_000_000, suffix: str = ".png"
) -> None:
    """`count` labelled frames (good/, defect/); content repeats every `distinct` renders, which
    keeps very large archives cheap to build while every file is still decoded and decided."""
    encoded: list[tuple[str, bytes]] = []
    for i in range(distinct):
        part = render_part(first_seed + i)
        # TIFF as the station's image store and `camera record` write it: uncompressed.
        params = [cv2.IMWRITE_TIFF_COMPRESSION, 1] if suffix in (".tif", ".tiff") else []
        ok, data = cv2.imencode(suffix, part.image, params)
        assert ok, suffix
        encoded.append(("defect" if part.is_defective else "good", data.tobytes()))
    for label in ("good", "defect"):
        (folder / label).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        label, payload = encoded[n % distinct]
        (folder / label / f"{n:06d}{suffix}").write_bytes(payload)
