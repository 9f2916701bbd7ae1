"""Names of the pixel layouts frames carry, from the numpy array that holds them."""

from __future__ import annotations

import numpy as np


def pixel_format_of(image: np.ndarray) -> str:
    channels = 1 if image.ndim == 2 else image.shape[2]
    deep = image.dtype == np.uint16
    names = {1: "Mono16" if deep else "Mono8", 3: "BGR16" if deep else "BGR8", 4: "BGRa16" if deep else "BGRa8"}
    if channels not in names:
        raise ValueError(f"no pixel format for {channels}-channel images; expected 1, 3 or 4 channels")
    return names[channels]
