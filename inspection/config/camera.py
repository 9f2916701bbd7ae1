"""Which frame source feeds the station: one of a discriminated union, chosen by `kind`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag

from inspection.config.kinds import kind_or
from inspection.config.paths import ConfigPath
from inspection.strict import StrictModel


class SimulatedSourceConfig(StrictModel):
    kind: Literal["simulated"] = "simulated"
    parts_per_minute: float = Field(default=600.0, gt=0, le=60_000, description="line rate")
    defect_rate: float = Field(default=0.1, ge=0, le=1, description="share of defective parts")
    seed: int = Field(default=2_000_000_000, ge=0, description="renderer seed of the first part")
    pool_size: int = Field(
        default=64, ge=0, le=10_000, description="parts rendered at start and cycled; 0 renders every part live"
    )


class FolderSourceConfig(StrictModel):
    kind: Literal["folder"] = "folder"
    path: ConfigPath = Field(description="folder of images, read recursively in name order")
    rate_hz: float | None = Field(default=None, gt=0, description="frames per second; none = as fast as read")
    loop: bool = Field(default=False, description="start again after the last file")


class DeviceSelector(StrictModel):
    """Which camera: the first field set wins, in this order; none set means the first camera found."""

    serial: str | None = Field(default=None, description="device serial number")
    user_name: str | None = Field(default=None, description="user-defined name stored in the camera")
    model: str | None = Field(default=None, description="model name; the first camera of that model")
    index: int = Field(default=0, ge=0, description="position in discovery order when nothing else is set")


class TriggerConfig(StrictModel):
    mode: Literal["free_run", "software", "hardware"] = Field(
        default="free_run", description="free_run: the camera paces itself; software/hardware: one frame per trigger"
    )
    line: str = Field(default="Line0", description="TriggerSource for hardware triggers")
    activation: str = Field(default="RisingEdge", description="TriggerActivation for hardware triggers")
    miss_timeout_s: float = Field(
        default=0.5, gt=0, le=60, description="a software trigger without a frame by then is reported as a miss"
    )


FeatureValue = bool | int | float | str


class GenicamSourceConfig(StrictModel):
    """A GenTL camera through harvesters; acquisition runs in a supervised child process."""

    kind: Literal["genicam"] = "genicam"
    producers: list[ConfigPath] = Field(
        default_factory=list,
        description="GenTL producer (.cti) files; GENICAM_GENTL64_PATH and the bundled viky.cti are added",
    )
    device: DeviceSelector = Field(default_factory=DeviceSelector, description="which camera")
    pixel_format: str | None = Field(default=None, description="PixelFormat; none keeps the camera's")
    width: int | None = Field(default=None, gt=0, description="Width in pixels")
    height: int | None = Field(default=None, gt=0, description="Height in pixels")
    offset_x: int | None = Field(default=None, ge=0, description="OffsetX in pixels")
    offset_y: int | None = Field(default=None, ge=0, description="OffsetY in pixels")
    exposure_us: float | None = Field(default=None, gt=0, description="ExposureTime in microseconds")
    gain_db: float | None = Field(default=None, description="Gain in dB")
    frame_rate_hz: float | None = Field(default=None, gt=0, description="AcquisitionFrameRate")
    trigger: TriggerConfig = Field(default_factory=TriggerConfig, description="free-run or triggered")
    features: dict[str, FeatureValue] = Field(
        default_factory=dict, description="further node-map features, applied last in the order written"
    )
    buffers: int = Field(default=16, ge=2, le=1024, description="GenTL buffers queued to the producer")
    ring_slots: int = Field(default=32, ge=4, le=4096, description="frames the hand-over ring to the station holds")
    fetch_timeout_s: float = Field(default=0.2, gt=0, le=10, description="longest single wait for a buffer")
    stall_timeout_s: float = Field(
        default=3.0, gt=0, le=600, description="free-run: no frame for this long is a fault, and a reconnect"
    )
    hang_timeout_s: float = Field(
        default=5.0, gt=0, le=600, description="an acquisition process silent this long is killed and restarted"
    )
    backoff_s: tuple[float, float] = Field(
        default=(0.5, 10.0), description="first and longest wait between reconnect attempts"
    )


SourceConfig = Annotated[
    Annotated[SimulatedSourceConfig, Tag("simulated")]
    | Annotated[FolderSourceConfig, Tag("folder")]
    | Annotated[GenicamSourceConfig, Tag("genicam")],
    Discriminator(
        kind_or("simulated"),  # a [camera] section without `kind` is the simulated line
        custom_error_type="camera_kind",
        custom_error_message="camera.kind must be 'simulated' (the default), 'folder' or 'genicam'",
    ),
]
