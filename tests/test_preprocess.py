"""Frame -> model input tensor: shapes, colour equivalence, ROI, normalisation, buffers, bad images."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection.errors import ImageError
from inspection.model_card import InputSpec, Roi
from inspection.preprocess import Preprocessor, preprocess, roi_box

GRAY_MEAN, GRAY_STD = 0.45, 0.22
RGB_MEAN, RGB_STD = (0.40, 0.50, 0.60), (0.20, 0.25, 0.30)


def gray_spec(roi: Roi | None = None, interpolation: str = "area") -> InputSpec:
    return InputSpec.model_validate(
        {
            "name": "image",
            "shape": (1, 1, 64, 64),
            "layout": "NCHW",
            "colour": "gray",
            "mean": (GRAY_MEAN,),
            "std": (GRAY_STD,),
            "roi": roi,
            "interpolation": interpolation,
        }
    )


def rgb_spec(roi: Roi | None = None) -> InputSpec:
    return InputSpec(
        name="image", shape=(1, 64, 64, 3), layout="NHWC", colour="rgb", mean=RGB_MEAN, std=RGB_STD, roi=roi
    )


@pytest.fixture
def mono() -> np.ndarray:
    """A smooth 8-bit mono frame with structure at the scale of the model input."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(150, 200), dtype=np.uint8)
    blurred = cv2.GaussianBlur(noise, (0, 0), 4).astype(np.float64)
    stretched = 10 + (blurred - blurred.min()) * 235 / (blurred.max() - blurred.min())
    return np.asarray(np.rint(stretched), dtype=np.uint8)


# --- shapes and dtype ------------------------------------------------------------------------------


@pytest.mark.parametrize("frame_shape", [(150, 200), (150, 200, 1), (150, 200, 3), (150, 200, 4), (64, 64), (7, 500)])
@pytest.mark.parametrize("make_spec", [gray_spec, rgb_spec])
def test_output_has_the_cards_shape_and_dtype(
    frame_shape: tuple[int, ...], make_spec: Callable[..., InputSpec]
) -> None:
    spec = make_spec()
    frame = np.full(frame_shape, 100, dtype=np.uint8)
    tensor = preprocess(frame, spec)
    assert tensor.shape == spec.shape
    assert tensor.dtype == np.float32
    assert np.isfinite(tensor).all()


def test_rgb_tensor_holds_channels_in_rgb_order() -> None:
    frame = np.zeros((80, 80, 3), dtype=np.uint8)
    frame[..., 0] = 255  # pure blue in BGR
    tensor = preprocess(frame, rgb_spec())
    expected = [(0.0 - RGB_MEAN[0]) / RGB_STD[0], (0.0 - RGB_MEAN[1]) / RGB_STD[1], (1.0 - RGB_MEAN[2]) / RGB_STD[2]]
    for channel, value in enumerate(expected):
        np.testing.assert_allclose(tensor[0, :, :, channel], value, atol=1e-5)


def test_nchw_puts_channels_first() -> None:
    spec = InputSpec(
        name="image", shape=(1, 3, 32, 48), layout="NCHW", colour="bgr", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
    )
    frame = np.zeros((60, 90, 3), dtype=np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 51, 102, 204
    tensor = preprocess(frame, spec)
    assert tensor.shape == (1, 3, 32, 48)
    for channel, level in enumerate((51, 102, 204)):
        np.testing.assert_allclose(tensor[0, channel], level / 255.0, atol=1e-6)


# --- equivalent image layouts ----------------------------------------------------------------------


def layouts(image: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "bgr": cv2.cvtColor(image, cv2.COLOR_GRAY2BGR),
        "bgra": cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA),
        "hw1": image[:, :, None],
        "uint16": image.astype(np.uint16) * 257,
        "float32": image.astype(np.float32),
    }


@pytest.mark.parametrize("layout", ["bgr", "bgra", "hw1", "uint16", "float32"])
@pytest.mark.parametrize("make_spec", [gray_spec, rgb_spec])
def test_layouts_of_the_same_mono_image_give_the_same_tensor(
    mono: np.ndarray, layout: str, make_spec: Callable[..., InputSpec]
) -> None:
    spec = make_spec()
    reference = preprocess(mono, spec)
    other = preprocess(layouts(mono)[layout], spec)
    np.testing.assert_allclose(other, reference, atol=1e-2)
    # The reference is not flat, so agreement is not an accident of a constant image.
    assert float(reference.std()) > 0.2


def test_gray_tensor_matches_a_hand_computed_resize(mono: np.ndarray) -> None:
    expected = cv2.resize(mono, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    expected = (expected - GRAY_MEAN) / GRAY_STD
    np.testing.assert_allclose(preprocess(mono, gray_spec())[0, 0], expected, atol=1e-5)


def test_linear_interpolation_is_used_when_the_card_says_so(mono: np.ndarray) -> None:
    expected = cv2.resize(mono, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    expected = (expected - GRAY_MEAN) / GRAY_STD
    np.testing.assert_allclose(preprocess(mono, gray_spec(interpolation="linear"))[0, 0], expected, atol=1e-5)


# --- ROI -------------------------------------------------------------------------------------------

ROI = Roi(x=0.25, y=0.2, width=0.5, height=0.4)  # on 200x150: x 50..150, y 30..90


def test_tensor_depends_only_on_the_roi_pixels(mono: np.ndarray) -> None:
    frame = np.full((150, 200), 30, dtype=np.uint8)
    frame[30:90, 50:150] = mono[:60, :100]
    spec = gray_spec(roi=ROI)
    reference = preprocess(frame, spec)

    changed = np.random.default_rng(1).integers(0, 256, size=frame.shape, dtype=np.uint8)
    changed[30:90, 50:150] = frame[30:90, 50:150]
    np.testing.assert_array_equal(preprocess(changed, spec), reference)

    # ... and it is the ROI content, resized: exactly the crop without an ROI.
    np.testing.assert_array_equal(preprocess(frame[30:90, 50:150].copy(), gray_spec()), reference)

    inside = frame.copy()
    inside[60, 100] = 255 - inside[60, 100]
    inside[31, 51] = 255 - inside[31, 51]
    assert not np.array_equal(preprocess(inside, spec), reference)


def test_roi_works_for_colour_frames(mono: np.ndarray) -> None:
    frame = np.zeros((150, 200, 3), dtype=np.uint8)
    frame[30:90, 50:150] = cv2.cvtColor(mono[:60, :100], cv2.COLOR_GRAY2BGR)
    spec = rgb_spec(roi=ROI)
    reference = preprocess(frame, spec)
    frame[:30] = 200
    frame[:, 150:] = 90
    np.testing.assert_array_equal(preprocess(frame, spec), reference)


@pytest.mark.parametrize(
    ("roi", "height", "width", "box"),
    [
        (None, 150, 200, (0, 0, 200, 150)),
        (Roi(x=0.0, y=0.0, width=1.0, height=1.0), 150, 200, (0, 0, 200, 150)),
        (ROI, 150, 200, (50, 30, 100, 60)),
        (Roi(x=0.1, y=0.5, width=0.3, height=0.25), 600, 800, (80, 300, 240, 150)),
        (Roi(x=0.5, y=0.5, width=0.5, height=0.5), 600, 800, (400, 300, 400, 300)),
        (Roi(x=0.0, y=0.0, width=0.001, height=0.001), 100, 100, (0, 0, 1, 1)),  # never empty
    ],
)
def test_roi_box_maps_fractions_to_pixels(
    roi: Roi | None, height: int, width: int, box: tuple[int, int, int, int]
) -> None:
    assert roi_box(roi, height, width) == box


@st.composite
def rois(draw: st.DrawFn) -> Roi:
    x, y = draw(st.floats(0.0, 0.999)), draw(st.floats(0.0, 0.999))
    w, h = draw(st.floats(0.001, 1.0)), draw(st.floats(0.001, 1.0))
    return Roi(x=x, y=y, width=min(w, 1.0 - x), height=min(h, 1.0 - y))


@settings(max_examples=300, deadline=None, database=None)
@given(roi=rois(), height=st.integers(2, 1200), width=st.integers(2, 1600))
def test_roi_box_of_any_valid_roi_is_a_non_empty_box_inside_the_frame(roi: Roi, height: int, width: int) -> None:
    bx, by, bw, bh = roi_box(roi, height, width)
    assert bw >= 1
    assert bh >= 1
    assert bx >= 0
    assert by >= 0
    assert bx + bw <= width, f"box x {bx} + width {bw} runs past a frame {width} px wide"
    assert by + bh <= height, f"box y {by} + height {bh} runs past a frame {height} px high"


def test_a_thin_roi_at_the_right_edge_still_preprocesses() -> None:
    spec = gray_spec(roi=Roi(x=0.995, y=0.0, width=0.005, height=1.0))
    frame = np.full((100, 100), 128, dtype=np.uint8)
    tensor = preprocess(frame, spec)  # the ROI is valid, so it must yield a tensor (or an ImageError)
    np.testing.assert_allclose(tensor, (128 / 255 - GRAY_MEAN) / GRAY_STD, atol=1e-5)


# --- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 37, 128, 254, 255])
def test_constant_image_normalises_to_the_formula(value: int) -> None:
    frame = np.full((90, 120), value, dtype=np.uint8)
    np.testing.assert_allclose(preprocess(frame, gray_spec()), (value / 255 - GRAY_MEAN) / GRAY_STD, atol=1e-5)
    rgb = preprocess(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), rgb_spec())
    for channel in range(3):
        want = (value / 255 - RGB_MEAN[channel]) / RGB_STD[channel]
        np.testing.assert_allclose(rgb[0, :, :, channel], want, atol=1e-5)


@pytest.mark.parametrize("make_spec", [gray_spec, rgb_spec])
def test_every_8_bit_level_normalises_exactly_as_the_formula_in_float32(make_spec: Callable[..., InputSpec]) -> None:
    # 8-bit frames are normalised by a 256-entry table: each level, in each channel, must give the
    # float32 the plain arithmetic gives, bit for bit, or the model would see other tensors.
    spec = make_spec()
    levels = np.arange(64 * 64, dtype=np.int64).reshape(64, 64) % 256
    frame = levels.astype(np.uint8)  # 64x64 in, 64x64 out: the resize keeps every level
    tensor = preprocess(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if spec.channels == 3 else frame, spec)
    channels = tensor[0] if spec.layout == "NCHW" else tensor[0].transpose(2, 0, 1)
    for channel, values in enumerate(channels):
        scaled = np.empty(frame.shape, dtype=np.float32)
        np.multiply(frame, np.float64(spec.scale), out=scaled, dtype=np.float64, casting="unsafe")
        scaled -= np.float32(spec.mean[channel])
        scaled *= np.float32(1.0) / np.float32(spec.std[channel])
        np.testing.assert_array_equal(values, scaled)


def test_custom_scale_is_applied() -> None:
    spec = gray_spec().model_copy(update={"scale": 1.0 / 100.0})
    frame = np.full((40, 40), 50, dtype=np.uint8)
    np.testing.assert_allclose(preprocess(frame, spec), (0.5 - GRAY_MEAN) / GRAY_STD, atol=1e-5)


# --- buffers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_spec", [gray_spec, rgb_spec])
def test_preprocessor_reuses_its_output_buffer(mono: np.ndarray, make_spec: Callable[..., InputSpec]) -> None:
    pre = Preprocessor(make_spec())
    first = pre(mono)
    first_values = first.copy()
    second = pre(255 - mono)
    assert second is first
    # The buffer was overwritten with the new frame's tensor, as documented.
    assert not np.array_equal(second, first_values)
    np.testing.assert_allclose(second, preprocess(255 - mono, make_spec()), atol=1e-6)
    third = pre(cv2.cvtColor(mono, cv2.COLOR_GRAY2BGRA))
    assert third is first


def test_preprocess_returns_a_tensor_it_owns(mono: np.ndarray) -> None:
    spec = gray_spec()
    a = preprocess(mono, spec)
    b = preprocess(255 - mono, spec)
    assert a is not b
    assert not np.shares_memory(a, b)
    assert a.flags.owndata
    assert not np.array_equal(a, b)


def test_preprocessor_output_does_not_alias_the_input(mono: np.ndarray) -> None:
    frame = mono.copy()
    tensor = Preprocessor(gray_spec())(frame)
    assert not np.shares_memory(tensor, frame)
    np.testing.assert_array_equal(frame, mono)  # the frame is left untouched


# --- bad images ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.zeros((50, 50), dtype=np.int32), ["int32", "uint8"]),
        (np.zeros((50, 50), dtype=np.float64), ["float64", "uint8"]),
        (np.zeros((50, 50, 2), dtype=np.uint8), ["(50, 50, 2)", "BGR"]),
        (np.zeros((50, 50, 5), dtype=np.uint8), ["(50, 50, 5)", "mono"]),
        (np.zeros((1, 1), dtype=np.uint8), ["1x1", "too small"]),
        (np.zeros((1, 80), dtype=np.uint8), ["80x1", "too small"]),
        (np.zeros((1, 50, 50, 3), dtype=np.uint8), ["(1, 50, 50, 3)", "mono"]),
        (np.zeros((50,), dtype=np.uint8), ["(50,)"]),
    ],
)
@pytest.mark.parametrize("make_spec", [gray_spec, rgb_spec])
def test_bad_images_raise_image_error_saying_what_is_wrong(
    image: np.ndarray, words: list[str], make_spec: Callable[..., InputSpec]
) -> None:
    with pytest.raises(ImageError) as info:
        preprocess(image, make_spec())
    for word in words:
        assert word in str(info.value)
