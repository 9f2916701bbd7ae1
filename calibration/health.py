"""Image health (brightness, contrast, focus, evenness of light) against a calibration-time reference.

Grey image at full resolution (focus would not survive a downscale: 4x turns a sigma-3 blur into 0.75), plus a
fixed 1/4-scale copy for sharpness; levels are fractions of full scale, so 8 and 16 bits compare. < 1 ms at 800x600.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from calibration.record import CalibrationError, CalibrationRecord, load_record, save_record
from inspection.errors import ImageError
from inspection.strict import StrictModel

Level = Literal["ok", "warn", "fail"]
LEVELS: tuple[Level, ...] = ("ok", "warn", "fail")
REMEDIES = {
    "brightness": "check the lights, the exposure time and the gain",
    "contrast": "check the lights and look for haze or glare on the lens",
    "focus": "clean or refocus the lens",
    "uniformity": "check the light for a failed segment or a moved diffuser",
}
JUDGED = tuple(REMEDIES)
GAIN_RANGE = (0.5, 2.0)  # beyond this the map corrects a broken light or a lens cap, not vignetting
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_TO_GREY = {3: cv2.COLOR_BGR2GRAY, 4: cv2.COLOR_BGRA2GRAY}


class HealthMetrics(StrictModel):
    """One frame's health numbers; levels are 0..1 of full scale."""

    brightness: float = Field(description="mean grey level")
    contrast: float = Field(description="standard deviation of grey levels")
    focus: float = Field(description="variance of the Laplacian of the grey image (full resolution)")
    tenengrad: float = Field(description="mean squared Sobel gradient magnitude (full resolution)")
    sharpness: float = Field(description="tenengrad / tenengrad at 1/4 scale: the focus judged, blind to light level")
    uniformity: float = Field(description="mean of the four corner regions (1/5 of each side) / mean of the centre")


def _layout(image: np.ndarray) -> tuple[int, float]:
    """(channels, full-scale level), or `ImageError` for a layout the station does not take."""
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
    if image.dtype not in _FULL_SCALE or channels not in (1, *_TO_GREY):
        raise ImageError(f"image of {image.dtype} {image.shape} is not mono, BGR or BGRA at uint8 or uint16")
    return channels, _FULL_SCALE[image.dtype]


def _grey(image: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The grey image (a view for mono frames) and the full-scale level of its dtype."""
    channels, full = _layout(image)
    return (image.reshape(image.shape[:2]) if channels == 1 else cv2.cvtColor(image, _TO_GREY[channels], dst=out)), full


def _tenengrad(grey: np.ndarray, buffer: np.ndarray) -> float:
    """Mean squared 3x3 Sobel gradient magnitude in levels² (int16 buffers are exact for 8 bits, and faster)."""
    depth = cv2.CV_16S if buffer.dtype == np.int16 else cv2.CV_32F
    return sum(cv2.norm(cv2.Sobel(grey, depth, dx, 1 - dx, dst=buffer), cv2.NORM_L2SQR) for dx in (0, 1)) / grey.size


class HealthMeter:
    """Measures frames, reusing its buffers between frames of one size and dtype (one meter per thread)."""

    def __init__(self) -> None:
        self._grey = self._gradient = np.empty((0, 0))

    def measure(self, image: np.ndarray) -> HealthMetrics:
        height, width = image.shape[:2]
        if self._grey.shape != (height, width) or self._grey.dtype != image.dtype:
            self._grey = np.empty((height, width), image.dtype)
            self._gradient = np.empty((height, width), np.int16 if image.dtype == np.uint8 else np.float32)
        grey, full = _grey(image, self._grey)
        mean, std = (float(v[0, 0]) for v in cv2.meanStdDev(grey))
        depth = cv2.CV_16S if self._gradient.dtype == np.int16 else cv2.CV_32F
        laplacian = cv2.Laplacian(grey, depth, dst=self._gradient)
        focus = cv2.norm(laplacian, cv2.NORM_L2SQR) / grey.size - cv2.mean(laplacian)[0] ** 2
        tenengrad = _tenengrad(grey, self._gradient)
        small = cv2.resize(grey, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA)
        coarse = _tenengrad(small, np.empty(small.shape, self._gradient.dtype))  # 1/16 of the pixels: no reuse needed
        h5, w5 = height // 5, width // 5
        corners = sum(cv2.mean(c)[0] for c in (grey[:h5, :w5], grey[:h5, -w5:], grey[-h5:, :w5], grey[-h5:, -w5:])) / 4
        return HealthMetrics(
            brightness=mean / full,
            contrast=std / full,
            focus=focus / full**2,
            tenengrad=tenengrad / full**2,
            sharpness=tenengrad / max(coarse, 1e-12),
            uniformity=corners / max(cv2.mean(grey[2 * h5 : 3 * h5, 2 * w5 : 3 * w5])[0], 1.0),
        )


def measure(image: np.ndarray) -> HealthMetrics:
    """Health numbers of one mono, BGR or BGRA frame, 8 or 16 bits."""
    return HealthMeter().measure(image)


class HealthReference(CalibrationRecord):
    """What a healthy image looked like at calibration, and the flat-field gain map's file beside this record."""

    kind: Literal["health"] = "health"
    camera_serial: str = Field(description="serial number of the camera the reference frames came from")
    image_size: tuple[int, int] = Field(description="(width, height) of the frames in px")
    frames: int = Field(ge=1, description="how many reference frames the metrics average")
    metrics: HealthMetrics = Field(description="mean of each metric over the reference frames")
    spread: HealthMetrics = Field(description="standard deviation of each metric over the reference frames")
    flat_field_file: str | None = Field(default=None, pattern=r"^[\w.-]+\.npy$", description="the gain map's file")
    flat_field_sha256: str | None = Field(default=None, description="sha256 of the gain map file's bytes")


def _check_size(image: np.ndarray, size: tuple[int, int], what: str) -> None:
    if image.shape[:2] != (size[1], size[0]):
        got, want = f"{image.shape[1]}x{image.shape[0]}", f"{size[0]}x{size[1]}"
        raise ImageError(f"frame is {got} px but {what} is {want} px; recalibrate health for this camera setting")


def _npy_bytes(gain: np.ndarray) -> bytes:
    np.save(buffer := io.BytesIO(), np.ascontiguousarray(gain, np.float32), allow_pickle=False)
    return buffer.getvalue()


def flat_gain(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Gain = mean / local level of the mean grey frame smoothed over ~1% of its size, clipped to GAIN_RANGE;
    one map for all channels, as vignetting and light fall-off are grey (per channel needs a colour target)."""
    total = np.zeros(frames[0].shape[:2], np.float64)
    for frame in frames:
        cv2.accumulate(_grey(frame)[0], total)
    mean = (total / len(frames)).astype(np.float32)
    smooth = cv2.GaussianBlur(mean, (0, 0), max(mean.shape) / 100, borderType=cv2.BORDER_REPLICATE)
    return np.clip(float(smooth.mean()) / np.maximum(smooth, 1e-6), *GAIN_RANGE).astype(np.float32)


def build_reference(
    frames: Sequence[np.ndarray],
    camera_serial: str,
    flat_field: bool,
    *,
    flat_frames: Sequence[np.ndarray] = (),
    notes: str = "",
) -> tuple[HealthReference, np.ndarray | None]:
    """The reference from frames of good parts, and if asked the gain map from `flat_frames` (default `frames`):
    give those (a uniform target or the empty belt) when `frames` show parts, as the focus reference needs parts."""
    if not frames:
        raise CalibrationError("no reference frames; give frames of good parts under production light")
    sizes = sorted({(f.shape[1], f.shape[0]) for f in [*frames, *flat_frames]})
    if len(sizes) > 1:
        raise CalibrationError(f"the frames come in sizes {sizes} (width, height); use one camera setting")
    table = np.array([list(m.model_dump().values()) for m in map(HealthMeter().measure, frames)])
    stats = (table.mean(axis=0), table.std(axis=0))
    mean, spread = (HealthMetrics(**dict(zip(HealthMetrics.model_fields, row, strict=True))) for row in stats)
    if mean.brightness < 0.01:
        raise CalibrationError(f"the reference frames are black ({mean.brightness:.1%}); check light and lens cap")
    gain = flat_gain(flat_frames or frames) if flat_field else None
    record = HealthReference(
        camera_serial=camera_serial, image_size=sizes[0], frames=len(frames), metrics=mean, spread=spread, notes=notes
    )
    if gain is not None:  # named by its hash, which is known before the record's id is
        sha = hashlib.sha256(_npy_bytes(gain)).hexdigest()
        name = f"health-flat-field-{sha[:16]}.npy"
        record = record.model_copy(update={"flat_field_file": name, "flat_field_sha256": sha})
    return record, gain


def save_health(reference: HealthReference, gain: np.ndarray | None, folder: Path) -> Path:
    """Writes the gain map (named by its hash, so the record's id covers its name) and then the record."""
    if gain is not None or reference.flat_field_file is not None:
        data = b"" if gain is None else _npy_bytes(gain)
        if reference.flat_field_file is None or hashlib.sha256(data).hexdigest() != reference.flat_field_sha256:
            raise CalibrationError("this gain map is not the one the record was built with; rebuild the reference")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / reference.flat_field_file).write_bytes(data)
    return save_record(reference, folder)


def load_gain(reference: HealthReference, path: Path) -> np.ndarray:
    """The gain map of the record read from `path`, after checking the map's bytes against the record's hash."""
    if reference.flat_field_file is None:
        raise CalibrationError(f"health reference {path} has no flat field; calibrate health with --flat-field")
    gain_path = path.parent / reference.flat_field_file
    try:
        data = gain_path.read_bytes()
    except OSError as exc:
        raise CalibrationError(f"flat-field gain map {gain_path} of {path} cannot be read ({exc.strerror})") from None
    if hashlib.sha256(data).hexdigest() != reference.flat_field_sha256:
        raise CalibrationError(f"flat-field gain map {gain_path} does not match the sha256 in {path}; recalibrate")
    return np.asarray(np.load(io.BytesIO(data), allow_pickle=False), np.float32)


def load_health(path: Path) -> tuple[HealthReference, np.ndarray | None]:
    """The record and its gain map (checked against the record's hash), if it has one."""
    reference = load_record(path, HealthReference)
    return reference, None if reference.flat_field_file is None else load_gain(reference, path)


class FlatField:
    """Multiplies frames by a gain map: new array, same dtype and shape, saturating; alpha is left alone."""

    def __init__(self, gain: np.ndarray) -> None:
        if gain.ndim != 2 or not np.all(np.isfinite(gain)) or gain.min() <= 0:
            raise CalibrationError(f"a flat-field gain map is 2-D, finite and positive; got shape {gain.shape}")
        self.size = (gain.shape[1], gain.shape[0])
        self._gains: dict[int, np.ndarray] = {1: np.ascontiguousarray(gain, np.float32)}  # per channel count

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _check_size(image, self.size, "the flat-field gain map")
        channels = _layout(image)[0]
        if channels not in self._gains:
            self._gains[channels] = cv2.merge([self._gains[1]] * 3 + [np.ones_like(self._gains[1])] * (channels - 3))
        gain = self._gains[channels].reshape(image.shape)
        return np.asarray(cv2.multiply(image, gain, dtype=cv2.CV_8U if image.dtype == np.uint8 else cv2.CV_16U))


class HealthLimits(StrictModel):
    """How far live frames may drift from the reference, as fractions of it (0.10 = 10%)."""

    brightness_warn: float = Field(default=0.10, gt=0, description="mean level change, up or down, that warns")
    brightness_fail: float = Field(default=0.25, gt=0, description="mean level change, up or down, that fails")
    contrast_warn: float = Field(default=0.15, gt=0, description="contrast change, up or down, that warns")
    contrast_fail: float = Field(default=0.35, gt=0, description="contrast change, up or down, that fails")
    focus_warn: float = Field(default=0.25, gt=0, le=1, description="sharpness drop that warns (rises are fine)")
    focus_fail: float = Field(default=0.50, gt=0, le=1, description="sharpness drop that fails (rises are fine)")
    uniformity_warn: float = Field(default=0.20, gt=0, description="corner/centre ratio change that warns")
    uniformity_fail: float = Field(default=0.40, gt=0, description="corner/centre ratio change that fails")
    every_n_frames: int = Field(default=10, ge=1, description="check one frame in this many (the others pass by)")
    consecutive: int = Field(default=3, ge=1, description="checks in a row that change the level (not one odd frame)")
    spread_allowance: float = Field(default=1.0, ge=0, description="reference spreads (std/mean) added to limits")

    @model_validator(mode="after")
    def _warn_below_fail(self) -> HealthLimits:
        for metric, (warn, fail) in ((m, self.levels(m)) for m in JUDGED):
            if warn >= fail:
                raise ValueError(f"{metric}_warn ({warn}) must be below {metric}_fail ({fail})")
        return self

    def levels(self, metric: str) -> tuple[float, float]:
        return float(getattr(self, f"{metric}_warn")), float(getattr(self, f"{metric}_fail"))


class HealthStatus(StrictModel):
    """The health level the station acts on, and why."""

    level: Level = Field(default="ok", description="after the `consecutive` debounce; what the station acts on")
    this_check: Level = Field(default="ok", description="the latest check alone, before the debounce")
    drift: dict[str, float] = Field(default_factory=dict, description="signed relative change per judged metric")
    problems: tuple[str, ...] = Field(default=(), description="one sentence per metric beyond its warn level")
    checks: int = Field(default=0, description="frames checked so far")
    metrics: HealthMetrics | None = Field(default=None, description="the latest frame's numbers")


def judge(metrics: HealthMetrics, ref: HealthReference, limits: HealthLimits) -> HealthStatus:
    """One frame's level, drift and problems (no debounce); limits widen by the spread seen at calibration."""
    live, base, spread = ({**m.model_dump(), "focus": m.sharpness} for m in (metrics, ref.metrics, ref.spread))
    drift, problems, worst = {}, [], 0
    for metric in JUDGED:
        drift[metric] = change = live[metric] / max(base[metric], 1e-12) - 1.0
        size = max(0.0, -change) if metric == "focus" else abs(change)
        allowance = limits.spread_allowance * spread[metric] / max(base[metric], 1e-12)
        warn, fail = (level + allowance for level in limits.levels(metric))
        rank = 2 if size >= fail else 1 if size >= warn else 0
        if rank:
            where = f"{'below' if change < 0 else 'above'} reference ({LEVELS[rank]} at {(warn, fail)[rank - 1]:.0%})"
            problems.append(f"{metric} {size:.0%} {where}: {REMEDIES[metric]}")
            worst = max(worst, rank)
    return HealthStatus(this_check=LEVELS[worst], drift=drift, problems=tuple(problems), metrics=metrics)


class HealthCheck:
    """Judges frames against a reference; the level moves (up or down) only when `consecutive` checks agree.

    Call `check` from one thread; others may read `status` (a frozen value, replaced whole)."""

    def __init__(self, reference: HealthReference, limits: HealthLimits | None = None) -> None:
        self.reference, self.limits = reference, limits or HealthLimits()
        self._meter, self._lock = HealthMeter(), threading.Lock()
        self._recent: deque[int] = deque(maxlen=self.limits.consecutive)
        self._status = HealthStatus()

    @property
    def status(self) -> HealthStatus:
        return self._status

    def check(self, image: np.ndarray) -> HealthStatus:
        _check_size(image, self.reference.image_size, f"health reference {self.reference.id or '(unsaved)'}")
        with self._lock:
            found = judge(self._meter.measure(image), self.reference, self.limits)
            self._recent.append(LEVELS.index(found.this_check))
            level = LEVELS.index(self._status.level)
            if len(self._recent) == self._recent.maxlen:  # all of them above: up to their least; all below: down
                level = min(max(level, min(self._recent)), max(self._recent))
            self._status = found.model_copy(update={"level": LEVELS[level], "checks": self._status.checks + 1})
            return self._status
