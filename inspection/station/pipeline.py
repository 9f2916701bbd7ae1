"""The inline pipeline: source -> bounded queue -> N inference workers -> exactly one decision per part.

Acquisition runs in the caller's thread and never blocks on a worker: a frame that finds the
queue full is decided `failsafe`/`overload` on the spot. A watchdog decides every part whose
deadline passes `failsafe`/`deadline`, whatever stage it is stuck in; a worker's result that
arrives after that is counted as late and dropped, so no part is ever decided twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camera.frames import EndOfStream, Fault, Frame, Gap
from camera.source import FrameSource
from inspection.config.station import PolicyConfig
from inspection.contracts import Decision
from inspection.decide import Judgement, failsafe
from inspection.inspector import Inspector
from inspection.preprocess import roi_box
from inspection.station.accounting import Accounting, Snapshot
from inspection.station.announce import announce_decision
from inspection.station.image_health import ImageHealthWatch
from inspection.station.images import ImageStore
from inspection.station.monitoring import StationMonitor
from inspection.station.policy import Actuator, LoggingActuator, needs_human, route
from inspection.station.review_gate import ReviewGate
from inspection.station.store import DecisionStore

log = logging.getLogger(__name__)
READ_TIMEOUT_S = 0.05
WORKER_PREFIX = "inference-"  # the workers' thread names; `inspection bench` sums their CPU by it
WATCHDOG_IDLE_S = 1.0  # the watchdog's sleep with nothing in flight; a new part wakes it when due sooner


@dataclass(slots=True, eq=False)
class Part:
    seq: int
    part_id: str  # unique across restarts; the source's own name for it is kept beside it
    frame: Frame | None  # None for a part the camera never delivered
    captured_ns: int
    deadline_ns: int
    decided: bool = False


@dataclass
class StationOptions:
    station_id: str
    latency_budget_ms: float
    queue_frames: int
    one_part_per_frame: bool  # triggered camera, folder, simulation: a missing frame is a missing part
    camera_snapshot: str = ""  # id of the camera's applied features (a camera_snapshots row), on every decision
    camera_silence_s: float = 2.0  # a running camera without frames this long is unhealthy
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    review_margin_ms: float = 100.0  # a human verdict must arrive this long before the gate
    watchdog_period_s: float = field(default=0.005)  # how often a stopping station looks for the last parts


class Station:
    """Owns the worker and watchdog threads for one `run`; the store and source are the caller's."""

    def __init__(
        self,
        options: StationOptions,
        source: FrameSource,
        inspectors: list[Inspector],
        store: DecisionStore,
        *,
        images: ImageStore | None = None,
        actuator: Actuator | None = None,
        review: ReviewGate | None = None,
        health: ImageHealthWatch | None = None,
    ) -> None:
        self.options = options
        self.health = health  # None: no image-health reference configured
        self.images = images
        self.actuator = actuator or LoggingActuator()
        self.review = review  # None: no review link; parts that need a human get the fail-safe
        self.source = source
        self.inspectors = inspectors
        self.store = store
        self.accounting = Accounting()
        self._queue: queue.Queue[Part | None] = queue.Queue(options.queue_frames)
        self._lock = threading.Lock()
        self._in_flight: dict[int, Part] = {}
        # The watchdog sleeps until the earliest deadline in flight (under `_lock`: when it wakes next)
        # instead of scanning every 5 ms: 200 wake-ups/s cost ~0.06 ms of CPU per part at 150 parts/s,
        # each taking the GIL from the inference workers. A part due sooner wakes it (`_new_part`).
        self._watch_ns = 0
        self._watch = threading.Event()
        self._seq = store.next_seq
        self._budget_ns = round(options.latency_budget_ms * 1e6)
        self._gate_ns = round(options.policy.gate_delay_ms * 1e6)
        self._margin_ns = round(options.review_margin_ms * 1e6)
        reference = inspectors[0]
        info = {
            "station_id": options.station_id,
            "model_id": reference.runtime.model_id,
            "thresholds_version": reference.thresholds.version,
        }
        self.monitor = StationMonitor(
            self.accounting, info, self._queue.qsize, self._storage_problem, options.camera_silence_s
        )
        if health is not None:
            self.monitor.image_problem = health.problem

    def run(self, stop: threading.Event, max_parts: int | None = None, max_seconds: float | None = None) -> Snapshot:
        """Runs until `stop` is set, the source ends, `max_parts` frames were acquired or `max_seconds`
        have passed since the workers started; then drains."""
        workers = [
            threading.Thread(target=self._work, args=(inspector,), name=f"{WORKER_PREFIX}{i}", daemon=True)
            for i, inspector in enumerate(self.inspectors)
        ]
        watchdog_stop = threading.Event()
        watchdog = threading.Thread(target=self._watchdog, args=(watchdog_stop,), name="deadlines", daemon=True)
        for thread in [*workers, watchdog]:
            thread.start()
        try:
            self._acquire(stop, max_parts, None if max_seconds is None else time.monotonic() + max_seconds)
        finally:
            self._drain()
            for _ in workers:
                self._queue.put(None)
            for thread in workers:
                thread.join()
            watchdog_stop.set()
            self._watch.set()
            watchdog.join()
        return self.accounting.snapshot()

    def _storage_problem(self) -> str | None:
        return self.store.problem or (self.images.problem if self.images is not None else None)

    # -- acquisition: the caller's thread ----------------------------------------------------

    def _acquire(self, stop: threading.Event, max_parts: int | None, until: float | None) -> None:
        while not stop.is_set() and (max_parts is None or self.accounting.acquired < max_parts):
            if until is not None and time.monotonic() >= until:
                return
            try:
                event = self.source.read(READ_TIMEOUT_S)
            except Exception as exc:
                event = Fault(self.source.source_id, f"reading the source failed: {type(exc).__name__}: {exc}", 0)
                time.sleep(READ_TIMEOUT_S)
            match event:
                case Frame():
                    self.monitor.frame()
                    self._admit(event)
                case Gap():
                    self._missing(event)
                case Fault():
                    self.accounting.fault()
                    self.monitor.fault(event.reason)
                    log.warning("camera fault: %s", event.reason)
                case EndOfStream():
                    return

    def _admit(self, frame: Frame) -> None:
        part = self._new_part(frame, frame.host_ns)
        self.accounting.frame_acquired()
        if self.health is not None:
            self.health.offer(part.seq, frame.image)
            if self.health.failsafe and self.health.failing:
                self._finish(part, failsafe("image_health", self.health.problem()))
                return
        try:
            self._queue.put_nowait(part)
        except queue.Full:
            waiting = self._queue.qsize()
            self._finish(part, failsafe("overload", f"{waiting} frames already waiting for a worker"))

    def _missing(self, gap: Gap) -> None:
        if not self.options.one_part_per_frame:
            self.accounting.frames_dropped(gap.count, "camera_gap")
            log.warning("camera gap of %d frames from %d: %s", gap.count, gap.first_frame_id, gap.reason)
            return
        for _ in range(gap.count):
            part = self._new_part(None, gap.host_ns)
            self.accounting.frame_acquired()
            self._finish(part, failsafe("camera_gap", gap.reason))

    def _new_part(self, frame: Frame | None, captured_ns: int) -> Part:
        seq, self._seq = self._seq, self._seq + 1
        part = Part(seq, f"{self.options.station_id}-{seq}", frame, captured_ns, captured_ns + self._budget_ns)
        with self._lock:
            self._in_flight[seq] = part
            wake = part.deadline_ns < self._watch_ns
        if wake:
            self._watch.set()
        return part

    # -- workers and watchdog -----------------------------------------------------------------

    def _work(self, inspector: Inspector) -> None:
        while (part := self._queue.get()) is not None:
            if time.monotonic_ns() > part.deadline_ns:
                continue  # the watchdog has decided it (or will, within its period)
            assert part.frame is not None
            try:
                inspection = inspector.inspect(part.frame.image, part.part_id)
            except Exception as exc:
                self._finish(part, failsafe("internal_error", f"{type(exc).__name__}: {exc}"))
                continue
            decision = inspection.decision
            late_ms = (time.monotonic_ns() - part.deadline_ns) / 1e6
            if late_ms > 0:
                self._finish(part, failsafe("deadline", f"decided {decision.verdict} {late_ms:.1f} ms too late"))
            else:
                heatmap = None if inspection.output is None else inspection.output.heatmap
                self._finish(part, decision, heatmap, inspection.image)

    def _watchdog(self, stop: threading.Event) -> None:
        while not stop.is_set():
            now = time.monotonic_ns()
            with self._lock:
                expired = [p for p in self._in_flight.values() if p.deadline_ns < now]
                due = [p.deadline_ns for p in self._in_flight.values() if p.deadline_ns >= now]
                self._watch_ns = min(due, default=now + round(WATCHDOG_IDLE_S * 1e9))
            for part in expired:
                waited_ms = (now - part.captured_ns) / 1e6
                self._finish(part, failsafe("deadline", f"not decided {waited_ms:.1f} ms after capture"))
            self._watch.wait(max(0.0, (self._watch_ns - time.monotonic_ns()) / 1e9))
            self._watch.clear()  # a part admitted after this is in flight when the next round looks

    def _drain(self) -> None:
        """Waits until every admitted part is decided; the watchdog bounds this by the budget."""
        while True:
            with self._lock:
                if not self._in_flight:
                    return
            time.sleep(self.options.watchdog_period_s)

    # -- the one way a part gets its decision ---------------------------------------------------

    def _finish(
        self,
        part: Part,
        outcome: Decision | Judgement,
        heatmap: np.ndarray | None = None,
        picture: np.ndarray | None = None,  # the frame as decided (calibration-corrected); default: as captured
    ) -> bool:
        with self._lock:
            if part.decided:
                self.accounting.late_result()
                return False
            part.decided = True
            del self._in_flight[part.seq]
        decision = outcome if isinstance(outcome, Decision) else self._record(part, outcome)
        latency = {
            **decision.latency_ms,
            "capture_to_decision": round((time.monotonic_ns() - part.captured_ns) / 1e6, 3),
        }
        gate_ns = part.captured_ns + self._gate_ns
        decision = decision.model_copy(update={"gate_deadline_ns": gate_ns, "latency_ms": latency})
        self.accounting.part_decided(decision.verdict, decision.reason)
        self.monitor.decided(decision)
        command = route(decision, gate_ns, self.options.policy)
        held = self.review is not None and needs_human(decision, self.options.policy)
        pictures: tuple[Path, ...] = ()
        if self.images is not None and part.frame is not None:
            image = part.frame.image if picture is None else picture
            pictures = self.images.offer(part.seq, decision.verdict, decision.reason, image, heatmap)
        announce = None
        if self.review is not None:
            box = None if heatmap is None or part.frame is None else self._heatmap_box(part.frame)
            attached = () if decision.verdict == "pass" else pictures
            deadline_ns = gate_ns - self._margin_ns
            announce = announce_decision(
                part.seq, decision, part.captured_ns, deadline_ns, held, command, attached, box
            )
        camera = self.options.camera_snapshot
        self.store.put(part.seq, decision, part.frame, part.captured_ns, camera, command, held=held, announce=announce)
        if held and self.review is not None and command is not None:
            self.review.hold(command, gate_ns - self._margin_ns)
        else:
            try:
                if command is None:
                    self.actuator.passed(part.part_id, gate_ns)  # the gate records every part's disposition
                else:
                    self.actuator.submit(command)
            except Exception as exc:
                action = "pass" if command is None else command.action
                self.accounting.fault()
                self.monitor.fault(f"actuator refused {action} for {part.part_id}: {exc}")
                log.error("actuator refused %s for %s: %s", action, part.part_id, exc)
        return True

    def _heatmap_box(self, frame: Frame) -> tuple[int, int, int, int]:
        roi = self.inspectors[0].runtime.preprocess.spec.roi
        return roi_box(roi, frame.image.shape[0], frame.image.shape[1])

    def _record(self, part: Part, judgement: Judgement) -> Decision:
        elapsed = {"total": round((time.monotonic_ns() - part.captured_ns) / 1e6, 3)}
        return self.inspectors[0].record(part.part_id, judgement, [], elapsed)
