"""The station's side of a GenICam camera: spawns, feeds and supervises the acquisition process.

The camera lives in a child process (see `acquisition.py`). Frames come over a shared-memory
ring; a child that dies or stops showing signs of life is killed and replaced, and the station
sees a `Fault` event in between, never a hang.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from camera.frames import Fault, Frame, Gap, SourceEvent
from camera.genicam.device import Opened
from camera.genicam.discovery import DeviceInfo, producer_files
from camera.genicam.ring import FAULT, FRAME, Record, Ring, RingReader
from camera.source import FrameSource
from inspection.config.camera import GenicamSourceConfig
from inspection.errors import CameraError
from inspection.lifetime import process_context

SUPERVISE_EVERY_S = 0.25
CLOSE_TIMEOUT_S = 5.0


@dataclass(slots=True)
class AcquisitionStats:
    frames: int = 0
    frames_missing: int = 0  # counted in gaps: dropped, incomplete, overrun, trigger misses
    faults: int = 0
    restarts: int = 0  # acquisition processes replaced after dying or hanging


class GenicamSource(FrameSource):
    def __init__(self, config: GenicamSourceConfig, source_id: str = "camera", open_timeout_s: float = 30.0) -> None:
        self.config = config
        self.source_id = source_id
        self.open_timeout_s = open_timeout_s
        self.device: DeviceInfo | None = None
        self.features: dict[str, str] = {}
        self.stats = AcquisitionStats()
        self._child: Any = None
        self._ctrl: Connection | None = None
        self._notify: Connection | None = None
        self._reader: RingReader | None = None
        self._pending: deque[SourceEvent] = deque()
        self._wanted_running = False
        self._restarting = False
        self._sign_of_life = 0.0
        self._respawn_at = 0.0
        self._epoch = -1
        self._last_id: int | None = None

    @property
    def pid(self) -> int | None:
        """The acquisition process, for supervision tests and `ps`."""
        return None if self._child is None else int(self._child.pid)

    def open(self) -> None:
        self._spawn(retry_open=False)
        kind, payload = self._await("ready", "error", timeout_s=self.open_timeout_s)
        if kind == "error":
            self._reap()
            raise CameraError(str(payload))
        self._attach(payload)

    def start(self) -> None:
        self._wanted_running = True
        if not self._restarting:
            self._command("start")

    def stop(self) -> None:
        self._wanted_running = False
        if self._child is not None and not self._restarting:
            self._command("stop")

    def trigger(self) -> None:
        """One software trigger: it yields one frame or one reported miss."""
        if self.config.trigger.mode != "software":
            raise CameraError(f"camera.trigger.mode is {self.config.trigger.mode!r}; software triggers need 'software'")
        if self._restarting:
            self._pending.append(Gap(self.source_id, -1, 1, "software trigger while the camera reconnects", _now()))
            return
        self._command("trigger")

    def close(self) -> None:
        if self._child is not None and self._child.is_alive() and self._ctrl is not None:
            try:
                self._ctrl.send(("close",))
                self._await("closed", timeout_s=CLOSE_TIMEOUT_S)
            except (CameraError, OSError):
                pass  # it is killed below
        self._reap()

    def read(self, timeout_s: float) -> SourceEvent | None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._reader is not None and (record := self._reader.next()) is not None:
                self._pending.extend(self._events(record))
                continue
            self._supervise()
            if self._pending:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sleep(min(remaining, SUPERVISE_EVERY_S))

    # -- the child process --------------------------------------------------------------------

    def _spawn(self, *, retry_open: bool) -> None:
        from camera.genicam import acquisition  # noqa: PLC0415 - the fork server imports it, the station needn't

        producers = producer_files(self.config.producers)
        context = process_context()
        self._ctrl, child_ctrl = context.Pipe()
        self._notify, child_notify = context.Pipe(duplex=False)
        args = (self.config.model_dump_json(), producers, child_ctrl, child_notify, retry_open, os.getpid())
        self._child = context.Process(target=acquisition.main, args=args, name=f"acquisition-{self.source_id}")
        self._child.daemon = True
        self._child.start()
        child_ctrl.close()
        child_notify.close()
        self._sign_of_life = time.monotonic()

    def _attach(self, opened: Opened) -> None:
        self.device, self.features = opened.device, opened.features
        ring = Ring.create(opened.geometry, self.config.ring_slots)
        try:
            self._command("attach", str(ring.path), self.config.ring_slots)
        finally:
            ring.unlink()  # both sides have it mapped (or the child is gone): the name is no longer needed
        self._reader = RingReader(ring)

    def _command(self, *command: object) -> None:
        assert self._ctrl is not None, "the source is not open"
        try:
            self._ctrl.send(command)
        except OSError as exc:
            raise CameraError(f"the acquisition process is gone ({exc}); reading on will restart it") from exc
        self._await(str(command[0]), timeout_s=self.config.hang_timeout_s)

    def _await(self, *kinds: str, timeout_s: float) -> tuple[str, Any]:
        """The child's next reply among `kinds`; other messages (progress, stale replies) are consumed."""
        assert self._ctrl is not None and self._child is not None
        deadline = time.monotonic() + timeout_s
        last_wait = ""
        while (remaining := deadline - time.monotonic()) > 0:
            ready = wait([self._ctrl, self._child.sentinel], remaining)
            if self._ctrl in ready:
                try:
                    kind, *payload = self._ctrl.recv()
                except EOFError:
                    break
                if kind in kinds:
                    return kind, payload[0] if payload else None
                if kind == "waiting":
                    last_wait = f"; last attempt: {payload[0]}"
            elif ready:
                break  # the child exited
        code = self._child.exitcode
        state = f"exited with code {code}" if code is not None else f"did not answer in {timeout_s:g} s"
        raise CameraError(f"acquisition process for {self.source_id} {state} while waiting for {kinds[0]}{last_wait}")

    def _supervise(self) -> None:
        """Replaces a dead or silent acquisition process; finishes a replacement's start-up."""
        now = time.monotonic()
        if self._child is None:
            if self._restarting and now >= self._respawn_at:
                self._respawn()
            return
        if not self._child.is_alive():
            self._replace(f"acquisition process exited with code {self._child.exitcode}")
        elif self._restarting:
            self._finish_restart(now)
        elif self._reader is not None and self._wanted_running:
            silent_s = (time.monotonic_ns() - self._reader.heartbeat_ns) / 1e9
            if silent_s > self.config.hang_timeout_s:
                self._replace(f"acquisition process silent for {silent_s:.1f} s (hung in the driver?); killed")

    def _finish_restart(self, now: float) -> None:
        assert self._ctrl is not None
        try:
            while self._ctrl.poll(0):
                kind, *payload = self._ctrl.recv()
                self._sign_of_life = now
                if kind == "ready":
                    self._restarting = False
                    self._attach(payload[0])
                    if self._wanted_running:
                        self._command("start")
                    return
        except (CameraError, OSError, EOFError) as exc:
            self._replace(f"replacement acquisition process failed to start: {exc}")
            return
        silent_s = now - self._sign_of_life
        if silent_s > self.config.hang_timeout_s + self.config.backoff_s[1]:
            self._replace(f"replacement acquisition process silent for {silent_s:.1f} s; killed")

    def _replace(self, reason: str) -> None:
        if self._reader is not None:
            while (record := self._reader.next()) is not None:  # what it published before dying still counts
                self._pending.extend(self._events(record))
        self._pending.append(Fault(self.source_id, reason, _now()))
        self.stats.faults += 1
        self.stats.restarts += 1
        self._reap(grace_s=0)
        self._restarting = True
        self._respawn()

    def _respawn(self) -> None:
        """Starts a replacement; if even that fails (a producer file gone), says so and tries again later."""
        try:
            self._spawn(retry_open=True)
        except (CameraError, OSError) as exc:
            self._reap(grace_s=0)
            self._pending.append(Fault(self.source_id, f"cannot start an acquisition process: {exc}", _now()))
            self.stats.faults += 1
            self._respawn_at = time.monotonic() + self.config.backoff_s[1]

    def _reap(self, grace_s: float = CLOSE_TIMEOUT_S) -> None:
        """Ends the child (killing it after `grace_s`) and releases everything shared with it."""
        child, self._child = self._child, None
        if child is not None:
            child.join(grace_s)
            if child.is_alive():
                child.kill()
                child.join()
            child.close()
        for conn in (self._ctrl, self._notify):
            if conn is not None:
                conn.close()
        self._ctrl = self._notify = None
        if self._reader is not None:
            self._reader.ring.close()
            self._reader = None

    def _sleep(self, timeout_s: float) -> None:
        waitables: list[Any] = [c for c in (self._ctrl, self._notify) if c is not None]
        if self._child is not None:
            waitables.append(self._child.sentinel)
        if not waitables:
            time.sleep(timeout_s)
            return
        if self._notify in wait(waitables, timeout_s):
            with contextlib.suppress(BlockingIOError):
                os.read(self._notify.fileno(), 65536)  # the pokes carry no data; the ring has it all

    # -- records to events --------------------------------------------------------------------

    def _events(self, record: Record) -> list[SourceEvent]:
        events: list[SourceEvent] = []
        if record.epoch != self._epoch:  # acquisition (re)started: the camera's frame counter restarts
            self._epoch, self._last_id = record.epoch, None
        lost = self._reader.take_lost() if self._reader is not None else 0
        if lost:
            first = -1 if self._last_id is None else self._last_id + 1
            count = record.frame_id - first if record.kind == FRAME and first >= 0 else lost
            events.append(
                Gap(self.source_id, first, count, f"ring overrun: the station fell {lost} records behind", _now())
            )
            self.stats.frames_missing += count
        if record.kind == FRAME:
            assert record.image is not None
            self._last_id = record.frame_id
            self.stats.frames += 1
            events.append(
                Frame(
                    source_id=self.source_id,
                    frame_id=record.frame_id,
                    host_ns=record.host_ns,
                    pixel_format=self._reader.ring.geometry.pixel_format if self._reader else "",
                    image=record.image,
                    device_timestamp_ns=None if record.device_ns < 0 else record.device_ns,
                )
            )
        elif record.kind == FAULT:
            self.stats.faults += 1
            events.append(Fault(self.source_id, record.text, record.host_ns))
        else:
            if record.frame_id >= 0:
                self._last_id = max(self._last_id or -1, record.frame_id + record.count - 1)
            self.stats.frames_missing += record.count
            events.append(Gap(self.source_id, record.frame_id, record.count, record.text, record.host_ns))
        return events


def _now() -> int:
    return time.monotonic_ns()
