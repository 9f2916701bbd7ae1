"""Builders of replay folders: valid frames in every supported format, and broken files of each kind."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from camera.sim import render_part

BROKEN_KINDS: dict[str, str] = {
    # kind -> text the failure reason must contain
    "truncated": "not a decodable image",
    "empty": "file is empty",
    "text": "not a decodable image",
    "tiny": "too small",
    "absurd": "beyond the 64 MP limit",
    "two_channel": "2 channels (LA) are not supported",
}


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    return bytes(data)


def absurd_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares a huge image (valid CRC) and whose data is a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat_data = zlib.compress(b"\x00" * 16)
    idat = struct.pack(">I", len(idat_data)) + b"IDAT" + idat_data + struct.pack(">I", zlib.crc32(b"IDAT" + idat_data))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat


def write_broken(folder: Path, kind: str, index: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "truncated":
        data = _png(render_part(7).image)
        path, payload = folder / f"truncated-{index}.png", data[: len(data) // 3]
    elif kind == "empty":
        path, payload = folder / f"empty-{index}.png", b""
    elif kind == "text":
        path, payload = folder / f"text-{index}.jpg", b"operator notes: camera 3 lens cleaned\n" * 20
    elif kind == "tiny":
        path, payload = folder / f"tiny-{index}.png", _png(np.full((1, 1), 128, np.uint8))
    elif kind == "absurd":
        path, payload = folder / f"absurd-{index}.png", absurd_png()
    elif kind == "two_channel":
        path = folder / f"two_channel-{index}.tif"
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((64, 64, 2), np.uint8), mode="LA").save(buffer, format="TIFF")
        payload = buffer.getvalue()
    else:
        raise ValueError(kind)
    path.write_bytes(payload)
    return path


VARIANTS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    # name -> (suffix, conversion from the renderer's mono8 frame)
    "mono8": (".png", lambda im: im),
    "mono16": (".png", lambda im: im.astype(np.uint16) * 257),
    "bgra": (".png", lambda im: cv2.cvtColor(im, cv2.COLOR_GRAY2BGRA)),
    "bgr_jpg": (".jpg", lambda im: cv2.cvtColor(im, cv2.COLOR_GRAY2BGR)),
    "bmp": (".bmp", lambda im: im),
    "tif16": (".tif", lambda im: im.astype(np.uint16) * 257),
}


def encode(image: np.ndarray, suffix: str) -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok, suffix
    return bytes(data)


def write_valid(folder: Path, count: int, distinct: int = 12, first_seed: int = 1_100_000_000) -> list[Path]:
    """`count` frames under good/ and defect/, cycling through every variant; content repeats
    every `distinct` renders so that large folders are cheap to build."""
    encoded: list[tuple[str, str, bytes]] = []
    variant_names = list(VARIANTS)
    for i in range(distinct):
        part = render_part(first_seed + i)
        label = "defect" if part.is_defective else "good"
        name = variant_names[i % len(variant_names)]
        suffix, convert = VARIANTS[name]
        encoded.append((label, f"{name}{suffix}", encode(convert(part.image), suffix)))
    paths = []
    for n in range(count):
        label, name, data = encoded[n % distinct]
        path = folder / label / f"{n:05d}-{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths
