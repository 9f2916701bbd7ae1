"""Which calibration files the station uses, and what it does when the image drifts from them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from calibration.health import HealthLimits
from inspection.config.paths import ConfigPath
from inspection.strict import StrictModel


class HealthConfig(StrictModel):
    """Live frames compared with the image-health reference taken at calibration."""

    reference: ConfigPath = Field(description="health reference file from `inspection calibrate health`")
    limits: HealthLimits = Field(default_factory=HealthLimits, description="drift that warns, and drift that fails")
    on_fail: Literal["failsafe", "alarm"] = Field(
        default="failsafe",
        description="failsafe: parts are decided failsafe 'image_health' while the image fails; alarm: only report",
    )
    flat_field: bool = Field(default=False, description="apply the reference's flat-field gain map to every frame")


class GoldenConfig(StrictModel):
    """Known good and known bad samples the station must judge right before production starts."""

    folder: ConfigPath = Field(description="golden images in good/ and defect/ subfolders (names as in replay)")
    margin: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="a golden score must clear its threshold by this much"
    )


class CalibrationConfig(StrictModel):
    camera: ConfigPath | None = Field(
        default=None, description="camera calibration file from `inspection calibrate camera`: frames are undistorted"
    )
    scale: ConfigPath | None = Field(
        default=None, description="scale file from `inspection calibrate scale`: defect sizes in mm and mm²"
    )
    health: HealthConfig | None = Field(default=None, description="image-health check of live frames")
    golden: GoldenConfig | None = Field(
        default=None, description="golden samples checked at start-up; production mode refuses to start on a miss"
    )
