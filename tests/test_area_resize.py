"""The fast INTER_AREA reduction gives OpenCV's result bit for bit, and the model's tensor does not move."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.sim import render_part
from inspection.area_resize import AreaResize, area_weights
from inspection.config import StationConfig
from inspection.factory import load_runtime
from inspection.preprocess import Preprocessor, roi_box


def test_weights_of_a_7_to_4_reduction_are_the_pixel_overlaps() -> None:
    # Output pixel 1 spans input [1.75, 3.5): a quarter of pixel 1, all of pixel 2, half of pixel 3.
    expected = [[4, 3, 0, 0, 0, 0, 0], [0, 1, 4, 2, 0, 0, 0], [0, 0, 0, 2, 4, 1, 0], [0, 0, 0, 0, 0, 3, 4]]
    np.testing.assert_array_equal(area_weights(448, 256), expected)
    assert (area_weights(45, 25).sum(axis=1) == 9).all()


@pytest.mark.parametrize(
    ("size_in", "size_out", "covered"),
    [
        ((448, 448), (256, 256), True),
        ((300, 500), (100, 300), True),  # whole factor 3 down, 5/3 across
        ((600, 800), (256, 256), False),  # 75/32: a period too long to be cheap
        ((128, 128), (64, 64), False),  # an even period can fall on a rounding tie
        ((64, 64), (128, 128), False),  # enlargements are not area averages
        ((256, 256), (256, 256), False),
    ],
)
def test_covers_only_exact_and_cheap_reductions(
    size_in: tuple[int, int], size_out: tuple[int, int], covered: bool
) -> None:
    assert AreaResize.covers(size_in, size_out) is covered


@st.composite
def reductions(draw: st.DrawFn) -> tuple[tuple[int, int], tuple[int, int]]:
    sizes = []
    for _ in range(2):
        p = draw(st.sampled_from([3, 5, 7, 9, 11, 15]))
        q = draw(st.integers(1, p - 1))
        blocks = draw(st.integers(1, 40))
        sizes.append((blocks * p, blocks * q))
    (h_in, h_out), (w_in, w_out) = sizes
    return (h_in, w_in), (h_out, w_out)


@settings(max_examples=60, deadline=None, database=None)
@given(sizes=reductions(), seed=st.integers(0, 2**32 - 1))
def test_equals_opencv_inter_area_bit_for_bit(sizes: tuple[tuple[int, int], tuple[int, int]], seed: int) -> None:
    size_in, size_out = sizes
    if not AreaResize.covers(size_in, size_out):
        return  # a reduced ratio with an even period, e.g. 9/6 -> 3/2
    image = np.random.default_rng(seed).integers(0, 256, size_in, dtype=np.uint8)
    image[0, 0], image[-1, -1] = 0, 255  # the extremes, where a wrong scale shows first
    expected = cv2.resize(image, size_out[::-1], interpolation=cv2.INTER_AREA)
    got = AreaResize(size_in, size_out)(image)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def reference_tensor(image: np.ndarray, preprocessor: Preprocessor) -> np.ndarray:
    """The model card's preprocessing written plainly with cv2.resize, as the model was trained."""
    spec = preprocessor.spec
    x, y, w, h = roi_box(spec.roi, image.shape[0], image.shape[1])
    small = cv2.resize(image[y : y + h, x : x + w], spec.size[::-1], interpolation=cv2.INTER_AREA)
    scaled = np.empty(small.shape, dtype=np.float32)
    np.multiply(small, spec.scale, out=scaled, casting="unsafe")
    scaled -= np.asarray(spec.mean, dtype=np.float32)
    scaled *= 1.0 / np.asarray(spec.std, dtype=np.float32)
    return scaled


def test_bundled_models_tensor_is_unchanged_bit_for_bit() -> None:
    preprocessor = load_runtime(StationConfig().with_model(verify_golden=False)).preprocess
    for seed in range(6):
        image = render_part(9_100_000 + seed, defective=seed % 2 == 0).image
        tensor = preprocessor(image)
        assert preprocessor._area is not None, "the bundled model's 448 -> 256 crop takes the fast path"
        np.testing.assert_array_equal(tensor[0, 0], reference_tensor(image, preprocessor))
