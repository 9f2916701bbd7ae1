"""Camera intrinsics from views of a board: focal lengths, principal point and lens distortion.

Views that disagree with the rest (motion blur, a board that was not flat, a mislabelled file) are
dropped one at a time, worst first, while their per-view error is above max(3 x median, 0.5 px); dropping
all suspects at once would also drop good views whose error a gross outlier had inflated.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from calibration.board import Board
from calibration.record import CalibrationError, CalibrationRecord
from inspection.strict import StrictModel

MIN_VIEWS = 10  # below this, distortion terms are poorly determined even from good views
REJECT_FACTOR = 3.0
REJECT_FLOOR_PX = 0.5  # never reject views for errors a good real-world calibration has anyway
COVERAGE_GRID = 10
DIST_COEFF_COUNTS = (4, 5, 8, 12, 14)

MIN_CHARUCO_CORNERS = 6
SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-3)

Row = tuple[float, float, float]


@dataclass(frozen=True)
class Corners:
    """Board corners found in one image: (N, 2) float32 px and the matching (N, 3) float32 board mm."""

    image_points: np.ndarray
    object_points: np.ndarray


def to_mono8(image: np.ndarray) -> np.ndarray:
    """The detectors want 8-bit mono; 16-bit frames are stretched, since 10/12-bit data sits low in them."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if image.dtype != np.uint8:
        image = cv2.normalize(image, np.zeros(image.shape, np.uint8), 0, 255, cv2.NORM_MINMAX, dtype=cv2.CV_8U)
    return np.asarray(image)


def _outside(grid: np.ndarray, row: int, col: int, gray: np.ndarray) -> float:
    """Grey level at the centre of the square diagonally outside corner (row, col) of the grid."""
    step_r, step_c = (1 if row == 0 else -1), (1 if col == 0 else -1)
    corner = grid[row, col]
    centre = corner + 0.5 * ((corner - grid[row + step_r, col]) + (corner - grid[row, col + step_c]))
    x, y = np.clip(np.rint(centre).astype(int), 0, np.array(gray.shape[::-1]) - 1)
    return float(gray[y, x])


def _checkerboard(gray: np.ndarray, board: Board) -> np.ndarray | None:
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, points = cv2.findChessboardCorners(gray, board.pattern_size, flags=flags)
    if found:
        grid = np.asarray(points).reshape(board.rows - 1, board.columns - 1, 2)
        spacing = min(
            np.linalg.norm(np.diff(grid, axis=0), axis=2).min(), np.linalg.norm(np.diff(grid, axis=1), axis=2).min()
        )
        half = int(np.clip(0.4 * spacing, 2, 11))  # the window must stay inside the corner's four squares
        points = cv2.cornerSubPix(gray, points, (half, half), (-1, -1), SUBPIX_CRITERIA)
    else:  # the slower detector copes with blur and uneven light that defeat the classic one
        found, points = cv2.findChessboardCornersSB(gray, board.pattern_size, flags=cv2.CALIB_CB_EXHAUSTIVE)
        if not found:
            return None
    grid = np.asarray(points, dtype=np.float32).reshape(board.rows - 1, board.columns - 1, 2)
    # Detectors may start at either end; with an odd number of squares in all, the square outside the
    # first corner is black and the one outside the last is white, which fixes the order.
    if (board.rows + board.columns) % 2 == 1 and _outside(grid, 0, 0, gray) > _outside(grid, -1, -1, gray):
        grid = grid[::-1, ::-1]
    return grid.reshape(-1, 2)


@functools.lru_cache(maxsize=4)
def _charuco_detector(board: Board) -> Any:
    return cv2.aruco.CharucoDetector(board.charuco_board())


def detect_corners(image: np.ndarray, board: Board) -> Corners | None:
    """The board's corners in a mono, BGR or BGRA frame (8 or 16 bit), sub-pixel; None if not found."""
    gray = to_mono8(image)
    if board.kind == "checkerboard":
        points = _checkerboard(gray, board)
        return None if points is None else Corners(points, board.object_points())
    detector = _charuco_detector(board)
    points, ids, _, _ = detector.detectBoard(gray)
    if ids is None or len(ids) < MIN_CHARUCO_CORNERS:
        return None
    if detector.getBoard().checkCharucoCornersCollinear(ids):
        return None  # a single row of corners says nothing about the plane's tilt
    ids = np.asarray(ids).ravel()
    return Corners(np.asarray(points, dtype=np.float32).reshape(-1, 2), board.object_points()[ids])


class ViewResult(StrictModel):
    """How one image took part in the calibration."""

    name: str = Field(description="the image, as given (usually its path)")
    corners: int = Field(ge=0, description="board corners detected; 0 when the board was not found")
    error_px: float | None = Field(description="RMS reprojection error of its corners, px; None without a board")
    used: bool = Field(description="False when the board was not found or the view was rejected as an outlier")


class CameraCalibration(CalibrationRecord):
    """A camera's intrinsics (pinhole matrix and OpenCV distortion), as measured from board views."""

    kind: Literal["camera"] = Field(default="camera", description="always camera")
    camera_serial: str = Field(min_length=1, description="serial number of the calibrated camera")
    image_size: tuple[int, int] = Field(description="(width, height) of the frames, px")
    board: Board = Field(description="the board the views show")
    camera_matrix: tuple[Row, Row, Row] = Field(description="[[fx, 0, cx], [0, fy, cy], [0, 0, 1]], px")
    dist_coeffs: tuple[float, ...] = Field(description="OpenCV distortion (k1, k2, p1, p2, k3[, ...])")
    rms_px: float = Field(ge=0, description="RMS reprojection error over the corners of the used views, px")
    rejection_px: float = Field(gt=0, description="views with an error above this were rejected, px")
    coverage: float = Field(ge=0, le=1, description="share of a 10x10 grid over the image holding used corners")
    views: tuple[ViewResult, ...] = Field(description="every image given, in order")

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) <= 0:
            raise ValueError(f"image size must be positive, got {value[0]}x{value[1]}")
        return value

    @field_validator("camera_matrix")
    @classmethod
    def _pinhole(cls, value: tuple[Row, Row, Row]) -> tuple[Row, Row, Row]:
        if value[0][0] <= 0 or value[1][1] <= 0 or value[1][0] != 0 or value[2] != (0.0, 0.0, 1.0):
            raise ValueError("expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0")
        return value

    @field_validator("dist_coeffs")
    @classmethod
    def _coefficient_count(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) not in DIST_COEFF_COUNTS:
            raise ValueError(f"OpenCV takes {DIST_COEFF_COUNTS} distortion coefficients, got {len(value)}")
        return value

    @property
    def camera_matrix_array(self) -> np.ndarray:
        return np.array(self.camera_matrix, dtype=np.float64)

    @property
    def dist_coeffs_array(self) -> np.ndarray:
        return np.array(self.dist_coeffs, dtype=np.float64)

    @property
    def used_views(self) -> int:
        return sum(v.used for v in self.views)


def _calibrate(
    views: Sequence[Corners], image_size: tuple[int, int]
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(rms, camera matrix, distortion, per-view RMS errors) from OpenCV's bundle adjustment."""
    objects = [v.object_points for v in views]
    images = [v.image_points.reshape(-1, 1, 2) for v in views]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-9)
    try:
        rms, k, d, *_, errors = cv2.calibrateCameraExtended(
            objects, images, image_size, np.eye(3), np.zeros(5), criteria=criteria
        )
    except cv2.error as exc:
        raise CalibrationError(
            f"OpenCV could not calibrate from these views ({exc.err}); take views with the board tilted "
            "15-45 degrees in different directions, not all face-on"
        ) from None
    return float(rms), np.asarray(k, dtype=np.float64), np.asarray(d, dtype=np.float64).ravel(), np.ravel(errors)


def view_error(view: Corners, camera_matrix: np.ndarray, dist_coeffs: np.ndarray) -> float:
    """RMS reprojection error of one view under fixed intrinsics (its pose fitted alone), px."""
    ok, rvec, tvec = cv2.solvePnP(view.object_points, view.image_points, camera_matrix, dist_coeffs)
    if not ok:
        return float("inf")
    projected, _ = cv2.projectPoints(view.object_points, rvec, tvec, camera_matrix, dist_coeffs)
    residual = np.asarray(projected).reshape(-1, 2) - view.image_points
    return float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))


def _coverage(views: Sequence[Corners], image_size: tuple[int, int]) -> float:
    width, height = image_size
    points = np.concatenate([v.image_points for v in views])
    cells = np.floor(points / np.array([width, height]) * COVERAGE_GRID).astype(int)
    cells = cells[np.all((cells >= 0) & (cells < COVERAGE_GRID), axis=1)]
    return len({(int(x), int(y)) for x, y in cells}) / COVERAGE_GRID**2


def _too_few(found: int, total: int, min_views: int, board: Board) -> CalibrationError:
    return CalibrationError(
        f"the board was found in {found} of {total} images; calibration needs at least {min_views}. "
        f"Check that --board {board.text()} matches the printed board (squares, not inner corners), and take "
        f"more views: the whole board sharp and inside the frame, tilted 15-45 degrees, spread over the image"
    )


def calibrate_detections(
    detections: Sequence[tuple[str, Corners | None]],
    board: Board,
    camera_serial: str,
    image_size: tuple[int, int],
    *,
    notes: str = "",
    min_views: int = MIN_VIEWS,
) -> CameraCalibration:
    """Calibrates from detected corners (None: board not found in that image), rejecting outlier views."""
    names = [name for name, _ in detections]
    if len(set(names)) != len(names):
        raise CalibrationError("two images have the same name; give each view once")
    found = [(i, c) for i, (_, c) in enumerate(detections) if c is not None]
    if len(found) < min_views:
        raise _too_few(len(found), len(detections), min_views, board)
    used = [i for i, _ in found]
    corners = dict(found)
    while True:
        rms, k, d, errors = _calibrate([corners[i] for i in used], image_size)
        limit = max(REJECT_FACTOR * float(np.median(errors)), REJECT_FLOOR_PX)
        worst = int(np.argmax(errors))
        if errors[worst] <= limit:
            break
        if len(used) - 1 < min_views:
            rejected = [names[i] for i, _ in found if i not in used] + [names[used[worst]]]
            raise CalibrationError(
                f"only {len(used) - 1} of {len(found)} views with a board agree within {limit:.2f} px; calibration "
                f"needs at least {min_views}. Retake views like {', '.join(rejected[:5])} (blurred, board moved or "
                "bent, or not this camera), or add more good views"
            )
        del used[worst]
    per_view = dict(zip(used, (float(e) for e in errors), strict=True))
    views = tuple(
        ViewResult(
            name=name,
            corners=0 if c is None else len(c.image_points),
            error_px=None if c is None else per_view[i] if i in per_view else view_error(c, k, d),
            used=i in per_view,
        )
        for i, (name, c) in enumerate(detections)
    )
    return CameraCalibration(
        camera_serial=camera_serial,
        image_size=image_size,
        board=board,
        camera_matrix=((k[0, 0], 0.0, k[0, 2]), (0.0, k[1, 1], k[1, 2]), (0.0, 0.0, 1.0)),
        dist_coeffs=tuple(float(x) for x in d),
        rms_px=rms,
        rejection_px=limit,
        coverage=_coverage([corners[i] for i in used], image_size),
        views=views,
        notes=notes,
    )


def calibrate_camera(
    images: Sequence[tuple[str, np.ndarray]],
    board: Board,
    camera_serial: str,
    *,
    notes: str = "",
    min_views: int = MIN_VIEWS,
) -> CameraCalibration:
    """Detects the board in every (name, frame) and calibrates; all frames must have one size."""
    if not images:
        raise _too_few(0, 0, min_views, board)
    height, width = images[0][1].shape[:2]
    for name, image in images:
        if image.shape[:2] != (height, width):
            raise CalibrationError(
                f"{name} is {image.shape[1]}x{image.shape[0]} px but {images[0][0]} is {width}x{height} px; "
                "calibrate one camera at one resolution at a time"
            )
    detections = [(name, detect_corners(image, board)) for name, image in images]
    return calibrate_detections(detections, board, camera_serial, (width, height), notes=notes, min_views=min_views)
