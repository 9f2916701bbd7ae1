"""The acquisition process: owns the camera, fills the ring, reconnects by itself.

It runs apart from the station because harvesters' fetch holds the GIL for long stretches and
can hang in native code (DESIGN.md); the station can kill and restart this process at any time.
Commands arrive on `ctrl` as tuples; every reply is a tuple whose first item names it.
"""

from __future__ import annotations

import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

from camera.genicam.accounting import TriggerLedger
from camera.genicam.device import DeviceSession, Fetched, Opened
from camera.genicam.ring import FAULT, FRAME, GAP, Ring, RingWriter
from inspection.actuation.genicam_server import IoServer, start_io_server
from inspection.config.camera import GenicamSourceConfig
from inspection.errors import CameraError
from inspection.lifetime import die_with_parent

IDLE_POLL_S = 0.05


class Acquisition:
    """The child's state machine: opened -> (started <-> stopped) -> closed, with reconnects inside."""

    def __init__(
        self, config: GenicamSourceConfig, producers: list[Path], ctrl: Connection, notify: Connection
    ) -> None:
        self.config = config
        self.session = DeviceSession(config, producers)
        self.ctrl = ctrl
        self.notify_fd = notify.fileno()
        self.opened: Opened | None = None
        self.io: IoServer | None = None  # the camera's output writes, for a GenICam gate driver
        self.writer: RingWriter | None = None
        self.wanted_running = False
        self.started = False
        self.epoch = 0
        self.triggers = TriggerLedger(round(config.trigger.miss_timeout_s * 1e9))
        self.backoff_s = config.backoff_s[0]
        self.retry_at_ns = 0
        self.last_frame_ns = 0

    def run(self, *, retry_open: bool) -> None:
        if not self.first_open(retry_open=retry_open):
            return
        try:
            while self.step():
                pass
        finally:
            self._close_session()

    def step(self) -> bool:
        """One turn of the loop: commands, heartbeat, then a fetch or a reconnect attempt; False to end."""
        if not self._handle_commands():
            return False
        now = time.monotonic_ns()
        if self.writer is not None:
            self.writer.heartbeat(now)
        if self.opened is None:
            self._reconnect_when_due(now)
        elif self.started:
            self._fetch_once()
        return True

    def first_open(self, *, retry_open: bool) -> bool:
        """Opens the camera; at first start-up a bad config is an error, after a restart it is retried."""
        while True:
            try:
                self.opened = self.session.open()
            except Exception as exc:
                message = str(exc) if isinstance(exc, CameraError) else f"{type(exc).__name__}: {exc}"
                if not retry_open:
                    self.ctrl.send(("error", message))
                    return False
                self.ctrl.send(("waiting", message))
                if self.ctrl.poll(self._next_backoff()) and self.ctrl.recv()[0] == "close":
                    self.ctrl.send(("closed",))  # the station sends nothing else before `ready`
                    return False
                continue
            self._serve_io()
            self.ctrl.send(("ready", self.opened))
            return True

    def _handle_commands(self) -> bool:
        """Runs pending commands; False once the station asked to close (or went away)."""
        wait = 0.0 if self.started else IDLE_POLL_S
        while self.ctrl.poll(wait):
            wait = 0.0
            try:
                command, *args = self.ctrl.recv()
            except EOFError:
                return False  # the station is gone
            match command:
                case "attach":
                    assert self.opened is not None
                    self.writer = RingWriter(
                        Ring(Path(args[0]), self.opened.geometry, args[1], create=False), self.notify_fd
                    )
                case "start":
                    self.wanted_running = True
                    self._start()
                case "stop":
                    self.wanted_running = False
                    self._stop()
                case "trigger":
                    self._trigger()
                case "close":
                    self._stop()
                    self.ctrl.send(("closed",))
                    return False
            self.ctrl.send((command, "ok"))
        return True

    def _start(self) -> None:
        if self.opened is None or self.started:
            return  # a reconnect in progress starts acquisition when it succeeds
        self.epoch += 1
        self.triggers.clear()
        try:
            self.session.start()
        except Exception as exc:
            self._fault(f"starting acquisition failed: {exc}")
            return
        self.started = True
        self.last_frame_ns = time.monotonic_ns()

    def _stop(self) -> None:
        if self.started:
            self.started = False
            try:
                self.session.stop()
            except Exception as exc:
                self._fault(f"stopping acquisition failed: {exc}")

    def _trigger(self) -> None:
        if not self.started:
            self._publish(GAP, -1, text="software trigger while acquisition is not running: no frame")
            return
        self.triggers.fired(time.monotonic_ns())
        try:
            self.session.trigger()
        except Exception as exc:
            self._fault(f"software trigger failed: {exc}")

    def _fetch_once(self) -> None:
        assert self.writer is not None, "the station attaches the ring before it starts acquisition"
        try:
            fetched = self.session.fetch(self.config.fetch_timeout_s, self.writer.next_image())
        except Exception as exc:
            self._fault(f"fetching a frame failed: {type(exc).__name__}: {exc}")
            return
        now = time.monotonic_ns()
        if fetched is None:
            self._account_for_silence(now)
            return
        self.last_frame_ns = now
        self._publish_fetched(fetched)

    def _publish_fetched(self, fetched: Fetched) -> None:
        if fetched.missing is not None:
            missing = fetched.missing
            self._publish(GAP, missing.first_frame_id, count=missing.count, text=missing.reason)
        if self.config.trigger.mode == "software":
            self.triggers.frame()
        if fetched.problem is not None:
            self._publish(GAP, fetched.frame_id, text=fetched.problem)
        else:
            self._publish(FRAME, fetched.frame_id, host_ns=fetched.host_ns, device_ns=fetched.device_ns)

    def _account_for_silence(self, now: int) -> None:
        for trigger in self.triggers.misses(now):
            expected = self.session.ids.expected
            self._publish(
                GAP, -1 if expected is None else expected, text=f"software trigger {trigger} yielded no frame"
            )
        stalled_s = (now - self.last_frame_ns) / 1e9
        if self.config.trigger.mode == "free_run" and stalled_s > self.config.stall_timeout_s:
            self._fault(f"no frame for {stalled_s:.1f} s in free-run")

    def _fault(self, reason: str) -> None:
        """Reports the fault in order with the frames, releases the camera and schedules a reconnect."""
        self._publish(FAULT, -1, text=reason)
        self.started = False
        self.opened = None
        self._close_session()
        self.retry_at_ns = time.monotonic_ns() + round(self._next_backoff() * 1e9)

    def _reconnect_when_due(self, now: int) -> None:
        if now < self.retry_at_ns:
            return
        assert self.writer is not None
        try:
            opened = self.session.open()
        except Exception:
            self.session.close()
            self.retry_at_ns = now + round(self._next_backoff() * 1e9)
            return
        if opened.geometry != self.writer.ring.geometry:
            self.session.close()
            self._publish(FAULT, -1, text=f"camera came back as {opened.geometry}, not {self.writer.ring.geometry}")
            self.retry_at_ns = now + round(self._next_backoff() * 1e9)
            return
        self.opened = opened
        self._serve_io()
        self.backoff_s = self.config.backoff_s[0]
        if self.wanted_running:
            self._start()

    def _serve_io(self) -> None:
        """Output writes go through the process that owns the camera (see inspection/actuation/genicam_driver.py)."""
        assert self.opened is not None
        self.io = start_io_server(self.opened.device, self.session.node_map, self.session.serve_gate)

    def _close_session(self) -> None:
        """The I/O server first: it must not touch the node map of a closed device."""
        io, self.io = self.io, None
        if io is not None:
            io.stop()
        self.session.close()

    def _next_backoff(self) -> float:
        delay, self.backoff_s = self.backoff_s, min(self.backoff_s * 2, self.config.backoff_s[1])
        return delay

    def _publish(
        self,
        kind: int,
        frame_id: int,
        *,
        count: int = 1,
        host_ns: int | None = None,
        device_ns: int | None = None,
        text: str = "",
    ) -> None:
        if self.writer is None:
            return
        now = time.monotonic_ns() if host_ns is None else host_ns
        self.writer.publish(kind, self.epoch, frame_id, count=count, host_ns=now, device_ns=device_ns, text=text)


def main(  # noqa: PLR0917 - the process arguments, passed positionally by multiprocessing
    config_json: str, producers: list[Path], ctrl: Connection, notify: Connection, retry_open: bool, station_pid: int
) -> None:
    """Entry point of the acquisition process."""
    die_with_parent(station_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the station, which stops us in order
    config = GenicamSourceConfig.model_validate_json(config_json)
    Acquisition(config, producers, ctrl, notify).run(retry_open=retry_open)
