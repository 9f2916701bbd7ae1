"""Assembles a station from its configuration and runs it until told to stop."""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from calibration.golden_report import save_report
from calibration.golden_set import judge_golden, require_golden
from camera.factory import build_source
from camera.genicam.source import GenicamSource
from inspection.actuation.build import drain_s, gate_policy
from inspection.actuation.logging_gate import LoggingGate
from inspection.actuation.process import GateProcess, start_gate
from inspection.actuation.reset import GateReset
from inspection.actuation.self_test import require_recent
from inspection.config import StationConfig
from inspection.config.camera import GenicamSourceConfig
from inspection.errors import GoldenSampleError
from inspection.factory import build_inspector
from inspection.inspector import Inspector
from inspection.library_threads import one_thread_per_call
from inspection.link.keys import SERVER, authorize_station, ensure_keypair, load_public
from inspection.link.messages import HealthMessage, SettingsMessage
from inspection.link.station_link import LinkKeys, StationLink
from inspection.station.accounting import Snapshot
from inspection.station.endpoint import Endpoint
from inspection.station.image_health import ImageHealthWatch, start_watch
from inspection.station.images import ImageStore
from inspection.station.pipeline import Station, StationOptions
from inspection.station.review_gate import ReviewGate
from inspection.station.settings import apply_settings, current_settings
from inspection.station.store import DecisionStore
from inspection.timebase import utc_now_text

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


def check_golden(config: StationConfig, inspector: Inspector) -> None:
    """Production refuses to start when a golden sample is misjudged; commissioning only warns."""
    golden = config.calibration.golden
    if golden is None:
        return
    report = judge_golden(golden.folder, inspector, golden.margin)
    thresholds = inspector.thresholds
    path, _ = save_report(report, config.storage.data_dir / "golden", thresholds.pass_below, thresholds.reject_above)
    if report.ok:
        log.info("golden check passed: %s (%s)", report.summary(), path)
    elif config.mode == "production":
        try:
            require_golden(report)
        except GoldenSampleError as exc:
            raise GoldenSampleError(f"{exc} (report: {path})") from None
    else:
        log.warning("commissioning mode starts although the golden check failed: %s (%s)", report.summary(), path)


def run_station(
    config: StationConfig, stop: threading.Event, max_parts: int | None = None, max_seconds: float | None = None
) -> Snapshot:
    one_thread_per_call()  # the workers are the station's parallelism
    inspectors = build_inspectors(config)  # model problems stop start-up before anything is opened
    check_golden(config, inspectors[0])
    require_recent(config.storage.data_dir / DATABASE, config.actuator.self_test_max_age_h)
    store = DecisionStore(config.storage.data_dir / DATABASE)
    images: ImageStore | None = None
    actuator: GateProcess | LoggingGate | None = None
    review: ReviewGate | None = None
    link: StationLink | None = None
    health: ImageHealthWatch | None = None
    policy = gate_policy(config.actuator, config.policy)
    try:
        health = start_watch(config.calibration.health)
        actuator = start_gate(config.actuator, store.put_actuation)
        images = ImageStore(config.storage.data_dir / IMAGES, config.storage.images)
        keys = link_keys(config) if config.link.server else None
        if keys is not None:
            review = ReviewGate(config.station_id, store, actuator)
            review.restore()
        # Start-up's objects (model sessions, config, modules) live as long as the run. Frozen, the
        # collector's full passes skip them: one unfrozen gen-2 pass held the GIL for 40 ms in a 60 s
        # `inspection bench` run, stalling every worker's part behind it (p99 at half load 11 -> 23 ms).
        # Collected before the camera starts, so that the collection itself delays no frame.
        gc.collect()
        gc.freeze()
        with build_source(config.camera, config.station_id) as source:
            features = source.features if isinstance(source, GenicamSource) else {}
            options = StationOptions(
                station_id=config.station_id,
                latency_budget_ms=config.pipeline.latency_budget_ms,
                queue_frames=config.pipeline.queue_frames,
                one_part_per_frame=one_part_per_frame(config),
                camera_snapshot=store.put_camera_snapshot(json.dumps(features, sort_keys=True)),
                camera_silence_s=config.monitoring.camera_silence_s,
                policy=policy,
                review_margin_ms=config.link.review_margin_ms,
            )
            station = Station(
                options, source, inspectors, store, images=images, actuator=actuator, review=review, health=health
            )
            gate = actuator
            station.monitor.gate_counts = lambda: dict(gate.counts)
            station.monitor.gate_alarms = lambda: dict(gate.alarms)
            station.monitor.gate_state = lambda: gate.cannot_reject
            reset = GateReset(gate if isinstance(gate, GateProcess) else None, config.storage.data_dir / DATABASE)
            station.monitor.gate_resets = lambda: dict(reset.counts)
            if (latest := store.latest_settings()) is not None:
                apply_settings(station, latest)  # a supervisor's change outlives a restart
            if review is not None and keys is not None and config.link.server:
                link = start_link(config, keys, store, review, station)
            if config.monitoring.port is None:
                return station.run(stop, max_parts, max_seconds)
            with Endpoint(station.monitor, config.monitoring.host, config.monitoring.port, reset) as endpoint:
                log.info("metrics and health on http://%s:%d/", config.monitoring.host, endpoint.port)
                return station.run(stop, max_parts, max_seconds)
    finally:
        gc.unfreeze()
        if health is not None:
            health.close()
        if review is not None:
            review.close()
        if actuator is not None:
            actuator.close(drain_s(config.actuator, policy))
        if link is not None:
            link.close()
        if images is not None:
            images.close()
        store.close()


def link_keys(config: StationConfig) -> LinkKeys:
    """This station's key pair, and the server's public key (on one PC, from the shared keys folder)."""
    keys_dir = config.keys_dir
    public, secret = ensure_keypair(keys_dir, config.station_id)
    authorize_station(keys_dir, config.station_id)
    if config.link.server_key is not None:
        return LinkKeys(public, secret, load_public(config.link.server_key))
    server_public, _ = ensure_keypair(keys_dir, SERVER)  # the embedded default: server and station share a PC
    return LinkKeys(public, secret, server_public)


def start_link(
    config: StationConfig, keys: LinkKeys, store: DecisionStore, review: ReviewGate, station: Station
) -> StationLink:
    assert config.link.server is not None
    monitor = station.monitor

    def change_settings(message: SettingsMessage) -> int:
        apply_settings(station, message.settings)
        return store.put_settings(message)

    def health() -> HealthMessage:
        state = monitor.health()
        snapshot = monitor.accounting.snapshot()
        problems = tuple(f"{k}: {v}" for k, v in state.as_dict().items() if v not in ("ok", "not configured", True))
        counters = {"acquired": snapshot.acquired, **{f"decided_{k}": v for k, v in snapshot.decided.items()}}
        return HealthMessage(
            id=uuid.uuid4().hex,
            station_id=config.station_id,
            utc=utc_now_text(),
            healthy=state.camera == "ok" and state.model == "ok" and state.store == "ok",
            problems=problems,
            counters=counters,
            settings=current_settings(station),
        )

    link = StationLink(
        config.link.server,
        config.station_id,
        keys,
        store=store,
        on_verdict=review.verdict,
        on_settings=change_settings,
        health=health,
        resend_s=config.link.resend_s,
    ).start()
    monitor.link_problem = lambda: link.problem
    monitor.review_counts = lambda: {
        "human": review.human,
        "failsafe": review.failsafe,
        "late": review.late,
        "waiting": review.waiting,
    }
    log.info("review link to %s", config.link.server)
    return link
