"""Reading image files into frames, with errors that say what is wrong with the file.

The header is checked before decoding (Pillow reads it without touching the pixels), so a file
that declares absurd dimensions is refused instead of allocating gigabytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from inspection.errors import ImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
MAX_PIXELS = 64_000_000  # far above any line camera; far below what would exhaust memory
SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def check_header(data: bytes | np.ndarray, path: Path) -> None:
    try:
        with Image.open(io.BytesIO(bytes(data))) as header:
            width, height = header.size
            bands, mode = header.getbands(), header.mode
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{path}: header declares an image beyond the {MAX_PIXELS // 1_000_000} MP limit ({exc})"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return  # let the decoder give its own verdict on files Pillow cannot parse
    if width * height > MAX_PIXELS or width <= 0 or height <= 0:
        raise ImageError(
            f"{path}: header declares {width}x{height} px, beyond the {MAX_PIXELS // 1_000_000} MP limit "
            "(corrupt header, or not a camera frame)"
        )
    # OpenCV would quietly drop or invent channels here (grey+alpha), or read CMYK as BGRA.
    if len(bands) == 2 or mode == "CMYK":
        raise ImageError(f"{path}: {len(bands)} channels ({mode}) are not supported; store mono, RGB or RGBA frames")


def decode_image(data: bytes | np.ndarray, path: Path) -> np.ndarray:
    """Mono, BGR or BGRA at 8 or 16 bits, as stored; raises `ImageError` naming the file."""
    if len(data) == 0:
        raise ImageError(f"{path}: file is empty (0 bytes)")
    check_header(data, path)
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"{path}: the decoder refused it ({exc.err})") from None
    if image is None:
        raise ImageError(f"{path}: not a decodable image (truncated, or not really {path.suffix or 'an image'})")
    if image.dtype not in SUPPORTED_DTYPES:
        raise ImageError(f"{path}: {image.dtype} pixels are not supported; store frames as 8- or 16-bit integers")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        raise ImageError(f"{path}: {channels} channels are not supported; use mono, BGR or BGRA")
    if min(image.shape[:2]) < 16:
        raise ImageError(f"{path}: {image.shape[1]}x{image.shape[0]} px is too small to be a camera frame")
    return image


def read_image(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror})") from None
    return decode_image(data, path)


def walk_image_files(folder: Path) -> Iterator[Path]:
    """Image files below `folder` in a stable order, streamed; mask folders are skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "masks")
        for name in sorted(files):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(root) / name


def iter_image_files(folder: Path) -> list[Path]:
    return list(walk_image_files(folder))
