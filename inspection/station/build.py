"""Assembles a station from its configuration and runs it until told to stop."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from camera.factory import build_source
from camera.genicam.source import GenicamSource
from inspection.config import StationConfig
from inspection.config.camera import GenicamSourceConfig
from inspection.factory import build_inspector
from inspection.inspector import Inspector
from inspection.station.accounting import Snapshot
from inspection.station.endpoint import Endpoint
from inspection.station.images import ImageStore
from inspection.station.pipeline import Station, StationOptions
from inspection.station.store import DecisionStore

DATABASE = "station.db"
IMAGES = "images"
log = logging.getLogger(__name__)


def build_inspectors(config: StationConfig) -> list[Inspector]:
    """One model session per worker (their buffers are not shared); the cores split between them."""
    workers = config.pipeline.workers
    threads = max(1, config.model.intra_op_threads // workers)
    first = build_inspector(config.with_model(intra_op_threads=threads))
    rest = [
        build_inspector(config.with_model(intra_op_threads=threads, verify_golden=False)) for _ in range(workers - 1)
    ]
    return [first, *rest]  # the golden check ran once; the others load the very same file (same sha256)


def one_part_per_frame(config: StationConfig) -> bool:
    camera = config.camera
    return not isinstance(camera, GenicamSourceConfig) or camera.trigger.mode != "free_run"


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM ask for a clean stop: in-flight parts decided, the store flushed."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_station(config: StationConfig, stop: threading.Event, max_parts: int | None = None) -> Snapshot:
    inspectors = build_inspectors(config)  # model problems stop start-up before anything is opened
    store = DecisionStore(config.storage.data_dir / DATABASE)
    images: ImageStore | None = None
    try:
        images = ImageStore(config.storage.data_dir / IMAGES, config.storage.images)
        with build_source(config.camera, config.station_id) as source:
            features = source.features if isinstance(source, GenicamSource) else {}
            options = StationOptions(
                station_id=config.station_id,
                latency_budget_ms=config.pipeline.latency_budget_ms,
                queue_frames=config.pipeline.queue_frames,
                one_part_per_frame=one_part_per_frame(config),
                camera_snapshot=json.dumps(features, sort_keys=True),
                camera_silence_s=config.monitoring.camera_silence_s,
                policy=config.policy,
            )
            station = Station(options, source, inspectors, store, images=images)
            if config.monitoring.port is None:
                return station.run(stop, max_parts)
            with Endpoint(station.monitor, config.monitoring.host, config.monitoring.port) as endpoint:
                log.info("metrics and health on http://%s:%d/", config.monitoring.host, endpoint.port)
                return station.run(stop, max_parts)
    finally:
        if images is not None:
            images.close()
        store.close()
