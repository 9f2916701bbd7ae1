"""Pixel conversion, frame accounting and the shared-memory ring: the camera path without a camera."""

from __future__ import annotations

import os
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from camera.genicam.accounting import FrameIds, TriggerLedger
from camera.genicam.pixels import LAYOUTS, UnsupportedPixelFormatError, convert, layout_of, output_shape
from camera.genicam.ring import FAULT, FRAME, GAP, Geometry, Ring, RingReader, RingWriter

BAYER_ORIGIN = {"BayerRG8": "RGGB", "BayerGB8": "GBRG", "BayerGR8": "GRBG", "BayerBG8": "BGGR"}


def smooth_bgr(height: int = 48, width: int = 64) -> np.ndarray:
    """A colour image smooth enough that demosaicing recovers it almost exactly."""
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([40 + x, 90 + y, 200 - x]).astype(np.uint8)


def mosaic(bgr: np.ndarray, pattern: str) -> np.ndarray:
    """What a Bayer sensor with `pattern` (the 2x2 cell read row by row) sends for `bgr`."""
    channel = {"B": 0, "G": 1, "R": 2}
    raw = np.zeros(bgr.shape[:2], np.uint8)
    for (dy, dx), colour in zip([(0, 0), (0, 1), (1, 0), (1, 1)], pattern, strict=True):
        raw[dy::2, dx::2] = bgr[dy::2, dx::2, channel[colour]]
    return raw


def converted(raw: np.ndarray, pixel_format: str, height: int, width: int) -> np.ndarray:
    layout = layout_of(pixel_format)
    out = np.empty(output_shape(layout, height, width), layout.out_dtype)
    convert(raw.reshape(-1), layout, height, width, out)
    return out


@pytest.mark.parametrize("pixel_format", sorted(BAYER_ORIGIN))
def test_bayer_patterns_demosaic_to_the_original_colours(pixel_format: str) -> None:
    bgr = smooth_bgr()
    out = converted(mosaic(bgr, BAYER_ORIGIN[pixel_format]), pixel_format, *bgr.shape[:2])
    inner = (slice(4, -4), slice(4, -4))
    assert out.shape == bgr.shape
    assert np.abs(out[inner].astype(int) - bgr[inner]).max() <= 2


def test_rgb_layouts_arrive_as_bgr() -> None:
    bgr = smooth_bgr()
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(converted(rgb, "RGB8", 48, 64), bgr)
    np.testing.assert_array_equal(converted(bgr, "BGR8", 48, 64), bgr)
    rgba = np.dstack([rgb, np.full((48, 64), 7, np.uint8)])
    bgra = converted(rgba, "RGBa8", 48, 64)
    np.testing.assert_array_equal(bgra[..., :3], bgr)
    assert (bgra[..., 3] == 7).all()


@pytest.mark.parametrize(("pixel_format", "bits"), [("Mono10", 10), ("Mono12", 12), ("Mono16", 16)])
def test_deep_mono_fills_the_16_bit_range(pixel_format: str, bits: int) -> None:
    raw = np.array([[0, 1, (1 << bits) - 1]], np.uint16)
    out = converted(raw.view(np.uint8), pixel_format, 1, 3)  # the driver hands over bytes
    assert out.dtype == np.uint16
    assert out[0, 0] == 0
    assert out[0, 2] >> (16 - bits) == (1 << bits) - 1
    assert out[0, 2] >= 0xFFC0


def test_mono8_is_a_plain_copy_into_the_given_array() -> None:
    raw = np.arange(12, dtype=np.uint8)
    out = np.zeros((3, 4), np.uint8)
    convert(raw, layout_of("Mono8"), 3, 4, out)
    raw[:] = 0  # the driver reuses its buffer: our frame must not change
    np.testing.assert_array_equal(out, np.arange(12).reshape(3, 4))


def test_a_short_buffer_is_refused_with_sizes() -> None:
    with pytest.raises(ValueError, match="holds 10 bytes; a 4x3 frame needs 12"):
        convert(np.zeros(10, np.uint8), layout_of("Mono8"), 3, 4, np.zeros((3, 4), np.uint8))


def test_unsupported_format_lists_the_supported_ones() -> None:
    with pytest.raises(UnsupportedPixelFormatError) as info:
        layout_of("YCbCr422_8")
    assert "YCbCr422_8" in str(info.value)
    assert all(name in str(info.value) for name in LAYOUTS)


def test_frame_id_jumps_are_gaps_and_backward_jumps_start_a_new_run() -> None:
    ids = FrameIds()
    assert ids.see(1) is None
    assert ids.see(2) is None
    missing = ids.see(6)
    assert missing is not None
    assert (missing.first_frame_id, missing.count) == (3, 3)
    assert ids.see(1) is None  # counter reset or wrapped: no gap claimed
    ids.incomplete = 2
    missing = ids.see(4)
    assert missing is not None
    assert (missing.first_frame_id, missing.count) == (2, 2)
    assert "2 incomplete buffer(s)" in missing.reason


def test_each_software_trigger_yields_a_frame_or_a_miss() -> None:
    ledger = TriggerLedger(miss_timeout_ns=100)
    first, second, third = ledger.fired(0), ledger.fired(10), ledger.fired(20)
    assert ledger.frame() == first
    assert ledger.misses(105) == []
    assert ledger.misses(115) == [second]
    assert ledger.frame() == third
    assert ledger.frame() is None  # a frame nobody triggered
    assert ledger.misses(10_000) == []


@pytest.fixture
def ring() -> Iterator[Ring]:
    ring = Ring.create(Geometry((6, 8), "|u1", "Mono8"), slots=4)
    yield ring
    ring.unlink()
    ring.close()


def test_ring_hands_over_frames_gaps_and_faults_in_order(ring: Ring) -> None:
    read_fd, write_fd = os.pipe()
    writer, reader = RingWriter(ring, write_fd), RingReader(ring)
    writer.next_image()[:] = 9
    writer.publish(FRAME, 1, 10, host_ns=5)
    writer.publish(GAP, 1, 11, count=2, host_ns=6, text="lost")
    writer.publish(FAULT, 1, -1, host_ns=7, text="device gone")
    records = [reader.next() for _ in range(3)]
    assert reader.next() is None
    assert [r.kind for r in records if r] == [FRAME, GAP, FAULT]
    frame, gap, fault = records
    assert frame is not None and frame.image is not None
    assert (frame.image == 9).all()
    writer.next_image()[:] = 0  # the slot is reused later: the reader's copy must not change
    assert (frame.image == 9).all()
    assert gap is not None and (gap.frame_id, gap.count, gap.text) == (11, 2, "lost")
    assert fault is not None and fault.text == "device gone"
    assert len(os.read(read_fd, 100)) == 3  # one poke per record
    os.close(read_fd)
    os.close(write_fd)


def test_a_reader_that_falls_behind_counts_what_it_lost(ring: Ring) -> None:
    read_fd, write_fd = os.pipe()
    writer, reader = RingWriter(ring, write_fd), RingReader(ring)
    for frame_id in range(10):
        writer.next_image()[:] = frame_id
        writer.publish(FRAME, 1, frame_id, host_ns=frame_id)
    record = reader.next()
    assert record is not None
    assert record.frame_id == 6  # the 4 newest survive in a 4-slot ring
    assert reader.take_lost() == 6
    assert record.image is not None and (record.image == 6).all()
    os.close(read_fd)
    os.close(write_fd)


def test_the_ring_file_can_go_once_both_sides_mapped_it(ring: Ring) -> None:
    other = Ring(ring.path, ring.geometry, ring.slots, create=False)
    ring.unlink()
    assert not ring.path.exists()
    read_fd, write_fd = os.pipe()
    reader = RingReader(ring)
    RingWriter(other, write_fd).publish(FAULT, 0, -1, host_ns=1, text="still shared")
    got = reader.next()
    assert got is not None and got.text == "still shared"
    other.close()
    os.close(read_fd)
    os.close(write_fd)
