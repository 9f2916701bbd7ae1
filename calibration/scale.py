"""mm per pixel on the conveyor plane, from a target of known size or from the calibration board.

A target is measured by its grey-level area: each edge pixel counts by where its grey lies between the
local background and target levels. That sum is the true area whatever the blur or rotation, so a
60 px disc gives the scale to ~0.1 %, where a thresholded outline is off by a pixel per edge.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from calibration.board import Board
from calibration.intrinsics import CameraCalibration, detect_corners
from calibration.record import CalibrationError, CalibrationRecord
from calibration.undistort import Undistorter
from inspection.strict import StrictModel

MIN_TARGET_AREA_PX = 400.0  # a ~23 px disc; smaller ones leave too few interior pixels to trust
MAX_SCALE_SPREAD = 0.02  # one scale may be wrong by at most this much in any direction, anywhere
BAND_PX = 4  # half-width of the edge band whose pixels count by their grey level (widened for blur)
RING_PX = 8  # width of the ring beyond the band where the background level is fitted
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_TARGET_FORMS = "disc:<diameter mm> (e.g. disc:30) or rect:<width>x<height> in mm (e.g. rect:40x20)"


class TargetSpec(StrictModel):
    """A target of known size lying on the conveyor, as written on the command line."""

    shape: Literal["disc", "rect"] = Field(description="a disc, or a rectangle (gauge block, printed square)")
    width_mm: float = Field(gt=0, allow_inf_nan=False, description="disc diameter, or rectangle width")
    height_mm: float = Field(gt=0, allow_inf_nan=False, description="rectangle height; the diameter for a disc")

    @classmethod
    def parse(cls, text: str) -> TargetSpec:
        """`disc:30` or `rect:40x20` (mm); raises `CalibrationError` saying what is expected."""
        cleaned = text.strip().lower().replace(" ", "")
        if disc := re.fullmatch(rf"disc:{_NUMBER}(?:mm)?", cleaned):
            width = height = float(disc.group(1))
        elif rect := re.fullmatch(rf"rect:{_NUMBER}x{_NUMBER}(?:mm)?", cleaned):
            width, height = float(rect.group(1)), float(rect.group(2))
        else:
            raise CalibrationError(f"target {text!r} not understood: expected {_TARGET_FORMS}")
        if width <= 0 or height <= 0:
            raise CalibrationError(f"target {text!r}: sizes must be greater than 0 mm")
        return cls(shape="disc" if disc else "rect", width_mm=width, height_mm=height)

    def text(self) -> str:
        return f"disc:{self.width_mm:g}" if self.shape == "disc" else f"rect:{self.width_mm:g}x{self.height_mm:g}"


class ScaleCalibration(CalibrationRecord):
    """How many mm one pixel spans on the conveyor plane, and how far to trust it."""

    kind: Literal["scale"] = "scale"
    mm_per_px: float = Field(gt=0, allow_inf_nan=False, description="mm on the conveyor plane per image pixel")
    relative_uncertainty: float = Field(ge=0, description="estimated relative error of mm_per_px (0.005 = 0.5 %)")
    method: Literal["target", "board"] = Field(description="measured on a target of known size, or on the board")
    camera_calibration_id: str | None = Field(description="holds for frames undistorted by this calibration; None: raw")
    image_size: tuple[int, int] = Field(description="width, height of the frame it was measured on, px")
    camera_serial: str = Field(default="", description="camera it was measured with")
    centre_px: tuple[float, float] = Field(description="where the target's or board's centre was, px")
    target: TargetSpec | None = Field(default=None, description="the target measured (method target)")
    target_px: tuple[float, float] | None = Field(default=None, description="measured long, short side (or axis), px")
    target_angle_deg: float | None = Field(default=None, description="direction of the target's long side, deg")
    square_mm: float | None = Field(default=None, gt=0, description="board square size (method board)")
    square_px: float | None = Field(default=None, gt=0, description="board square edge at the board centre, px")

    @model_validator(mode="after")
    def _details_match_method(self) -> ScaleCalibration:
        needed = ("target", "target_px") if self.method == "target" else ("square_mm", "square_px")
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"method {self.method!r} needs {', '.join(missing)}")
        return self

    def length_mm(self, px: float) -> float:
        return px * self.mm_per_px

    def area_mm2(self, area_px: float) -> float:
        return area_px * self.mm_per_px**2


def _looks_like(contour: np.ndarray, shape: str) -> bool:
    """A disc fills pi/4 of its bounding box and is round; a rectangle fills nearly all of it."""
    area, (w, h), hull = cv2.contourArea(contour), cv2.minAreaRect(contour)[1], cv2.contourArea(cv2.convexHull(contour))
    if w <= 0 or h <= 0 or hull <= 0 or area / hull < 0.93:
        return False
    fill = area / (w * h)
    return 0.70 < fill < 0.86 and max(w, h) / min(w, h) < 1.25 if shape == "disc" else fill > 0.88


def find_target(grey: np.ndarray, spec: TargetSpec) -> np.ndarray:
    """Outline of the largest dark or bright blob shaped like the target and clear of the border."""
    height, width = grey.shape
    noise = 1.4826 * float(np.median(np.abs(np.diff(grey, axis=1)))) / math.sqrt(2)  # edges are too few to count
    if (contrast := float(np.ptp(cv2.GaussianBlur(grey, (0, 0), 4)))) < 10 * noise + 2:
        seen = f"{contrast:.1f} grey levels, noise {noise:.1f}"
        raise CalibrationError(f"no target found: nothing stands out from the belt ({seen}); is it in view and lit?")
    stretched = (grey - grey.min()) * (255 / max(float(np.ptp(grey)), 1e-9))
    smooth = cv2.GaussianBlur(stretched.astype(np.uint8), (5, 5), 0)
    bright = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    found: list[np.ndarray] = []
    on_border = misshapen = 0
    for mask in (bright, cv2.bitwise_not(bright)):
        for contour in cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]:
            if not MIN_TARGET_AREA_PX <= cv2.contourArea(contour) <= 0.5 * width * height:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            if x <= 1 or y <= 1 or x + w >= width - 1 or y + h >= height - 1:
                on_border += 1
            elif _looks_like(contour, spec.shape):
                found.append(contour)
            else:
                misshapen += 1
    if found:
        return max(found, key=cv2.contourArea)
    what = "disc" if spec.shape == "disc" else "rectangle"
    raise CalibrationError(
        f"no {what} target found ({on_border} blob(s) touch the image border, {misshapen} have another shape): "
        f"expected one dark or bright {what} of at least {MIN_TARGET_AREA_PX:.0f} px, fully in view and clear of "
        "the edges, on a plain, evenly lit, contrasting background"
    )


def _quadric(xs: np.ndarray, ys: np.ndarray, terms: int = 6) -> np.ndarray:
    u, v = xs / 100, ys / 100  # keeps the least-squares system well conditioned
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v][:terms], axis=-1)


def _fit_light(xs: np.ndarray, ys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float]:
    """Grey level as a quadric in x, y (light falls off unevenly), refitted without outliers (dust, texture),
    and the noise. A small region gets a plane or a constant: a quadric would swing wildly just outside it."""
    extent = min(np.ptp(xs), np.ptp(ys))
    terms = 6 if extent >= 80 else 3 if extent >= 12 else 1
    design, keep = _quadric(xs, ys, terms), np.ones(len(values), dtype=bool)
    for _ in range(2):
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ coef
        noise = 1.4826 * float(np.median(np.abs(residual[keep]))) + 1e-6
        keep = np.abs(residual) < 3 * noise
    return np.pad(coef, (0, 6 - terms)), noise


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def grey_level_area(grey: np.ndarray, contour: np.ndarray, band: int = BAND_PX) -> tuple[float, np.ndarray, float]:
    """Sub-pixel area of a blob, its weighted centroid and covariance (x, y, cxx, cxy, cyx, cyy), area std error."""
    (x, y, w, h), pad = cv2.boundingRect(contour), band + RING_PX + 2
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    roi = grey[y0 : y + h + pad, x0 : x + w + pad]
    mask = np.zeros(roi.shape, np.uint8)
    cv2.drawContours(mask, [contour], -1, 1, thickness=cv2.FILLED, offset=(-x0, -y0))
    outer, inner = cv2.dilate(mask, _disc(band)) > 0, cv2.erode(mask, _disc(band)) > 0
    ring = (cv2.dilate(mask, _disc(band + RING_PX)) > 0) & (cv2.dilate(mask, _disc(band + 2)) == 0)
    core = cv2.erode(mask, _disc(band + 2)) > 0
    core = core if core.sum() >= 20 else inner
    ys, xs = np.mgrid[0 : roi.shape[0], 0 : roi.shape[1]].astype(np.float64)
    back, noise = _fit_light(xs[ring], ys[ring], roi[ring])
    fore = _fit_light(xs[core], ys[core], roi[core])[0]
    design, edge = _quadric(xs, ys), outer & ~inner
    contrast = design @ (fore - back)
    if float(np.min(np.abs(contrast[outer]))) < max(5 * noise, 1e-3):
        raise CalibrationError("the target hardly stands out from its background: use a contrasting target or light")
    weight = inner.astype(np.float64)
    weight[edge] = ((roi - design @ back) / contrast)[edge]  # unclipped, so noise averages out
    area = float(weight.sum())
    cx, cy = float((weight * xs).sum()) / area, float((weight * ys).sum()) / area
    d = np.stack([xs - cx, ys - cy])
    cov = np.einsum("ihw,jhw,hw->ij", d, d, weight) / area
    area_se = float(np.sqrt(((noise / contrast[edge]) ** 2).sum()))
    return area, np.array([cx + x0, cy + y0, *cov.ravel()]), area_se


def _ratio_and_blur(area: float, cov: np.ndarray, shape: str) -> tuple[float, float]:
    """Long:short ratio and blur variance t. Blur adds t to both principal moments (lambda_i = k side_i² + t);
    the sides' product is known from the area, so (lambda_1 - t)(lambda_2 - t) = c area² gives t."""
    small, large = np.linalg.eigvalsh(cov)
    c = 1 / (16 * math.pi**2) if shape == "disc" else 1 / 144
    blur_var = min(((large + small) - math.sqrt((large - small) ** 2 + 4 * c * area**2)) / 2, 0.9 * float(small))
    return math.sqrt((large - blur_var) / (small - blur_var)), blur_var


def scale_from_target(
    image: np.ndarray,
    target: TargetSpec,
    *,
    camera_calibration_id: str | None = None,
    camera_serial: str = "",
    notes: str = "",
) -> ScaleCalibration:
    """Finds and measures `target` in `image`: a frame undistorted with `camera_calibration_id`, if given."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    grey = np.asarray(image, dtype=np.float64)  # 16-bit frames keep their precision (to_mono8 would not)
    contour = find_target(grey, target)
    band = BAND_PX
    while True:  # a blurred edge needs a wider band, or its tails are cut off
        area, moments, area_se = grey_level_area(grey, contour, band)
        ratio, blur_var = _ratio_and_blur(area, moments[2:].reshape(2, 2), target.shape)
        needed = min(max(math.ceil(3 * math.sqrt(max(blur_var, 0.0))) + 2, BAND_PX), 3 * BAND_PX)
        if needed <= band:
            break
        band = needed
    vectors = np.linalg.eigh(moments[2:].reshape(2, 2))[1]
    expected_ratio = max(target.width_mm, target.height_mm) / min(target.width_mm, target.height_mm)
    k = 2 / math.sqrt(math.pi) if target.shape == "disc" else 1.0  # a disc's area is pi/4 of its axes' product
    long_px, short_px = k * math.sqrt(area * ratio), k * math.sqrt(area / ratio)
    shape_error = (ratio / expected_ratio - 1) / 2  # how far lengths along one axis stray from the mean scale
    if abs(shape_error) > MAX_SCALE_SPREAD:
        raise CalibrationError(
            f"the target measures {long_px:.1f} x {short_px:.1f} px, a long:short ratio of {ratio:.3f} where "
            f"{target.text()} has {expected_ratio:.3f}: check the target text, or the camera views the belt at an angle"
        )
    true_area = target.width_mm * target.height_mm * (math.pi / 4 if target.shape == "disc" else 1)
    band_error = 0.5 * abs(grey_level_area(grey, contour, band + 2)[0] / area - 1)  # the edge tails' share
    return ScaleCalibration(
        mm_per_px=math.sqrt(true_area / area),
        relative_uncertainty=math.hypot(0.5 * area_se / area, band_error, shape_error),
        method="target",
        camera_calibration_id=camera_calibration_id,
        image_size=(grey.shape[1], grey.shape[0]),
        centre_px=(float(moments[0]), float(moments[1])),
        target=target,
        target_px=(long_px, short_px),
        target_angle_deg=math.degrees(math.atan2(vectors[1, 1], vectors[0, 1])) % 180,
        camera_serial=camera_serial,
        notes=notes,
    )


def _scales(homography: np.ndarray, plane_mm: np.ndarray) -> np.ndarray:
    """mm per px in the two principal directions at each plane point: 1 / singular values of d(px)/d(mm)."""
    p = np.column_stack([plane_mm, np.ones(len(plane_mm))]) @ homography.T
    jac = (homography[None, :2, :2] - (p[:, :2] / p[:, 2:])[:, :, None] * homography[None, 2:, :2]) / p[
        :, 2, None, None
    ]
    return 1 / np.linalg.svd(jac, compute_uv=False)


def scale_from_board(
    image: np.ndarray, board: Board, camera_calibration: CameraCalibration, *, camera_serial: str = "", notes: str = ""
) -> ScaleCalibration:
    """mm per pixel in frames undistorted with `camera_calibration`, from a raw frame of the board on the belt.
    The pose comes from the corners in the raw frame, where the lens model applies; the board plane is
    then mapped into the undistorted frame (`Undistorter.camera_matrix`) and measured at its centre."""
    height, width = image.shape[:2]
    if (width, height) != (size := camera_calibration.image_size):
        raise CalibrationError(f"the image is {width}x{height} px, {camera_calibration.id} is for {size[0]}x{size[1]}")
    corners = detect_corners(image, board)
    if corners is None:
        raise CalibrationError(
            f"board {board.text()} not found: lay the whole board flat on the conveyor, sharp and inside the frame, "
            "and check that the text counts squares (not inner corners)"
        )
    k, d = camera_calibration.camera_matrix_array, camera_calibration.dist_coeffs_array
    ok, rvec, tvec = cv2.solvePnP(corners.object_points, corners.image_points, k, d, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise CalibrationError(f"the pose of board {board.text()} could not be solved from its corners")
    rotation, new_k = cv2.Rodrigues(rvec)[0], Undistorter(camera_calibration).camera_matrix
    homography = new_k @ np.column_stack([rotation[:, :2], tvec.ravel()])
    plane = corners.object_points[:, :2].astype(np.float64)
    centre_mm = plane.mean(axis=0, keepdims=True)
    mm_per_px = math.sqrt(float(np.prod(_scales(homography, centre_mm))))
    xs, ys = np.meshgrid(np.linspace(0, width, 9), np.linspace(0, height, 9))
    seen = np.column_stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]) @ np.linalg.inv(homography).T
    scales = _scales(homography, seen[:, :2] / seen[:, 2:]) if np.all(seen[:, 2] > 0) else np.array([math.inf])
    image_spread = float(np.max(np.abs(scales / mm_per_px - 1)))  # belt beyond the horizon: no scale holds
    if image_spread > MAX_SCALE_SPREAD:
        raise CalibrationError(
            f"one scale would be wrong by up to {100 * image_spread:.1f} % across the image (limit "
            f"{100 * MAX_SCALE_SPREAD:.0f} %): the board is tilted {math.degrees(math.acos(abs(rotation[2, 2]))):.1f} "
            f"deg from face-on (and undistorted pixels are {100 * abs(new_k[1, 1] / new_k[0, 0] - 1):.1f} % off "
            "square). Lay the board flat on the conveyor and square the camera up to the belt"
        )
    residual = cv2.projectPoints(corners.object_points, rvec, tvec, k, d)[0].reshape(-1, 2) - corners.image_points
    square_px = board.square_mm / mm_per_px
    fit_error = math.sqrt(float(np.mean(np.sum(residual**2, axis=1)))) / (square_px * math.sqrt(len(plane)))
    centre = homography @ np.append(centre_mm, 1.0)
    return ScaleCalibration(
        mm_per_px=mm_per_px,
        relative_uncertainty=math.hypot(float(np.max(np.abs(_scales(homography, plane) / mm_per_px - 1))), fit_error),
        method="board",
        camera_calibration_id=camera_calibration.id or camera_calibration.stamped().id,  # the id it is saved under
        image_size=(width, height),
        camera_serial=camera_serial or camera_calibration.camera_serial,
        notes=notes,
        centre_px=(float(centre[0] / centre[2]), float(centre[1] / centre[2])),
        square_mm=board.square_mm,
        square_px=square_px,
    )
