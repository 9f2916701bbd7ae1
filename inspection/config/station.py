"""The configuration tree. Every model forbids unknown keys and describes every field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from inspection.config.actuation import ActuatorConfig
from inspection.config.calibration import CalibrationConfig
from inspection.config.camera import SimulatedSourceConfig, SourceConfig
from inspection.config.paths import ConfigPath
from inspection.config.review import LinkConfig, ReviewConfig
from inspection.model_card import ModelCard, Roi, Thresholds
from inspection.paths import BUNDLED_MODEL
from inspection.strict import StrictModel


class ModelConfig(StrictModel):
    path: ConfigPath = Field(default=BUNDLED_MODEL, description="ONNX model file")
    card: ConfigPath | None = Field(default=None, description="model card; default: <model>.card.json beside it")
    intra_op_threads: int = Field(default=2, ge=1, le=64, description="onnxruntime threads per model session")
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field(
        default="all", description="onnxruntime graph optimisation level"
    )
    verify_golden: bool = Field(
        default=True, description="re-score the card's golden images at load and refuse a model that drifted"
    )


class PreprocessConfig(StrictModel):
    roi: Roi | None = Field(default=None, description="crop overriding the card's, when the camera sits differently")


class ThresholdsConfig(StrictModel):
    """Overrides of the card's default thresholds; a changed pair needs its own version."""

    file: ConfigPath | None = Field(
        default=None, description="thresholds file from `inspection calibrate thresholds` (its id is the version)"
    )
    version: str | None = Field(default=None, description="name of this threshold set, recorded with every decision")
    pass_below: float | None = Field(default=None, ge=0.0, le=1.0, description="scores below this pass")
    reject_above: float | None = Field(default=None, ge=0.0, le=1.0, description="scores at or above this reject")
    region_threshold: float | None = Field(default=None, gt=0.0, lt=1.0, description="map value of a defect pixel")

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdsConfig:
        if self.pass_below is not None and self.reject_above is not None and self.pass_below > self.reject_above:
            raise ValueError(f"pass_below ({self.pass_below}) must be <= reject_above ({self.reject_above})")
        changed = (self.pass_below, self.reject_above, self.region_threshold) != (None, None, None)
        if self.file is not None and (changed or self.version):
            raise ValueError("a thresholds file sets the thresholds and their version; remove the other keys")
        if changed and not self.version:
            raise ValueError("overriding thresholds needs a version, so decisions can be traced to them")
        return self

    def resolve(self, card: ModelCard) -> Thresholds:
        """The thresholds file's, or the card's with these overrides applied (validated again as a pair)."""
        if self.file is not None:
            from calibration.thresholds_file import load_thresholds  # noqa: PLC0415 - only configs that use one

            return load_thresholds(self.file, card.sha256)
        overrides = {k: v for k, v in self.model_dump(exclude={"file"}).items() if v is not None}
        return Thresholds.model_validate({**card.thresholds.model_dump(), **overrides})


class RetentionConfig(StrictModel):
    """Which part images the station keeps: every reject, uncertain and failsafe; 1 in N passes."""

    keep_pass_every: int = Field(default=100, ge=1, description="keep the image of every Nth passed part")
    max_disk_mb: float = Field(default=10_000, gt=0, description="cap on image storage; oldest passes go first")
    low_disk_mb: float = Field(default=1_000, ge=0, description="free space under which /healthz reports low disk")
    queue_images: int = Field(default=64, ge=1, le=10_000, description="images waiting to be written")


class StorageConfig(StrictModel):
    data_dir: ConfigPath = Field(default=Path("data"), description="folder for the database, images and reports")
    images: RetentionConfig = Field(default_factory=RetentionConfig, description="image retention")


class PipelineConfig(StrictModel):
    """How the inline station runs: budget, parallelism and how much it may queue."""

    latency_budget_ms: float = Field(
        default=250.0, gt=0, le=60_000, description="capture to decision; a part not decided by then is failsafe"
    )
    workers: int = Field(default=2, ge=1, le=64, description="inference workers, each with its own model session")
    queue_frames: int = Field(
        default=4, ge=1, le=1024, description="frames waiting for a worker; one more is failsafe 'overload'"
    )


class PolicyConfig(StrictModel):
    """What each verdict makes the reject gate do (DESIGN.md: policy per verdict)."""

    reject: Literal["auto", "confirm"] = Field(
        default="auto", description="auto: reject at the gate; confirm: a human must confirm first"
    )
    uncertain: Literal["review", "auto"] = Field(
        default="review", description="review: a human decides; auto: reject at the gate without asking"
    )
    failsafe_action: Literal["reject", "divert", "stop_line"] = Field(
        default="reject", description="taken for failsafe parts, and when no human answers before the gate"
    )
    gate_delay_ms: float = Field(
        default=2_000.0, gt=0, description="capture to reject gate at line speed (encoder tracking comes later)"
    )


class MonitoringConfig(StrictModel):
    """Where the station serves /metrics (Prometheus) and /healthz."""

    host: str = Field(default="127.0.0.1", description="address to listen on; 0.0.0.0 to reach it from the plant net")
    port: int | None = Field(default=9180, ge=0, le=65535, description="HTTP port; none disables it, 0 picks one")
    camera_silence_s: float = Field(
        default=2.0, gt=0, description="a running camera without frames for this long is unhealthy"
    )


class StationConfig(StrictModel):
    mode: Literal["commissioning", "production"] = Field(
        default="commissioning",
        description="production refuses to start without golden samples judged right (calibration.golden)",
    )
    station_id: str = Field(
        default="station-1", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="unique name of this station"
    )
    camera: SourceConfig = Field(default_factory=SimulatedSourceConfig, description="where frames come from")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the defect model")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig, description="image preparation")
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig, description="decision thresholds")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="where records are kept")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="inline station concurrency")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="verdict -> gate action")
    actuator: ActuatorConfig = Field(default_factory=ActuatorConfig, description="the reject gate and its driver")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig, description="metrics and health endpoint")
    link: LinkConfig = Field(default_factory=LinkConfig, description="the station's link to the review server")
    review: ReviewConfig = Field(default_factory=ReviewConfig, description="the review server")
    calibration: CalibrationConfig = Field(
        default_factory=CalibrationConfig, description="camera geometry, scale, image health, golden samples"
    )

    @model_validator(mode="after")
    def _production_has_golden(self) -> StationConfig:
        if self.mode == "production" and self.calibration.golden is None:
            raise ValueError(
                "mode = production needs calibration.golden (a folder of known good and bad samples checked at "
                "start-up); add it, or use mode = commissioning while setting the station up"
            )
        return self

    @property
    def keys_dir(self) -> Path:
        return self.link.keys_dir or self.storage.data_dir / "keys"

    def with_model(self, **changes: object) -> StationConfig:
        """This config with some model settings changed (command-line overrides, worker threads)."""
        return self.model_copy(update={"model": self.model.model_copy(update=changes)})
