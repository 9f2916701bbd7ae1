"""mm per pixel from a target of known size or from the board, checked against rendered truth."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from calibration.board import Board, parse_board
from calibration.intrinsics import CameraCalibration, detect_corners
from calibration.record import CalibrationError, load_record, save_record
from calibration.scale import ScaleCalibration, TargetSpec, scale_from_board, scale_from_target
from calibration.synthetic import render_board_view
from calibration.undistort import Undistorter
from inspection.cli.calibrate_scale import scale

SUPERSAMPLE = 8
IMAGE_SIZE = (640, 480)


def target_image(
    spec: TargetSpec,
    mm_per_px: float,
    *,
    angle_deg: float = 0.0,
    dark: bool = False,
    noise: float = 2.0,
    blur: float = 0.8,
    centre: tuple[float, float] = (333.3, 225.6),
    seed: int = 0,
) -> np.ndarray:
    """The target drawn at 8x8 sub-pixels (a pixel-centre test each) and averaged per pixel, which is
    what drawing at 8x and shrinking with INTER_AREA does, without an 8x frame in memory.

    Light falls off across the frame and towards the corners, and the lens blurs a little: what a
    real station shows, and what a threshold-and-count measurement gets wrong by a pixel per edge.
    """
    width, height = IMAGE_SIZE
    cx, cy = centre
    half = max(spec.width_mm, spec.height_mm) / mm_per_px * 0.75 + 2
    x0, x1 = max(int(cx - half), 0), min(int(cx + half) + 1, width)
    y0, y1 = max(int(cy - half), 0), min(int(cy + half) + 1, height)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    t = math.radians(angle_deg)
    coverage: np.ndarray = np.zeros((height, width))
    for sub_y, sub_x in np.ndindex(SUPERSAMPLE, SUPERSAMPLE):
        dx = xs + (sub_x + 0.5) / SUPERSAMPLE - 0.5 - cx
        dy = ys + (sub_y + 0.5) / SUPERSAMPLE - 0.5 - cy
        if spec.shape == "disc":
            inside = dx * dx + dy * dy < (spec.width_mm / 2 / mm_per_px) ** 2
        else:
            u, v = dx * math.cos(t) + dy * math.sin(t), -dx * math.sin(t) + dy * math.cos(t)
            inside = (np.abs(u) < spec.width_mm / 2 / mm_per_px) & (np.abs(v) < spec.height_mm / 2 / mm_per_px)
        coverage[y0:y1, x0:x1] += inside / SUPERSAMPLE**2
    if blur:
        coverage = cv2.GaussianBlur(coverage, (0, 0), blur)
    gy, gx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    light = (1 + 0.25 * (gx - 0.5) - 0.1 * gy) * (1 - 0.3 * ((gx - 0.5) ** 2 + (gy - 0.5) ** 2) * 2)
    back, fore = (200.0, 40.0) if dark else (50.0, 210.0)
    image = light * (back + (fore - back) * coverage) + np.random.default_rng(seed).normal(0, noise, coverage.shape)
    return np.asarray(np.clip(np.rint(image), 0, 255), dtype=np.uint8)


def relative_error(record: ScaleCalibration, truth: float) -> float:
    return record.mm_per_px / truth - 1


DISC = TargetSpec.parse("disc:30")
RECT = TargetSpec.parse("rect:40x20")
SQUARE = TargetSpec.parse("rect:25x25")


DISCS = [(DISC, 0.1, 0.0, False), (DISC, 0.25, 0.0, True), (DISC, 0.5, 0.0, False), (DISC, 0.9, 0.0, True)]
RECTS = [(RECT, 0.15, 4.0, True), (RECT, 0.3, -8.0, False), (RECT, 0.6, 11.0, True), (SQUARE, 0.35, 6.0, False)]


@pytest.mark.parametrize(("spec", "mm_per_px", "angle_deg", "dark"), DISCS + RECTS)
def test_target_scale_is_within_one_percent(spec: TargetSpec, mm_per_px: float, angle_deg: float, dark: bool) -> None:
    image = target_image(spec, mm_per_px, angle_deg=angle_deg, dark=dark, seed=round(mm_per_px * 100))
    record = scale_from_target(image, spec)
    assert abs(relative_error(record, mm_per_px)) < 0.01
    assert 0 < record.relative_uncertainty < 0.01
    assert record.target_px is not None
    long_mm, short_mm = max(spec.width_mm, spec.height_mm), min(spec.width_mm, spec.height_mm)
    assert record.target_px == pytest.approx((long_mm / mm_per_px, short_mm / mm_per_px), rel=0.01)
    assert record.centre_px == pytest.approx((333.3, 225.6), abs=0.2)
    if spec.shape == "rect" and spec.width_mm != spec.height_mm:
        assert record.target_angle_deg is not None
        assert (record.target_angle_deg - angle_deg + 90) % 180 - 90 == pytest.approx(0, abs=1.0)
    assert (record.method, record.image_size, record.camera_calibration_id) == ("target", IMAGE_SIZE, None)


def test_blurred_noisy_sixteen_bit_colour_frames_are_measured_alike() -> None:
    image = target_image(RECT, 0.4, angle_deg=3.0, noise=8.0, blur=1.8, seed=5)
    deep_colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR).astype(np.uint16) * 257
    for frame in (image, deep_colour):
        assert abs(relative_error(scale_from_target(frame, RECT), 0.4)) < 0.01


def test_no_target_a_target_on_the_border_or_of_other_proportions_is_refused_saying_why() -> None:
    empty_belt = np.random.default_rng(1).normal(120, 3, (480, 640)).clip(0, 255).astype(np.uint8)
    with pytest.raises(CalibrationError, match="no target found: nothing stands out from the belt"):
        scale_from_target(empty_belt, DISC)
    with pytest.raises(CalibrationError, match=r"no disc target found \(1 blob\(s\) touch the image border"):
        scale_from_target(target_image(DISC, 0.25, centre=(40.0, 240.0)), DISC)
    with pytest.raises(CalibrationError, match=r"ratio of 2\.0.* rect:40x30 has 1\.333"):
        scale_from_target(target_image(RECT, 0.3, angle_deg=2.0), TargetSpec.parse("rect:40x30"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("disc:30", ("disc", 30, 30)), ("rect:40x20", ("rect", 40, 20)), (" RECT:12.5x.5mm ", ("rect", 12.5, 0.5))],
)
def test_target_text_is_parsed(text: str, expected: tuple[str, float, float]) -> None:
    spec = TargetSpec.parse(text)
    assert (spec.shape, spec.width_mm, spec.height_mm) == expected
    assert TargetSpec.parse(spec.text()) == spec


@pytest.mark.parametrize("text", ["disc", "disc:", "rect:40", "square:30", "disc:-3", "disc:0", "rect:4x0", "disc:1e3"])
def test_bad_target_text_says_what_is_expected(text: str) -> None:
    with pytest.raises(CalibrationError, match=r"target .*(expected disc:<diameter mm>|greater than 0)"):
        TargetSpec.parse(text)


def test_lengths_and_areas_convert_to_mm() -> None:
    record = scale_from_target(target_image(DISC, 0.25), DISC).model_copy(update={"mm_per_px": 0.2})
    assert record.length_mm(50) == pytest.approx(10.0)
    assert record.area_mm2(100) == pytest.approx(4.0)  # 100 px of 0.2 x 0.2 mm each
    assert record.area_mm2(0) == 0


def test_record_round_trips_through_its_file(tmp_path: Path) -> None:
    record = scale_from_target(target_image(DISC, 0.25), DISC, camera_serial="S1", notes="line 3")
    path = save_record(record, tmp_path)
    loaded = load_record(path, ScaleCalibration)
    assert loaded.id.startswith("scale-") and path.name == f"{loaded.id}.json"
    assert loaded.model_dump(exclude={"id"}) == record.model_dump(exclude={"id"})


def test_a_record_without_its_measurement_details_is_invalid() -> None:
    fields = scale_from_target(target_image(DISC, 0.25), DISC).model_dump(exclude={"id", "target_px"})
    with pytest.raises(ValidationError, match="method 'target' needs target_px"):
        ScaleCalibration(**fields)
    with pytest.raises(ValidationError, match="greater than 0"):
        ScaleCalibration(**{**fields, "target_px": (120.0, 120.0), "mm_per_px": 0.0})


def test_cli_writes_the_record_and_its_picture(tmp_path: Path) -> None:
    image_file = tmp_path / "target.png"
    cv2.imwrite(str(image_file), target_image(DISC, 0.25, dark=True))
    out = tmp_path / "calibration"
    args = [str(image_file), "--target", "disc:30", "--serial", "S1", "--out", str(out), "--notes", "test"]
    result = CliRunner().invoke(scale, args)
    assert result.exit_code == 0, result.output
    (json_file,) = out.glob("scale-*.json")
    record = load_record(json_file, ScaleCalibration)
    assert abs(relative_error(record, 0.25)) < 0.01
    assert (record.camera_serial, record.notes, record.method) == ("S1", "test", "target")
    overlay = cv2.imread(str(out / f"{record.id}-scale.png"))
    assert overlay is not None and overlay.shape == (480, 640, 3)
    assert "mm/px" in result.output and str(json_file) in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "disc:3o"], "not understood"),
        ([], "exactly one of --target"),
        (["--target", "disc:30", "--board", "checkerboard:10x7:20"], "exactly one of --target"),
        (["--board", "checkerboard:10x7:20"], "--board needs --camera"),
    ],
)
def test_cli_refuses_bad_input_with_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    image_file = tmp_path / "target.png"
    cv2.imwrite(str(image_file), target_image(DISC, 0.25))
    result = CliRunner().invoke(scale, [str(image_file), *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out").exists()


BOARD = parse_board("checkerboard:10x7:20")
BOARD_CENTRE_MM = (100.0, 70.0)  # the mean of the inner corners
CAMERA_MATRIX = np.array([[700.0, 0.0, 322.0], [0.0, 700.0, 238.0], [0.0, 0.0, 1.0]])
DIST_COEFFS = np.array([-0.12, 0.05, 0.0004, -0.0003, 0.0])  # barrel, as a short industrial lens has


@functools.cache
def camera() -> CameraCalibration:
    """One calibration for the whole file: its id depends on when it was made."""
    return CameraCalibration(
        camera_serial="CAM1",
        image_size=IMAGE_SIZE,
        board=BOARD,
        camera_matrix=((700.0, 0.0, 322.0), (0.0, 700.0, 238.0), (0.0, 0.0, 1.0)),
        dist_coeffs=tuple(float(c) for c in DIST_COEFFS),
        rms_px=0.1,
        rejection_px=0.5,
        coverage=0.8,
        views=(),
    ).stamped()


def board_pose(tilt_deg: tuple[float, float], depth_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The board tilted about x and y by `tilt_deg`, its centre `depth_mm` in front of the camera, a bit off axis."""
    rvec = np.radians([tilt_deg[0], tilt_deg[1], 4.0])
    rotation = cv2.Rodrigues(rvec)[0]
    tvec = np.array([6.0, -4.0, depth_mm]) - rotation @ np.array([*BOARD_CENTRE_MM, 0.0])
    return rvec, tvec


def board_view(board: Board, tilt_deg: tuple[float, float], depth_mm: float = 440.0) -> np.ndarray:
    rvec, tvec = board_pose(tilt_deg, depth_mm)
    return render_board_view(board, CAMERA_MATRIX, DIST_COEFFS, rvec, tvec, IMAGE_SIZE, 2.0, np.random.default_rng(3))


def true_board_scale(tilt_deg: tuple[float, float], depth_mm: float = 440.0) -> float:
    """mm per px at the board centre in undistorted frames: a 1 mm square there, projected, has 1/scale² px²."""
    rvec, tvec = board_pose(tilt_deg, depth_mm)
    cx, cy = BOARD_CENTRE_MM
    square = np.array([[cx + dx, cy + dy, 0.0] for dx, dy in ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5))])
    pixels = cv2.projectPoints(square, rvec, tvec, Undistorter(camera()).camera_matrix, np.zeros(5))[0]
    return 1 / math.sqrt(cv2.contourArea(pixels.reshape(-1, 2).astype(np.float32)))


@pytest.fixture(scope="module")
def face_on_view() -> np.ndarray:
    return board_view(BOARD, (0.4, -0.3))


def test_board_scale_is_within_one_percent_on_a_near_face_on_view(tmp_path: Path, face_on_view: np.ndarray) -> None:
    record = scale_from_board(face_on_view, BOARD, camera())
    truth = true_board_scale((0.4, -0.3))
    assert abs(relative_error(record, truth)) < 0.01
    assert abs(relative_error(record, truth)) <= record.relative_uncertainty < 0.01
    # The square size it reports is what the corners of the undistorted frame really show.
    corners = detect_corners(Undistorter(camera())(face_on_view), BOARD)
    assert corners is not None
    grid = corners.image_points.reshape(BOARD.rows - 1, BOARD.columns - 1, 2)
    spacing = np.concatenate([np.linalg.norm(np.diff(grid, axis=a), axis=2).ravel() for a in (0, 1)])
    assert record.square_px == pytest.approx(float(np.mean(spacing)), rel=0.01)
    assert (record.method, record.square_mm, record.camera_serial) == ("board", 20.0, "CAM1")
    assert record.camera_calibration_id == camera().id
    assert load_record(save_record(record, tmp_path), ScaleCalibration) == record.stamped()


def test_a_tilted_board_is_refused_with_its_tilt() -> None:
    with pytest.raises(CalibrationError, match=r"wrong by up to .* % across the image .* tilted 8\.\d deg"):
        scale_from_board(board_view(BOARD, (8.0, 0.0)), BOARD, camera())


def test_no_board_or_another_camera_size_is_refused(face_on_view: np.ndarray) -> None:
    with pytest.raises(CalibrationError, match="board checkerboard:10x7:20 not found"):
        scale_from_board(np.full((480, 640), 128, np.uint8), BOARD, camera())
    with pytest.raises(CalibrationError, match="the image is 320x240 px"):
        scale_from_board(cv2.resize(face_on_view, (320, 240)), BOARD, camera())


def test_cli_measures_the_board_through_the_camera_calibration(tmp_path: Path, face_on_view: np.ndarray) -> None:
    camera_file = save_record(camera(), tmp_path / "camera")
    image_file = tmp_path / "board.png"
    cv2.imwrite(str(image_file), face_on_view)
    args = [str(image_file), "--board", "checkerboard:10x7:20", "--camera", str(camera_file), "--out", str(tmp_path)]
    result = CliRunner().invoke(scale, args)
    assert result.exit_code == 0, result.output
    (json_file,) = tmp_path.glob("scale-*.json")
    record = load_record(json_file, ScaleCalibration)
    assert abs(relative_error(record, true_board_scale((0.4, -0.3)))) < 0.01
    assert record.camera_calibration_id == camera().id
    assert (tmp_path / f"{record.id}-scale.png").is_file()


def test_cli_undistorts_a_target_frame_with_the_camera(tmp_path: Path) -> None:
    camera_file = save_record(camera(), tmp_path / "camera")
    image_file = tmp_path / "target.png"
    cv2.imwrite(str(image_file), target_image(DISC, 0.25))
    out = tmp_path / "out"
    base = [str(image_file), "--target", "disc:30", "--camera", str(camera_file), "--out", str(out)]
    result = CliRunner().invoke(scale, base)
    assert result.exit_code == 0, result.output
    (json_file,) = out.glob("scale-*.json")
    record = load_record(json_file, ScaleCalibration)
    assert (record.camera_calibration_id, record.camera_serial) == (camera().id, "CAM1")
    refused = CliRunner().invoke(scale, [*base, "--serial", "OTHER"])
    assert refused.exit_code == 2
    assert "is for camera CAM1, not OTHER" in refused.output
