"""GenICam pixel formats to numpy: one vectorised copy (or OpenCV conversion) per frame, no Python loops.

The conversion is also the copy out of the GenTL buffer: it writes into a caller-owned array (a
shared-memory ring slot), so the driver's buffer can be requeued as soon as it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Layout:
    """How a GenICam format arrives (`raw_*`) and what the station gets (`out_*`)."""

    raw_dtype: type[np.generic]
    raw_channels: int
    out_format: str  # the `Frame.pixel_format` the station sees
    out_channels: int
    shift: int = 0  # left shift that scales 10/12-bit data to the full 16-bit range
    cv_code: int | None = None  # OpenCV colour conversion, when the layout changes

    @property
    def out_dtype(self) -> type[np.generic]:
        return self.raw_dtype


# OpenCV names Bayer patterns by the second row, GenICam by the first: GenICam BayerRG is OpenCV BayerBG.
LAYOUTS: dict[str, Layout] = {
    "Mono8": Layout(np.uint8, 1, "Mono8", 1),
    "Mono10": Layout(np.uint16, 1, "Mono16", 1, shift=6),
    "Mono12": Layout(np.uint16, 1, "Mono16", 1, shift=4),
    "Mono16": Layout(np.uint16, 1, "Mono16", 1),
    "RGB8": Layout(np.uint8, 3, "BGR8", 3, cv_code=cv2.COLOR_RGB2BGR),
    "BGR8": Layout(np.uint8, 3, "BGR8", 3),
    "RGBa8": Layout(np.uint8, 4, "BGRa8", 4, cv_code=cv2.COLOR_RGBA2BGRA),
    "BGRa8": Layout(np.uint8, 4, "BGRa8", 4),
    "BayerRG8": Layout(np.uint8, 1, "BGR8", 3, cv_code=cv2.COLOR_BayerBG2BGR),
    "BayerGB8": Layout(np.uint8, 1, "BGR8", 3, cv_code=cv2.COLOR_BayerGR2BGR),
    "BayerGR8": Layout(np.uint8, 1, "BGR8", 3, cv_code=cv2.COLOR_BayerGB2BGR),
    "BayerBG8": Layout(np.uint8, 1, "BGR8", 3, cv_code=cv2.COLOR_BayerRG2BGR),
}


class UnsupportedPixelFormatError(ValueError):
    def __init__(self, pixel_format: str) -> None:
        super().__init__(
            f"pixel format {pixel_format!r} is not supported; supported: {', '.join(LAYOUTS)}. "
            "Set camera.pixel_format to one of them (and that the camera offers)."
        )


def layout_of(pixel_format: str) -> Layout:
    try:
        return LAYOUTS[pixel_format]
    except KeyError:
        raise UnsupportedPixelFormatError(pixel_format) from None


def output_shape(layout: Layout, height: int, width: int) -> tuple[int, ...]:
    return (height, width) if layout.out_channels == 1 else (height, width, layout.out_channels)


def convert(raw: np.ndarray, layout: Layout, height: int, width: int, out: np.ndarray) -> None:
    """Write one frame from the driver's raw bytes into `out` (shape `output_shape`, dtype `out_dtype`)."""
    expected = height * width * layout.raw_channels * np.dtype(layout.raw_dtype).itemsize
    if raw.nbytes < expected:
        raise ValueError(f"buffer holds {raw.nbytes} bytes; a {width}x{height} frame needs {expected}")
    flat = raw.reshape(-1).view(np.uint8)[:expected].view(layout.raw_dtype)
    src = flat.reshape((height, width) if layout.raw_channels == 1 else (height, width, layout.raw_channels))
    if layout.cv_code is not None:
        cv2.cvtColor(src, layout.cv_code, dst=out)
    elif layout.shift:
        np.left_shift(src, layout.shift, out=out)
    else:
        np.copyto(out, src)
