"""Frame -> model input tensor, exactly as the model card says; pure numpy/OpenCV.

Crop first, then resize, then convert colour and normalise: the expensive steps then touch
the model's few pixels, not the camera's many. Buffers are kept per input shape so the hot path
allocates nothing per frame. An 8-bit frame has 256 levels, so its normalisation is a table of
256 values computed once by the same arithmetic (`_normalise`) and looked up per pixel: one pass
of cv2.LUT (~20 us) instead of three of numpy (~70 us), and the same tensor bit for bit.
"""

from __future__ import annotations

import cv2
import numpy as np

from inspection.area_resize import AreaResize
from inspection.errors import ImageError
from inspection.model_card import InputSpec, Roi

_INTERPOLATION = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}
_LEVELS = {np.dtype(np.uint8): 1.0, np.dtype(np.uint16): 255.0 / 65535.0, np.dtype(np.float32): 1.0}
_TO_GRAY = {3: cv2.COLOR_BGR2GRAY, 4: cv2.COLOR_BGRA2GRAY}
_TO_RGB = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}
_TO_BGR = {1: cv2.COLOR_GRAY2BGR, 4: cv2.COLOR_BGRA2BGR}


def roi_box(roi: Roi | None, height: int, width: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) in pixels of the ROI on a frame of this size."""
    if roi is None:
        return 0, 0, width, height
    # Round the edges, not the origin and size separately, and keep at least one pixel inside.
    x0 = min(round(roi.x * width), width - 1)
    y0 = min(round(roi.y * height), height - 1)
    x1 = min(max(round((roi.x + roi.width) * width), x0 + 1), width)
    y1 = min(max(round((roi.y + roi.height) * height), y0 + 1), height)
    return x0, y0, x1 - x0, y1 - y0


def channels_of(image: np.ndarray) -> int:
    if image.ndim == 2:
        return 1
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        return int(image.shape[2])
    raise ImageError(
        f"image of shape {image.shape} is not mono (H, W), BGR (H, W, 3) or BGRA (H, W, 4); convert it to one of these"
    )


def check_image(image: np.ndarray) -> None:
    if image.dtype not in _LEVELS:
        raise ImageError(f"image dtype {image.dtype} is not supported; use uint8, uint16 or float32")
    channels_of(image)
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ImageError(f"image of {image.shape[1]}x{image.shape[0]} px is too small to inspect")


class Preprocessor:
    """Turns frames into the model's input tensor, reusing its buffers across frames."""

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        height, width = spec.size
        self._dsize = (width, height)
        self._out = np.zeros(spec.shape, dtype=np.float32)
        self._hwc = np.zeros((height, width, spec.channels), dtype=np.float32)
        self._mean = np.asarray(spec.mean, dtype=np.float32)
        self._inv_std = 1.0 / np.asarray(spec.std, dtype=np.float32)
        # uint8 level -> normalised value per channel, shaped (256, 1, C) as cv2.LUT takes a table.
        levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], spec.channels, axis=2)
        self._table = np.empty((256, 1, spec.channels), dtype=np.float32)
        self._normalise(levels, np.dtype(np.uint8), self._table)
        self._area: AreaResize | None = None  # the exact fast INTER_AREA for the last crop size, if it fits
        self._area_judged: tuple[int, int] | None = None  # the crop size `_area` was chosen for

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Returns the input tensor; it is overwritten by the next call, so copy it to keep it."""
        check_image(image)
        x, y, w, h = roi_box(self.spec.roi, image.shape[0], image.shape[1])
        crop = image[y : y + h, x : x + w]
        small = self._resize(crop)
        small = self._convert_colour(small)
        hwc = self._hwc.reshape(small.shape) if small.ndim == 2 else self._hwc
        if small.dtype == np.uint8:
            cv2.LUT(small, self._table, dst=hwc)
        else:
            self._normalise(small, image.dtype, hwc)
        if self.spec.layout == "NCHW":
            self._out[0] = self._hwc.transpose(2, 0, 1)
        else:
            self._out[0] = self._hwc
        return self._out

    def _normalise(self, small: np.ndarray, depth: np.dtype, out: np.ndarray) -> None:
        """(level * scale - mean) / std into `out`: float32, (H, W) or (H, W, C) as `small`."""
        # In float64 then rounded, whatever `small` holds: a level gives the same value on every path.
        level = np.float64(self.spec.scale * _LEVELS[depth])
        np.multiply(small, level, out=out, dtype=np.float64, casting="unsafe")
        channels = out.reshape(out.shape[0], out.shape[1], -1)
        channels -= self._mean
        channels *= self._inv_std

    def _resize(self, crop: np.ndarray) -> np.ndarray:
        size_in = (crop.shape[0], crop.shape[1])
        if size_in != self._area_judged:  # once per crop size, not per frame (the check costs ~3 us)
            self._area_judged = size_in
            size_out = (self._dsize[1], self._dsize[0])
            fits = self.spec.interpolation == "area" and AreaResize.covers(size_in, size_out)
            self._area = AreaResize(size_in, size_out) if fits else None
        if self._area is not None and crop.dtype == np.uint8 and (crop.ndim == 2 or crop.shape[2] == 1):
            return self._area(crop.reshape(size_in))
        return cv2.resize(crop, self._dsize, interpolation=_INTERPOLATION[self.spec.interpolation])

    def _convert_colour(self, small: np.ndarray) -> np.ndarray:
        n = 1 if small.ndim == 2 else small.shape[2]
        if n == 1:
            small = small.reshape(small.shape[0], small.shape[1])
        colour = self.spec.colour
        if colour == "gray":
            return small if n == 1 else cv2.cvtColor(small, _TO_GRAY[n])
        if colour == "rgb":
            return cv2.cvtColor(small, _TO_RGB[n])
        return small if n == 3 else cv2.cvtColor(small, _TO_BGR[n])


def preprocess(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """One-off form of `Preprocessor` for tests and tools; returns a tensor it owns."""
    return Preprocessor(spec)(image).copy()
