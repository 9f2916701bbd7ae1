"""What the station tells the plant about itself: Prometheus metrics and a health verdict.

Counters are read from one consistent `Accounting` snapshot at scrape time, so the exported
`acquired`, `decided`, `dropped` and `in_flight` always balance, as they do inside.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from inspection.contracts import Decision
from inspection.station.accounting import Accounting

BUCKETS_S = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Health:
    camera: str  # "ok" or what is wrong
    model: str
    store: str
    link: str
    image: str = "not configured"  # image health against the calibration reference: ok, warn: .., fail: ..
    gate: str = "not configured"  # ok, or "cannot reject: <why>" until an operator resets it

    @property
    def healthy(self) -> bool:
        """A warning is reported but still healthy: the line runs while someone looks."""
        return all(value in ("ok", "not configured") or value.startswith("warn") for value in asdict(self).values())

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "healthy": self.healthy}


class StationMonitor(Collector):
    """Owns the station's registry: counters from `Accounting`, latency histograms, queue depth."""

    def __init__(
        self,
        accounting: Accounting,
        info: dict[str, str],
        queue_depth: Callable[[], int],
        store_problem: Callable[[], str | None],
        camera_silence_s: float,
    ) -> None:
        self.accounting = accounting
        self.info = info
        self.queue_depth = queue_depth
        self.store_problem = store_problem
        self.camera_silence_s = camera_silence_s
        self.link_problem: Callable[[], str | None] | None = None  # set when a review link is configured
        self.image_problem: Callable[[], str] | None = None  # set when an image-health reference is configured
        self.review_counts: Callable[[], dict[str, int]] = dict
        self.gate_counts: Callable[[], dict[str, int]] = dict  # set when a gate scheduler runs: outcome -> parts
        self.gate_alarms: Callable[[], dict[str, int]] = dict  # kind -> alarms raised
        self.gate_state: Callable[[], str | None] | None = None  # why the gate cannot reject; None: it can
        self.gate_resets: Callable[[], dict[str, int]] = dict  # operator resets: accepted / refused
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "inspection_stage_latency_seconds",
            "Time per stage of a decided part; 'capture_to_decision' is end to end",
            ["stage"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(self)
        self._lock = threading.Lock()
        self._last_frame = time.monotonic()
        self._last_fault: str | None = None
        self._fps_mark = (time.monotonic(), 0)

    # -- fed by the station ---------------------------------------------------------------

    def decided(self, decision: Decision) -> None:
        for stage, ms in decision.latency_ms.items():
            self.latency.labels(stage).observe(ms / 1e3)

    def frame(self) -> None:
        self._last_frame = time.monotonic()
        self._last_fault = None

    def fault(self, reason: str) -> None:
        self._last_fault = reason

    # -- read by the endpoint -------------------------------------------------------------

    def health(self) -> Health:
        silent_s = time.monotonic() - self._last_frame
        if self._last_fault is not None:
            camera = f"fault: {self._last_fault}"
        elif silent_s > self.camera_silence_s:
            camera = f"no frame for {silent_s:.1f} s"
        else:
            camera = "ok"
        snapshot = self.accounting.snapshot()
        errors = snapshot.failsafe["model_error"] + snapshot.failsafe["internal_error"]
        model = "ok" if not errors else f"{errors} model errors since start"
        link = "not configured" if self.link_problem is None else (self.link_problem() or "ok")
        image = "not configured" if self.image_problem is None else self.image_problem()
        gate = "not configured"
        if self.gate_state is not None:
            gate = "ok" if (why := self.gate_state()) is None else f"cannot reject: {why}"
        return Health(camera, model, self.store_problem() or "ok", link, image, gate)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily]:
        s = self.accounting.snapshot()
        yield InfoMetricFamily("inspection_station", "Station, model and thresholds in use", value=self.info)
        yield CounterMetricFamily("inspection_frames_acquired", "Frames (parts) the camera delivered", value=s.acquired)
        decided = CounterMetricFamily("inspection_parts_decided", "Parts decided, by verdict", labels=["verdict"])
        for verdict in ("pass", "reject", "uncertain", "failsafe"):
            decided.add_metric([verdict], s.decided[verdict])
        yield decided
        failsafe = CounterMetricFamily("inspection_failsafe", "Fail-safe decisions, by reason", labels=["reason"])
        for reason, count in sorted(s.failsafe.items()):
            failsafe.add_metric([reason], count)
        yield failsafe
        dropped = CounterMetricFamily("inspection_frames_dropped", "Frames that never became parts", labels=["reason"])
        for reason, count in sorted(s.dropped.items()):
            dropped.add_metric([reason], count)
        yield dropped
        yield CounterMetricFamily("inspection_camera_faults", "Camera faults reported by the source", value=s.faults)
        yield CounterMetricFamily(
            "inspection_late_results", "Model results after the part's deadline", value=s.late_results
        )
        yield GaugeMetricFamily("inspection_parts_in_flight", "Parts acquired and not yet decided", value=s.in_flight)
        yield GaugeMetricFamily(
            "inspection_queue_depth", "Frames waiting for an inference worker", value=self.queue_depth()
        )
        yield GaugeMetricFamily(
            "inspection_camera_fps", "Frames per second since the last scrape", value=self._fps(s.acquired)
        )
        review = CounterMetricFamily(
            "inspection_review", "Parts that waited for a human, by outcome (waiting is a gauge)", labels=["outcome"]
        )
        for outcome, count in sorted(self.review_counts().items()):
            review.add_metric([outcome], count)
        yield review
        gate = CounterMetricFamily("inspection_gate", "Parts at the reject gate, by outcome", labels=["outcome"])
        for outcome, count in sorted(self.gate_counts().items()):
            gate.add_metric([outcome], count)
        yield gate
        alarms = CounterMetricFamily("inspection_gate_alarms", "Gate alarms raised, by kind", labels=["kind"])
        for kind, count in sorted(self.gate_alarms().items()):
            alarms.add_metric([kind], count)
        yield alarms
        resets = CounterMetricFamily(
            "inspection_gate_resets", "Operator resets of 'cannot reject', by result", labels=["result"]
        )
        for result in ("accepted", "refused"):
            resets.add_metric([result], self.gate_resets().get(result, 0))
        yield resets
        health = self.health()  # once per scrape: the gauges describe the same moment
        image = health.image
        yield GaugeMetricFamily(
            "inspection_image_health",
            "Image against its calibration reference: 0 ok (or not configured), 1 warn, 2 fail",
            value=2 if image.startswith("fail") else int(image.startswith("warn")),
        )
        yield GaugeMetricFamily(
            "inspection_gate_cannot_reject",
            "1 while the station cannot reject (line stop set), until an operator resets it",
            value=int(health.gate.startswith("cannot reject")),
        )
        yield GaugeMetricFamily(
            "inspection_healthy",
            "1 when camera, model, store, link, image and gate are healthy",
            value=int(health.healthy),
        )

    def _fps(self, acquired: int) -> float:
        with self._lock:
            then, count = self._fps_mark
            now = time.monotonic()
            self._fps_mark = (now, acquired)
        return (acquired - count) / (now - then) if now > then else 0.0
