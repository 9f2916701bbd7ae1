"""Builds the station's parts from its configuration."""

from __future__ import annotations

from calibration.correction import load_calibration
from inspection.config import StationConfig
from inspection.golden import require_golden
from inspection.inspector import Inspector
from inspection.runtime import ModelRuntime, SessionSettings


def load_runtime(config: StationConfig) -> ModelRuntime:
    m = config.model
    runtime = ModelRuntime.load(m.path, m.card, SessionSettings(m.intra_op_threads, m.graph_optimization))
    if m.verify_golden:
        require_golden(runtime)
    if config.preprocess.roi is not None:
        runtime.use_roi(config.preprocess.roi)
    return runtime


def build_inspector(config: StationConfig, runtime: ModelRuntime | None = None) -> Inspector:
    runtime = runtime or load_runtime(config)
    calibration = load_calibration(config.calibration)
    return Inspector(runtime, config.thresholds.resolve(runtime.card), config.station_id, calibration)
