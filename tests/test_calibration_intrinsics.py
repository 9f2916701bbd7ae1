"""Camera intrinsics: synthetic views of a known camera are calibrated back to it, bad views are rejected,
undistortion straightens lines, and `inspection calibrate camera` writes a record and its plots."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from calibration.board import Board, parse_board
from calibration.intrinsics import CameraCalibration, Corners, calibrate_camera, detect_corners, view_error
from calibration.record import CalibrationError, load_record
from calibration.synthetic import random_poses, render_board_view
from calibration.undistort import Undistorter
from inspection.cli.calibrate_camera import camera
from inspection.errors import ImageError

TRUE_K = np.array([[800.0, 0.0, 330.0], [0.0, 805.0, 236.0], [0.0, 0.0, 1.0]])
TRUE_D = np.array([-0.25, 0.12, 0.001, -0.0015, 0.0])  # barrel: ~9 px at the image corners
SIZE = (640, 480)
NOISE = 2.0  # grey levels
CHECKER = parse_board("checkerboard:14x10:15")
Views = list[tuple[str, np.ndarray]]


def render(board: Board, seed: int, n: int, k: np.ndarray = TRUE_K, d: np.ndarray = TRUE_D) -> Views:
    rng = np.random.default_rng(seed)
    poses = random_poses(n, board, k, SIZE, rng)
    return [
        (f"{board.kind}-{seed}-{i:02d}", render_board_view(board, k, d, r, t, SIZE, NOISE, rng))
        for i, (r, t) in enumerate(poses)
    ]


@pytest.fixture(scope="module")
def views() -> Views:
    return render(CHECKER, seed=11, n=18)


@pytest.fixture(scope="module")
def calibration(views: Views) -> CameraCalibration:
    return calibrate_camera(views, CHECKER, "SN-1")


def errors_vs_truth(cal: CameraCalibration) -> tuple[float, float, float]:
    """(|fx error| %, |fy error| %, principal point distance px)."""
    k = cal.camera_matrix_array
    fx, fy = (abs(k[i, i] / TRUE_K[i, i] - 1) * 100 for i in (0, 1))
    return fx, fy, float(np.hypot(k[0, 2] - TRUE_K[0, 2], k[1, 2] - TRUE_K[1, 2]))


def assert_recovers_truth(cal: CameraCalibration) -> None:
    fx, fy, pp = errors_vs_truth(cal)
    assert fx < 1.0 and fy < 1.0, f"focal length off by {fx:.2f}% / {fy:.2f}%"
    assert pp <= 2.0, f"principal point off by {pp:.2f} px"
    assert cal.rms_px <= 0.3


def straightness_px(points: np.ndarray) -> float:
    """Largest distance of the points from their total-least-squares line."""
    centred = points - points.mean(axis=0)
    normal = np.linalg.svd(centred)[2][1]
    return float(np.abs(centred @ normal).max())


def test_the_renderer_puts_corners_where_the_camera_model_projects_them() -> None:
    rng = np.random.default_rng(3)
    rvec, tvec = random_poses(1, CHECKER, TRUE_K, SIZE, rng)[0]
    corners = detect_corners(render_board_view(CHECKER, TRUE_K, TRUE_D, rvec, tvec, SIZE, NOISE, rng), CHECKER)
    assert corners is not None
    truth, _ = cv2.projectPoints(CHECKER.object_points(), rvec, tvec, TRUE_K, TRUE_D)
    assert np.sqrt(np.mean(np.sum((corners.image_points - truth.reshape(-1, 2)) ** 2, axis=1))) < 0.15


def test_acceptance_recovers_known_intrinsics_from_noisy_views(calibration: CameraCalibration) -> None:
    assert_recovers_truth(calibration)
    assert calibration.used_views == 18 and calibration.coverage >= 0.5
    # The distortion as a whole (not its correlated coefficients) matches: rays through the truth land within 0.5 px.
    xs, ys = np.meshgrid(np.linspace(40, 600, 15), np.linspace(40, 440, 11))
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1)
    rays = cv2.undistortPoints(pixels.reshape(-1, 1, 2), TRUE_K, TRUE_D).reshape(-1, 2)
    rays3 = np.concatenate([rays, np.ones((len(rays), 1))], axis=1)
    mapped, _ = cv2.projectPoints(
        rays3, np.zeros(3), np.zeros(3), calibration.camera_matrix_array, calibration.dist_coeffs_array
    )
    assert np.abs(mapped.reshape(-1, 2) - pixels).max() < 2.0


def warped(image: np.ndarray) -> np.ndarray:
    """The image bent by a 2.5 px ripple: the board is still found, but its corners no longer fit any lens."""
    ys, xs = np.indices(image.shape, dtype=np.float32)
    return cv2.remap(image, xs + 2.5 * np.sin(ys / 17.0), ys + 2.5 * np.sin(xs / 21.0), cv2.INTER_LINEAR)


def test_views_that_disagree_are_rejected_and_the_result_still_meets_the_tolerances(views: Views) -> None:
    other_k = np.array([[1000.0, 0.0, 300.0], [0.0, 1000.0, 260.0], [0.0, 0.0, 1.0]])
    bad = [
        ("warped", warped(render(CHECKER, 12, 1)[0][1])),
        ("other-camera", render(CHECKER, 13, 1, other_k, np.array([0.3, 0, 0, 0, 0]))[0][1]),
    ]
    with_bad = views + bad
    cal = calibrate_camera(with_bad, CHECKER, "SN-1")
    rejected = {v.name: v.error_px for v in cal.views if not v.used}
    assert set(rejected) == {"warped", "other-camera"}
    assert all(e is not None and e > cal.rejection_px for e in rejected.values())
    assert_recovers_truth(cal)
    with pytest.raises(CalibrationError, match=r"only 9 of 10 views with a board agree.*Retake views like warped"):
        calibrate_camera(views[:9] + bad[:1], CHECKER, "SN-1")
    # Without rejection the two views would spoil it, so the rejection is what keeps the tolerances.
    found = [detect_corners(image, CHECKER) for _, image in with_bad]
    rms, k, *_ = cv2.calibrateCamera(
        [c.object_points for c in found if c], [c.image_points for c in found if c], SIZE, np.eye(3), np.zeros(5)
    )
    assert rms > 0.3 or abs(k[0, 0] / TRUE_K[0, 0] - 1) > 0.01


def test_undistortion_straightens_board_rows(calibration: CameraCalibration) -> None:
    rng = np.random.default_rng(5)
    rvec, tvec = np.array([0.0, 0.0, 0.02]), np.array([-105.0, -70.0, 295.0])  # board filling most of the frame
    image = render_board_view(CHECKER, TRUE_K, TRUE_D, rvec, tvec, SIZE, NOISE, rng)
    undistort = Undistorter(calibration)
    before, after = detect_corners(image, CHECKER), detect_corners(undistort(image), CHECKER)
    assert before is not None and after is not None
    columns = CHECKER.columns - 1
    for row in (0, CHECKER.rows - 2):  # the outer rows bend most
        bent = straightness_px(before.image_points[row * columns : (row + 1) * columns])
        straight = straightness_px(after.image_points[row * columns : (row + 1) * columns])
        assert bent > 1.5 and straight < 0.25 and straight < bent / 5, (row, bent, straight)
    # Corrected frames follow a distortion-free pinhole with `camera_matrix`, which scale-from-pose relies on.
    assert pinhole_error(after, undistort.camera_matrix) < 0.3
    # One zoom for both axes: pixels keep the camera's aspect, so one mm-per-pixel scale holds both ways.
    new, old = undistort.camera_matrix, calibration.camera_matrix_array
    assert new[0, 0] / new[1, 1] == pytest.approx(old[0, 0] / old[1, 1], rel=1e-9)


def pinhole_error(corners: Corners, matrix: np.ndarray) -> float:
    """RMS reprojection error of a view fitted with this matrix and no distortion, px."""
    return view_error(corners, matrix, np.zeros(5))


def test_undistorter_keeps_layout_and_depth_and_refuses_other_sizes(calibration: CameraCalibration) -> None:
    undistort = Undistorter(calibration)
    mono = render(CHECKER, 21, 1)[0][1]
    expected = undistort(mono)
    assert expected.shape == mono.shape and not np.shares_memory(expected, mono)
    assert not np.shares_memory(expected, undistort(mono))  # each call hands out its own frame
    bgr = cv2.cvtColor(mono, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(undistort(bgr), cv2.cvtColor(expected, cv2.COLOR_GRAY2BGR))
    assert undistort(cv2.cvtColor(mono, cv2.COLOR_GRAY2BGRA)).shape == (*mono.shape, 4)
    deep = undistort(mono.astype(np.uint16) * 257)
    assert deep.dtype == np.uint16 and np.abs(deep / 257.0 - expected).max() <= 1.0
    # alpha=0: every output pixel comes from the sensor, so no black corners appear.
    assert undistort(np.full_like(mono, 200)).min() == 200
    with pytest.raises(ImageError, match=r"320x240 px.*640x480 px"):
        undistort(np.zeros((240, 320), np.uint8))


def test_charuco_views_are_detected_and_calibrate() -> None:
    # Same focal tolerance; looser principal point and RMS, because at 640x480 ChArUco corners are ~2x
    # noisier than checkerboard corners (the markers sit 2-3 px from each corner and pull the refinement:
    # ~0.13 px RMS with a tail to 0.5 px) and there are 54 per view instead of 117. OpenCV's own standard
    # deviation of cx for these views is ~1.4 px (0.34 px for the checkerboard set), so 5 px is ~3.5 sigma.
    board = parse_board("charuco:10x7:20:15:DICT_4X4_50")
    charuco = render(board, seed=31, n=14)
    found = [detect_corners(image, board) for _, image in charuco]
    assert all(c is not None and len(c.image_points) >= 30 for c in found)
    cal = calibrate_camera(charuco, board, "SN-2")
    fx, fy, pp = errors_vs_truth(cal)
    assert fx < 1.0 and fy < 1.0 and pp < 5.0 and cal.rms_px < 0.3, (fx, fy, pp, cal.rms_px)


def test_too_few_views_say_what_to_do(views: Views) -> None:
    with pytest.raises(
        CalibrationError, match=r"found in 5 of 5 images; calibration needs at least 10.*take more views"
    ):
        calibrate_camera(views[:5], CHECKER, "SN-1")
    blank = [(f"blank-{i}", np.random.default_rng(i).integers(0, 255, (120, 160), dtype=np.uint8)) for i in range(3)]
    with pytest.raises(CalibrationError, match=r"found in 0 of 3 images.*--board checkerboard:14x10:15 matches"):
        calibrate_camera(blank, CHECKER, "SN-1")
    larger_than_printed = parse_board("checkerboard:16x11:15")
    with pytest.raises(CalibrationError, match="found in 0 of 2 images"):
        calibrate_camera(views[:2], larger_than_printed, "SN-1")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("checkerboard:10x7", "needs 3 ':'-separated parts"),
        ("chess:10x7:20", "unknown kind 'chess'"),
        ("checkerboard:10by7:20", "is not COLUMNSxROWS"),
        ("checkerboard:10x7:big", "square size 'big' is not a number"),
        ("checkerboard:2x7:20", "columns: Input should be greater than or equal to 3"),
        ("checkerboard:10x7:-1", "square_mm: Input should be greater than 0"),
        ("charuco:10x7:20:25:DICT_5X5_100", "must be smaller than square_mm"),
        ("charuco:10x7:20:15:DICT_9X9_1", "unknown ArUco dictionary"),
        ("charuco:12x10:20:15:DICT_4X4_50", "DICT_4X4_50 has 50 markers, the board needs 60"),
    ],
)
def test_board_text_errors_name_the_bad_part(text: str, problem: str) -> None:
    with pytest.raises(CalibrationError, match=problem.replace("(", r"\(")):
        parse_board(text)


def test_board_text_round_trips_and_gives_corners_in_mm() -> None:
    for text in ("checkerboard:10x7:20", "charuco:10x7:20:15:DICT_5X5_100"):
        assert parse_board(text).text() == text
    board = parse_board("charuco:10x7:20:15:DICT_5X5_100")
    points = board.object_points()
    assert board.pattern_size == (9, 6) and points.shape == (54, 3) and not points[:, 2].any()
    assert np.allclose(points[1] - points[0], (20, 0, 0)) and np.allclose(points[9] - points[0], (0, 20, 0))
    assert np.allclose(points, np.asarray(board.charuco_board().getChessboardCorners()))


def test_cli_writes_record_and_plots_and_skips_unreadable_images(views: Views, tmp_path: Path) -> None:
    folder = tmp_path / "views"
    folder.mkdir()
    for name, image in views[:12]:
        cv2.imwrite(str(folder / f"{name}.png"), image)
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    args = [str(folder), "--board", "checkerboard:14x10:15", "--serial", "SN-7", "--out", str(out), "--notes", "rig A"]
    result = CliRunner().invoke(camera, args)
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "broken.png" in result.output
    (json_path,) = out.glob("*.json")
    record = load_record(json_path, CameraCalibration)
    assert json_path.stem == record.id and record.id.startswith("camera-")
    assert record.camera_serial == "SN-7" and record.notes == "rig A" and record.used_views == 12
    assert json.loads(json_path.read_text())["board"]["kind"] == "checkerboard"
    assert_recovers_truth(record)
    for suffix in ("coverage", "errors"):
        png = cv2.imread(str(out / f"{record.id}-{suffix}.png"))
        assert png is not None and png.shape[0] > 100
    fx = record.camera_matrix_array[0, 0]
    assert f"fx {fx:.2f} px" in result.output and str(json_path) in result.output


def test_cli_exits_2_with_a_clear_message(views: Views, tmp_path: Path) -> None:
    bad_board = CliRunner().invoke(
        camera, [str(tmp_path), "--board", "checkerboard:10x7", "--serial", "S", "--out", str(tmp_path)]
    )
    assert bad_board.exit_code == 2 and "needs 3 ':'-separated parts" in bad_board.output
    cv2.imwrite(str(tmp_path / "one.png"), views[0][1])
    few = CliRunner().invoke(
        camera,
        [str(tmp_path / "one.png"), "--board", "checkerboard:14x10:15", "--serial", "S", "--out", str(tmp_path / "o")],
    )
    assert few.exit_code == 2 and "at least 10" in few.output and not (tmp_path / "o").exists()
