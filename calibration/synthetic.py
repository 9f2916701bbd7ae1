"""Synthetic views of a calibration board through a known camera, so calibration can be tested against truth.

Rendering runs backwards, as a camera sees: every output pixel is a ray (its coordinate undistorted
with the camera's own model), the ray meets the board plane at the given pose, and the board's texture
there is sampled. Each pixel averages SUPERSAMPLE x SUPERSAMPLE rays (the sensor integrates over its
area), so edges land with sub-pixel accuracy; a slight blur stands in for the lens, then noise is added.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.board import Board

SUPERSAMPLE = 4  # rays per pixel side: 16 levels per edge crossing, well below the detectors' noise
TEXELS_PER_SQUARE = 84  # ChArUco texture: marker bits several texels wide; edges of squares fall on texels
PAPER_MARGIN_SQUARES = 1.0  # white paper around the squares, which both detectors need
BLACK, WHITE, BACKGROUND = 0.10, 0.85, 0.40  # reflectance; white below 1 so noise is not clipped
BLUR_SIGMA_PX = 0.5  # lens point-spread, about what a sharp industrial lens gives
UNDISTORT_TOLERANCE_PX = 1e-3  # rays whose undistortion does not re-distort to their pixel are left blank
TILT_DEG = (15.0, 45.0)  # least and most tilt about the board's x and y axes
FILL = (0.5, 0.85)  # the paper's width as a share of the image width, face-on: corners reach the edges


@functools.lru_cache(maxsize=4)
def board_texture(board: Board) -> tuple[np.ndarray, float]:
    """(reflectance image including the paper margin, mm per texel); black square top-left, as OpenCV prints."""
    if board.kind == "checkerboard":
        rows, cols = np.indices((board.rows, board.columns))
        squares = np.where((rows + cols) % 2 == 0, BLACK, WHITE)
        texel_mm, per_square = board.square_mm, 1
    else:
        per_square = TEXELS_PER_SQUARE
        size = (board.columns * per_square, board.rows * per_square)
        printed = board.charuco_board().generateImage(size, marginSize=0, borderBits=1)
        squares = BLACK + (WHITE - BLACK) * (np.asarray(printed, dtype=np.float64) / 255.0)
        texel_mm = board.square_mm / per_square
    margin = round(PAPER_MARGIN_SQUARES * per_square)
    texture = np.pad(squares, margin, constant_values=WHITE).astype(np.float32)
    return texture, texel_mm


@functools.lru_cache(maxsize=2)
def _corner_rays(matrix: bytes, coeffs: bytes, width: int, height: int) -> np.ndarray:
    """Normalised rays through the (H+1, W+1) pixel corners, homogeneous; NaN where undistortion fails."""
    k = np.frombuffer(matrix, dtype=np.float64).reshape(3, 3)
    d = np.frombuffer(coeffs, dtype=np.float64)
    us, vs = np.meshgrid(np.arange(width + 1) - 0.5, np.arange(height + 1) - 0.5)
    pixels = np.stack([us.ravel(), vs.ravel()], axis=1).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-9)
    rays = np.asarray(cv2.undistortPoints(pixels, k, d, criteria=criteria)).reshape(-1, 2)
    homogeneous = np.concatenate([rays, np.ones((len(rays), 1))], axis=1)
    back, _ = cv2.projectPoints(homogeneous.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), k, d)
    wrong = np.linalg.norm(np.asarray(back).reshape(-1, 2) - pixels.reshape(-1, 2), axis=1) > UNDISTORT_TOLERANCE_PX
    homogeneous[wrong] = np.nan
    return homogeneous.reshape(height + 1, width + 1, 3)


def _sample(texture: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The texture at homogeneous texel coordinates (x/w, y/w); background off the paper and behind the camera."""
    with np.errstate(divide="ignore", invalid="ignore"):
        # Nearest-neighbour remap rounds, so -0.5 turns it into the floor that maps a point to its texel.
        u, v = x / w - 0.5, y / w - 0.5
    off = ~((w > 0) & (np.abs(u) < 1e6) & (np.abs(v) < 1e6))  # also NaN rays, which compare False
    u[off], v[off] = -2.0, -2.0
    return np.asarray(
        cv2.remap(texture, u, v, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=BACKGROUND)
    )


def render_board_view(  # noqa: PLR0917 (the signature other modules and tests call positionally)
    board: Board,
    camera_matrix: np.ndarray,
    dist_coeffs: np.ndarray,
    rvec: np.ndarray,
    tvec: np.ndarray,
    image_size: tuple[int, int],
    noise_sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The board at pose (rvec, tvec) seen by the camera, as a (height, width) uint8 mono frame.

    `noise_sigma` is in grey levels (0-255). Rays through the same camera are cached, so rendering
    many views of one camera costs only the plane intersection and sampling per view.
    """
    width, height = image_size
    k = np.ascontiguousarray(camera_matrix, dtype=np.float64)
    d = np.ascontiguousarray(np.ravel(dist_coeffs), dtype=np.float64)
    rays = _corner_rays(k.tobytes(), d.tobytes(), width, height)
    rotation, _ = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))
    plane_to_camera = np.column_stack([rotation[:, 0], rotation[:, 1], np.ravel(tvec)])
    texture, texel_mm = board_texture(board)
    margin_mm = PAPER_MARGIN_SQUARES * board.square_mm
    mm_to_texel = np.array(
        [[1 / texel_mm, 0, margin_mm / texel_mm], [0, 1 / texel_mm, margin_mm / texel_mm], [0, 0, 1]]
    )
    # Board plane coordinates are a linear function of the homogeneous ray, so interpolating them
    # bilinearly between pixel corners is exact up to the (sub-micro-pixel) curvature of the ray map.
    plane = np.moveaxis(rays @ (mm_to_texel @ np.linalg.inv(plane_to_camera)).T, -1, 0).astype(np.float32)
    total = np.zeros((height, width), dtype=np.float32)
    for b in (np.arange(SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE:
        rows = (1 - b) * plane[:, :-1] + b * plane[:, 1:]
        left, right = rows[:, :, :-1], rows[:, :, 1:]
        for a in (np.arange(SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE:
            x, y, w = (1 - a) * left + a * right
            total += _sample(texture, x, y, w)
    image = total * np.float32(255.0 / SUPERSAMPLE**2) * _lighting(width, height, rng)
    blurred = np.asarray(cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA_PX), dtype=np.float32)
    blurred += rng.normal(0.0, noise_sigma, blurred.shape).astype(np.float32)
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)


def _lighting(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A gentle linear light fall-off in a random direction (0.85-1.0), as from a ring light off axis."""
    angle = rng.uniform(0, 2 * math.pi)
    xs, ys = np.meshgrid(np.linspace(-0.5, 0.5, width), np.linspace(-0.5, 0.5, height))
    ramp = xs * math.cos(angle) + ys * math.sin(angle)
    return np.asarray(0.925 + 0.075 * ramp / max(1e-9, float(np.abs(ramp).max())), dtype=np.float32)


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return np.asarray(z @ y @ x, dtype=np.float64)


# Aims in the order they are used: image corners first, since distortion is largest and least seen there.
AIMS = ((-1, -1), (1, 1), (1, -1), (-1, 1), (0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))
IMAGE_BORDER = 0.02  # share of the width kept clear around the paper, room for moderate (barrel) distortion


@dataclass(frozen=True)
class _Stage:
    """The camera and paper outline a pose must keep inside the image."""

    k: np.ndarray
    outline: np.ndarray  # paper corners, board mm
    centre: np.ndarray  # board centre, board mm
    low: np.ndarray  # lowest allowed pixel (x, y)
    high: np.ndarray  # highest allowed pixel (x, y)

    def place(self, rotation: np.ndarray, depth: float, target: np.ndarray) -> np.ndarray | None:
        """tvec putting the board centre on pixel `target` at `depth`, or None if the paper leaves the image."""
        tvec = depth * np.linalg.solve(self.k, np.array([target[0], target[1], 1.0])) - rotation @ self.centre
        camera = self.outline @ rotation.T + tvec
        if np.any(camera[:, 2] <= 1e-6):
            return None
        pixels = camera @ self.k.T
        pixels = pixels[:, :2] / pixels[:, 2:]
        return np.asarray(tvec) if np.all((pixels >= self.low) & (pixels <= self.high)) else None

    def slide(self, rotation: np.ndarray, depth: float, start: np.ndarray, aim: np.ndarray) -> np.ndarray | None:
        """The pose slid from `start` towards `start + aim` as far as it fits (None if not even at start)."""
        if self.place(rotation, depth, start) is None:
            return None
        lo, hi = 0.0, 1.0
        for _ in range(12):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.place(rotation, depth, start + mid * aim) is not None else (lo, mid)
        return self.place(rotation, depth, start + lo * aim)


def random_poses(
    n: int, board: Board, camera_matrix: np.ndarray, image_size: tuple[int, int], rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` (rvec, tvec) poses, tilted 15-45 degrees, pushed in turn towards the image corners, edges and centre.

    Tilt is what makes focal length observable, and corners seen out to the image edges are what make
    distortion observable. Each board is slid from the centre towards its aim as far as the paper's
    outline stays inside the image (checked with the pinhole model, with a 2% border).
    """
    width, height = image_size
    board_w, board_h = board.size_mm
    m = PAPER_MARGIN_SQUARES * board.square_mm
    stage = _Stage(
        k=np.asarray(camera_matrix, dtype=np.float64),
        outline=np.array([[-m, -m, 0], [board_w + m, -m, 0], [board_w + m, board_h + m, 0], [-m, board_h + m, 0]]),
        centre=np.array([board_w / 2, board_h / 2, 0.0]),
        low=np.full(2, IMAGE_BORDER * width),
        high=np.array([width, height]) - IMAGE_BORDER * width,
    )
    middle = np.array([width / 2, height / 2])
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(n):
        aim = np.array(AIMS[i % len(AIMS)]) * middle * rng.uniform(0.9, 1.0)
        for _ in range(200):
            rx, ry = np.radians(rng.uniform(-TILT_DEG[1], TILT_DEG[1], 2))
            if max(abs(rx), abs(ry)) < math.radians(TILT_DEG[0]):
                continue
            rotation = _rotation(float(rx), float(ry), math.radians(rng.uniform(-25, 25)))
            depth = stage.k[0, 0] * (board_w + 2 * m) / (rng.uniform(*FILL) * width)
            tvec = stage.slide(rotation, depth, middle, aim)
            if tvec is not None:  # else too big at this tilt: draw another
                rvec, _ = cv2.Rodrigues(rotation)
                poses.append((np.asarray(rvec, dtype=np.float64).ravel(), tvec))
                break
        else:
            raise ValueError(f"no pose keeps a {board.text()} board inside {width}x{height} px; move the camera back")
    return poses
