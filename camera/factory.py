"""Builds the configured frame source: one `match` over the config union."""

from __future__ import annotations

from camera.folder import FolderSource
from camera.genicam.source import GenicamSource
from camera.simulated import SimulatedLine
from camera.source import FrameSource
from inspection.config.camera import FolderSourceConfig, GenicamSourceConfig, SimulatedSourceConfig, SourceConfig


def build_source(config: SourceConfig, source_id: str) -> FrameSource:
    match config:
        case SimulatedSourceConfig():
            return SimulatedLine(
                config.parts_per_minute,
                defect_rate=config.defect_rate,
                seed=config.seed,
                pool_size=config.pool_size,
                source_id=source_id,
            )
        case FolderSourceConfig():
            return FolderSource(config.path, config.rate_hz, config.loop, source_id=source_id)
        case GenicamSourceConfig():
            return GenicamSource(config, source_id)
