"""Which frame source feeds the station: one of a discriminated union, chosen by `kind`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

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


SourceConfig = Annotated[SimulatedSourceConfig | FolderSourceConfig, Field(discriminator="kind")]
