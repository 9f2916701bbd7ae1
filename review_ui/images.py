"""The server's content-addressed image store: TIFF as the station sent it, PNG made on demand for browsers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from inspection.overlay import to_bgr8

SUFFIX = ".tiff"


class ImageFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        """Stores bytes under their sha256 and returns the hash, durably: the link acknowledges an item only
        after its pictures and its row are on disk (DESIGN invariant 3), so a crash never leaves a row whose
        picture is empty or gone. Written once, atomically: a file under its final name is always whole.
        """
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha)
        if not path.exists():
            if not path.parent.exists():
                path.parent.mkdir(exist_ok=True)
                _sync_directory(self.root)
            partial = path.with_suffix(".part")
            with partial.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            partial.replace(path)
            _sync_directory(path.parent)
        return sha

    def path(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"not an image id: {sha!r}")
        return self.root / sha[:2] / f"{sha}{SUFFIX}"

    def frame_png(self, sha: str) -> bytes:
        return _png(to_bgr8(self._read(sha)))

    def heatmap_png(self, sha: str) -> bytes:
        """The defect map coloured, transparent where cold, to lie over the frame in the browser."""
        heat = self._read(sha)
        if heat.ndim == 3:
            heat = heat[:, :, 0]
        colour = cv2.applyColorMap(heat, cv2.COLORMAP_JET)
        alpha = np.clip((heat.astype(np.float32) - 38) * 1.5, 0, 200).astype(np.uint8)
        return _png(np.dstack([colour, alpha]))

    def _read(self, sha: str) -> np.ndarray:
        image = cv2.imread(str(self.path(sha)), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise FileNotFoundError(f"image {sha} is missing from {self.root}")
        return image


def _sync_directory(folder: Path) -> None:
    """A new or renamed entry is on disk only once its directory is."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()
