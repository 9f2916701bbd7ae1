"""What the station's calibration files do to every part: frames corrected, regions measured in mm.

Replay and the inline station decide through the same `Inspector`, and the inspector applies this,
so an archive replayed with a station's config is corrected and measured exactly as on the line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calibration.health import FlatField, HealthReference, load_gain
from calibration.intrinsics import CameraCalibration
from calibration.record import CalibrationError, load_record
from calibration.scale import ScaleCalibration
from calibration.undistort import Undistorter
from inspection.config.calibration import CalibrationConfig
from inspection.contracts import Region

Correction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FrameCalibration:
    id: str | None  # the ids of the files in use, recorded with every decision
    corrections: tuple[Correction, ...] = ()  # flat field first (it is a map of the raw sensor), then undistortion
    scale: ScaleCalibration | None = None

    def correct(self, image: np.ndarray) -> np.ndarray:
        """A corrected copy (it is kept with the decision), or the frame itself when nothing is configured."""
        for correction in self.corrections:
            image = correction(image)
        return image

    def measure(self, region: Region) -> Region:
        """The region with its size on the part in mm and mm², once a scale is known."""
        if self.scale is None:
            return region
        return region.model_copy(
            update={
                "width_mm": round(self.scale.length_mm(region.width), 3),
                "height_mm": round(self.scale.length_mm(region.height), 3),
                "area_mm2": round(self.scale.area_mm2(region.area_px), 3),
            }
        )


NONE = FrameCalibration(None)


def load_calibration(config: CalibrationConfig) -> FrameCalibration:
    """Loads and cross-checks the configured files; maps are computed here, once, not per frame."""
    ids: list[str] = []
    corrections: list[Correction] = []
    camera: CameraCalibration | None = None
    if config.health is not None and config.health.flat_field:
        reference = load_record(config.health.reference, HealthReference)
        corrections.append(FlatField(load_gain(reference, config.health.reference)))
        ids.append(reference.id)
    if config.camera is not None:
        camera = load_record(config.camera, CameraCalibration)
        corrections.append(Undistorter(camera))
        ids.append(camera.id)
    scale = None
    if config.scale is not None:
        scale = load_record(config.scale, ScaleCalibration)
        _check_scale(scale, camera, config)
        ids.append(scale.id)
    return FrameCalibration("+".join(ids) or None, tuple(corrections), scale)


def _check_scale(scale: ScaleCalibration, camera: CameraCalibration | None, config: CalibrationConfig) -> None:
    """A scale holds only for images corrected the way they were when it was measured."""
    camera_id = None if camera is None else camera.id
    if scale.camera_calibration_id == camera_id:
        return
    measured = (
        "raw images" if scale.camera_calibration_id is None else f"images undistorted by {scale.camera_calibration_id}"
    )
    used = "raw images" if camera_id is None else f"images undistorted by {camera_id} ({config.camera})"
    raise CalibrationError(
        f"scale file {config.scale} was measured on {measured}, but the station decides on {used}; "
        "re-run `inspection calibrate scale` with the station's camera calibration (--camera)"
    )
