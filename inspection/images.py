"""Reading image files into frames, with errors that say what is wrong with the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inspection.errors import ImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


def read_image(path: Path) -> np.ndarray:
    """Mono, BGR or BGRA at 8 or 16 bits, as stored; raises `ImageError` naming the file."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror})") from None
    if data.size == 0:
        raise ImageError(f"{path}: file is empty (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"{path}: not a decodable image (truncated, or not really {path.suffix or 'an image'})")
    return image


def iter_image_files(folder: Path) -> list[Path]:
    """Image files below `folder`, sorted, skipping mask folders."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and "masks" not in p.relative_to(folder).parts
    )
