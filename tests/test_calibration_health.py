"""Image health: the reference, the live check and its debounce, the flat field, and `inspection calibrate health`."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from calibration.health import (
    GAIN_RANGE,
    FlatField,
    HealthCheck,
    HealthLimits,
    HealthReference,
    HealthStatus,
    build_reference,
    load_gain,
    load_health,
    measure,
    save_health,
)
from calibration.record import CalibrationError
from camera.sim import render_part
from inspection.cli.calibrate_health import health
from inspection.errors import ImageError

HEIGHT, WIDTH = 600, 800
Frames = list[np.ndarray]


@pytest.fixture(scope="module")
def parts() -> tuple[Frames, Frames]:
    """(reference frames, live frames) of the simulated line: other parts, same camera and light."""
    return [render_part(seed).image for seed in range(12)], [render_part(seed).image for seed in range(500, 509)]


@pytest.fixture(scope="module")
def reference(parts: tuple[Frames, Frames]) -> HealthReference:
    return build_reference(parts[0], "SIM-1", flat_field=False)[0]


def vignetting(strength: float = 0.4) -> np.ndarray:
    """Light falling off as the square of the distance from the centre: `strength` lost in the corners."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    r2 = ((xx - WIDTH / 2) ** 2 + (yy - HEIGHT / 2) ** 2) / ((WIDTH / 2) ** 2 + (HEIGHT / 2) ** 2)
    return np.asarray(1.0 - strength * r2, np.float32)


def uniform_target(seed: int, level: float = 180.0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, 2.0, (HEIGHT, WIDTH))
    return np.clip(np.rint(level * vignetting() + noise), 0, 255).astype(np.uint8)


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma))


def darkened(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(np.rint(image * factor), 0, 255).astype(np.uint8)


def levels(check: HealthCheck, frames: Frames) -> list[str]:
    return [check.check(frame).level for frame in frames]


def test_metrics_are_what_they_say_and_the_same_for_every_layout(parts: tuple[Frames, Frames]) -> None:
    image = parts[1][0]
    grey = image.astype(np.float64) / 255.0
    metrics = measure(image)
    assert metrics.brightness == pytest.approx(grey.mean(), rel=1e-6)
    assert metrics.contrast == pytest.approx(grey.std(), rel=1e-6)
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    assert metrics.focus == pytest.approx(laplacian.var(), rel=0.02)  # cv2 also covers the 1-px border
    gx = (grey[:-2, 2:] + 2 * grey[1:-1, 2:] + grey[2:, 2:]) - (grey[:-2, :-2] + 2 * grey[1:-1, :-2] + grey[2:, :-2])
    gy = (grey[2:, :-2] + 2 * grey[2:, 1:-1] + grey[2:, 2:]) - (grey[:-2, :-2] + 2 * grey[:-2, 1:-1] + grey[:-2, 2:])
    assert metrics.tenengrad == pytest.approx((gx**2 + gy**2).mean(), rel=0.02)
    h5, w5 = HEIGHT // 5, WIDTH // 5
    corners = np.mean([grey[:h5, :w5].mean(), grey[:h5, -w5:].mean(), grey[-h5:, :w5].mean(), grey[-h5:, -w5:].mean()])
    assert metrics.uniformity == pytest.approx(corners / grey[2 * h5 : 3 * h5, 2 * w5 : 3 * w5].mean(), rel=1e-6)

    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    for other in (image.astype(np.uint16) * 257, bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), image[..., None]):
        again = measure(other).model_dump()
        for name, value in metrics.model_dump().items():
            assert again[name] == pytest.approx(value, rel=0.01), (other.dtype, other.shape, name)
    for bad in (image.astype(np.float32), np.dstack([image, image])):
        with pytest.raises(ImageError, match="not mono, BGR or BGRA"):
            measure(bad)


def test_frames_of_other_parts_under_the_same_light_stay_ok(
    reference: HealthReference, parts: tuple[Frames, Frames]
) -> None:
    check = HealthCheck(reference)
    assert levels(check, parts[1]) == ["ok"] * len(parts[1])
    assert check.status.checks == len(parts[1])


def test_a_blurred_camera_fails_on_focus_after_the_debounce(
    reference: HealthReference, parts: tuple[Frames, Frames]
) -> None:
    frames = parts[1][:4]
    check = HealthCheck(reference)
    assert levels(check, [blurred(frame, 3.0) for frame in frames]) == ["ok", "ok", "fail", "fail"]
    status = check.status
    assert status.drift["focus"] < -0.5
    assert any(p.startswith("focus ") and "(fail at" in p and "clean or refocus the lens" in p for p in status.problems)
    sharp = HealthCheck(reference, HealthLimits(consecutive=1)).check(frames[-1])
    assert status.drift["brightness"] == pytest.approx(sharp.drift["brightness"], abs=0.005)  # blur keeps the mean


def test_a_darkened_camera_fails_on_light_and_does_not_blame_the_lens(
    reference: HealthReference, parts: tuple[Frames, Frames]
) -> None:
    frames = [darkened(frame, 0.5) for frame in parts[1][:3]]
    check = HealthCheck(reference)
    assert levels(check, frames) == ["ok", "ok", "fail"]
    status = check.status
    expected = measure(frames[-1]).brightness / reference.metrics.brightness - 1.0
    assert status.drift["brightness"] == pytest.approx(expected, abs=1e-9)
    assert any(p.startswith("brightness ") and "below reference (fail at" in p for p in status.problems)
    assert not any(p.startswith("focus") for p in status.problems)


def test_a_mild_focus_change_warns_without_failing(reference: HealthReference, parts: tuple[Frames, Frames]) -> None:
    check = HealthCheck(reference)
    assert levels(check, [blurred(frame, 1.0) for frame in parts[1][:4]]) == ["ok", "ok", "warn", "warn"]
    problems = check.status.problems
    assert any(p.startswith("focus ") and "(warn at" in p for p in problems)
    assert not any("(fail at" in p for p in problems)


def test_one_odd_frame_does_not_change_the_level_but_consecutive_ones_do(parts: tuple[Frames, Frames]) -> None:
    good, bad = parts[1][0], blurred(parts[1][0], 3.0)
    reference = build_reference([good], "SIM-1", flat_field=False)[0]  # `good` is then exactly the reference
    sequence = [good, bad, good, good, bad, bad, bad, good, good, good]
    check = HealthCheck(reference, HealthLimits(consecutive=3))
    statuses = [check.check(frame) for frame in sequence]
    assert [s.this_check for s in statuses] == ["ok", "fail", "ok", "ok", "fail", "fail", "fail", "ok", "ok", "ok"]
    assert [s.level for s in statuses] == ["ok"] * 6 + ["fail"] * 3 + ["ok"]
    undamped = HealthCheck(reference, HealthLimits(consecutive=1))
    assert [undamped.check(frame).level for frame in sequence] == [s.this_check for s in statuses]


def test_status_can_be_read_while_another_thread_checks(
    reference: HealthReference, parts: tuple[Frames, Frames]
) -> None:
    check = HealthCheck(reference)
    worker = threading.Thread(target=lambda: [check.check(parts[1][n % 9]) for n in range(30)])
    seen: list[HealthStatus] = []
    worker.start()
    while worker.is_alive():
        seen.append(check.status)
        time.sleep(0.001)
    worker.join()
    counts = [status.checks for status in seen]
    assert counts == sorted(counts)
    assert check.status.checks == 30


def test_limits_need_warn_below_fail_and_describe_every_field() -> None:
    with pytest.raises(ValidationError, match=r"focus_warn \(0.6\) must be below focus_fail \(0.5\)"):
        HealthLimits(focus_warn=0.6)
    for name, field in HealthLimits.model_fields.items():
        assert field.description, name
        assert field.default is not PydanticUndefined, name


def test_the_gain_map_flattens_a_vignetted_uniform_target(parts: tuple[Frames, Frames]) -> None:
    targets = [uniform_target(seed) for seed in range(6)]
    record, gain = build_reference(parts[0][:3], "SIM-1", flat_field=True, flat_frames=targets)
    assert gain is not None and gain.shape == (HEIGHT, WIDTH) and gain.dtype == np.float32
    falloff = vignetting()
    np.testing.assert_allclose(gain, falloff.mean() / falloff, rtol=0.02)  # gain = mean / local level
    assert GAIN_RANGE[0] <= gain.min() and gain.max() <= GAIN_RANGE[1]
    assert record.metrics == build_reference(parts[0][:3], "SIM-1", flat_field=False)[0].metrics  # parts, not target

    def block_means(image: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.resize(image.astype(np.float32), (16, 12), interpolation=cv2.INTER_AREA))

    raw = block_means(uniform_target(99))
    corrected = block_means(FlatField(gain)(uniform_target(99)))
    assert raw.min() / raw.mean() < 0.8
    assert np.abs(corrected / corrected.mean() - 1.0).max() < 0.02


def test_the_gain_map_brings_a_vignetted_part_back_to_its_shape(parts: tuple[Frames, Frames]) -> None:
    gain = build_reference([uniform_target(seed) for seed in range(6)], "SIM-1", flat_field=True)[1]
    assert gain is not None
    part = parts[1][0].astype(np.float64)
    frame = np.clip(np.rint(part * vignetting()), 0, 255).astype(np.uint8)  # quantised again, like a sensor
    corrected = FlatField(gain)(frame)

    def shape_error(image: np.ndarray) -> float:  # the map keeps the mean level, so compare relative levels
        return float(np.abs(image / image.mean() - part / part.mean()).mean())

    assert shape_error(corrected.astype(np.float64)) < 0.25 * shape_error(frame.astype(np.float64))


def test_flat_field_keeps_dtype_layout_and_alpha_and_saturates() -> None:
    gain = np.full((HEIGHT, WIDTH), 1.5, np.float32)
    gain[:, : WIDTH // 2] = 0.5
    apply = FlatField(gain)
    mono = np.full((HEIGHT, WIDTH), 200, np.uint8)
    out = apply(mono)
    assert out.dtype == np.uint8 and out.shape == mono.shape and out is not mono
    assert (out[0, 0], out[0, -1]) == (100, 255) and mono[0, -1] == 200  # saturated, input untouched
    bgra = np.dstack([mono, mono // 2, mono // 4, np.full_like(mono, 77)])
    out = apply(bgra)
    assert out.shape == bgra.shape and list(out[0, -1]) == [255, 150, 75, 77]
    deep = np.full((HEIGHT, WIDTH, 3), 60_000, np.uint16)
    out = apply(deep)
    assert out.dtype == np.uint16 and list(out[0, 0]) == [30_000] * 3 and list(out[0, -1]) == [65_535] * 3


def test_a_frame_of_another_size_is_refused_naming_both_sizes(reference: HealthReference) -> None:
    small = np.zeros((480, 640), np.uint8)
    with pytest.raises(ImageError, match=r"frame is 640x480 px but the flat-field gain map is 800x600 px"):
        FlatField(np.ones((HEIGHT, WIDTH), np.float32))(small)
    with pytest.raises(ImageError, match=r"frame is 640x480 px but health reference .* is 800x600 px"):
        HealthCheck(reference).check(small)


def test_record_and_gain_map_round_trip_and_a_changed_map_is_refused(tmp_path: Path) -> None:
    record, gain = build_reference([uniform_target(seed) for seed in range(3)], "SIM-1", flat_field=True)
    assert gain is not None and record.flat_field_file is not None
    path = save_health(record, gain, tmp_path)
    gain_path = tmp_path / record.flat_field_file
    assert record.flat_field_sha256 == hashlib.sha256(gain_path.read_bytes()).hexdigest()
    assert gain_path.name == f"health-flat-field-{record.flat_field_sha256[:16]}.npy"
    loaded, loaded_gain = load_health(path)
    assert loaded == record.stamped() and path.name == f"{loaded.id}.json"
    assert loaded_gain is not None
    np.testing.assert_array_equal(loaded_gain, gain)

    with pytest.raises(CalibrationError, match="not the one the record was built with"):
        save_health(record, gain * 1.01, tmp_path)
    np.save(gain_path, gain * 1.01)
    with pytest.raises(CalibrationError, match=f"{gain_path.name} does not match the sha256 in {path}"):
        load_health(path)
    gain_path.unlink()
    with pytest.raises(CalibrationError, match=f"{gain_path.name} .* cannot be read"):
        load_health(path)
    plain, none = build_reference([uniform_target(0)], "SIM-1", flat_field=False)
    assert none is None and load_health(save_health(plain, None, tmp_path))[1] is None
    with pytest.raises(CalibrationError, match="has no flat field"):
        load_gain(plain, path)


def test_build_refuses_no_frames_mixed_sizes_and_black_frames() -> None:
    with pytest.raises(CalibrationError, match="no reference frames"):
        build_reference([], "SIM-1", flat_field=False)
    with pytest.raises(CalibrationError, match=r"sizes \[\(640, 480\), \(800, 600\)\]"):
        build_reference([uniform_target(0), np.zeros((480, 640), np.uint8)], "SIM-1", flat_field=False)
    with pytest.raises(CalibrationError, match="black"):
        build_reference([np.zeros((HEIGHT, WIDTH), np.uint8)], "SIM-1", flat_field=False)


def test_cli_writes_record_gain_map_and_plot(tmp_path: Path, parts: tuple[Frames, Frames]) -> None:
    (frames := tmp_path / "frames").mkdir()
    (flats := tmp_path / "flats").mkdir()
    for n, image in enumerate(parts[0][:4]):
        cv2.imwrite(str(frames / f"part-{n}.png"), image)
    for n in range(3):
        cv2.imwrite(str(flats / f"flat-{n}.png"), uniform_target(n))
    (frames / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    args = [str(frames), "--serial", "SIM-1", "--out", str(out), "--flat-frames", str(flats), "--notes", "rig 2"]
    result = CliRunner().invoke(health, args)
    assert result.exit_code == 0, result.output
    assert "skipped" in result.stderr and "broken.png" in result.stderr and "clipped" not in result.stderr
    (json_path,) = out.glob("health-*.json")
    record, gain = load_health(json_path)
    expected, expected_gain = build_reference(
        parts[0][:4], "SIM-1", True, flat_frames=[uniform_target(n) for n in range(3)]
    )
    assert (record.frames, record.notes, record.metrics) == (4, "rig 2", expected.metrics)
    assert gain is not None and expected_gain is not None
    np.testing.assert_array_equal(gain, expected_gain)
    assert (out / f"{record.id}-health.png").stat().st_size > 10_000
    assert f"health reference {record.id}" in result.stdout and f"wrote {json_path}" in result.stdout
    from_parts = CliRunner().invoke(health, [str(frames), "--serial", "SIM-1", "--out", str(out), "--flat-field"])
    assert from_parts.exit_code == 0, from_parts.output
    assert "of the gain map is clipped" in from_parts.stderr  # parts in view are no flat field


def test_cli_exits_2_when_no_frame_can_be_read(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not an image")
    result = CliRunner().invoke(health, [str(tmp_path / "broken.png"), "--serial", "S", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "none of the 1 reference frames could be read" in result.stderr
