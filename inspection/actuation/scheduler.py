"""The gate scheduler: every part in a FIFO by arrival, fired from one thread on monotonic time.

`submit` and `passed` are called on the station's hot path: they only push onto a heap. The
scheduler thread sleeps until the next fire time (arrival - lead), carries out the gate plan,
and records exactly one `ActuatorResult` per part. With an encoder (`[actuator.line.encoder]`) parts
wait in a position-ordered FIFO (encoder.py) and join the heap once the belt's speed says when
they fire. Driver I/O other than a due pulse (input polls, reconnects, an operator's reset of
'cannot reject') happens only when the next fire time is further away than one I/O can take.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from inspection.actuation.driver import Backoff, DriverError, GateDriver, InputName, Output
from inspection.actuation.encoder import PositionSource, Tracker
from inspection.actuation.gate import Action, Outcome, plan
from inspection.actuation.ledger import Ledger
from inspection.actuation.plant import Awaiting, Plant
from inspection.actuation.reset import Reset
from inspection.actuation.timing import COARSE_MARGIN_NS, wait_until
from inspection.config.actuation import ActuatorConfig, ModbusDriverConfig, OpcUaDriverConfig
from inspection.contracts import ActuatorCommand, ActuatorResult

log = logging.getLogger(__name__)
Alarm = Callable[[str, str], None]  # (kind, message)
Record = Callable[[ActuatorResult], object]
STOPPED = "station stopped before the part reached the gate"


@dataclass(frozen=True, slots=True)
class PartAtGate:
    part_id: str
    action: Action
    origin: str
    reason: str


@dataclass(order=True, slots=True)
class Event:
    due_ns: int
    order: int  # FIFO among equal times
    part: PartAtGate | None = field(compare=False)  # None: turn `off` off (the end of a pulse)
    off: Output = field(default="gate", compare=False)


class GateScheduler:
    """The station's `Actuator` for a real gate. `start()` it; `close()` it after the station stops."""

    def __init__(
        self,
        config: ActuatorConfig,
        driver: GateDriver,
        record: Record,
        alarm: Alarm,
        clock: Callable[[], int] = time.monotonic_ns,
        *,
        position: PositionSource | None = None,
    ) -> None:
        """position: the belt position source, required when the config has an encoder."""
        self.config = config
        self.driver = driver
        self._clock = clock
        self._lead_ns = round(config.lead_ms * 1e6)
        self._width_ns = round(config.pulse_width_ms * 1e6)
        self._tolerance_ns = round(config.late_tolerance_ms * 1e6)
        self._io_guard_ns = round(driver.io_timeout_s * 1e9) + COARSE_MARGIN_NS
        plc = config.driver if isinstance(config.driver, ModbusDriverConfig | OpcUaDriverConfig) else None
        self._poll_ns = round((plc.poll_ms if plc else 10.0) * 1e6)
        self._backoff = Backoff(*(plc.backoff_s if plc else (0.2, 5.0)))
        self._divert = plc is not None and plc.divert is not None  # unset: a divert pulses the gate
        self._plant = Plant(round(config.confirmation_window_ms * 1e6))
        self._events: list[Event] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stop_at_ns: int | None = None  # set by close(): events due after it are recorded missed
        self._next_poll_ns = 0
        self._driver_problem: str | None = None
        self._resets: list[Future[Reset]] = []  # asked by an operator, answered by the scheduler thread
        self.cannot_reject: str | None = None  # why the station cannot reject; None while it can
        self._ledger = Ledger(record, alarm)
        self.counts: Counter[str] = self._ledger.counts  # outcomes
        self.alarms: Counter[str] = self._ledger.alarms  # by kind
        self._tracker: Tracker[PartAtGate] | None = None
        if (encoder := config.line.encoder) is not None:
            if position is None:
                raise ValueError("[actuator.line.encoder] is set: the scheduler needs its position source")
            self._tracker = Tracker(encoder, position, self._lead_ns, COARSE_MARGIN_NS)
        self._thread = threading.Thread(target=self._run, name="gate-scheduler", daemon=True)

    def start(self) -> GateScheduler:
        self._connect(self._clock())
        if self._tracker is not None:
            try:
                self._tracker.start(self._clock())
            except DriverError as exc:
                self._lost(f"reading the encoder: {exc}")
        self._thread.start()
        return self

    # -- the station's Actuator: called on the hot path, no I/O ------------------------------

    def submit(self, command: ActuatorCommand) -> None:
        self._add(command.fire_at_ns, PartAtGate(command.part_id, command.action, command.origin, command.reason))

    def passed(self, part_id: str, arrival_ns: int, origin: Literal["auto", "human"] = "auto") -> None:
        """A pass at the gate: trusted (`auto`) or released by an inspector (`human`)."""
        self._add(arrival_ns, PartAtGate(part_id, "pass", origin, "pass"))

    def close(self, drain_s: float = 0.0) -> None:
        """Fires what is due within `drain_s` (parts still on the belt); the rest is recorded `missed`."""
        with self._cond:
            self._stop_at_ns = self._clock() + round(drain_s * 1e9)
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        self.driver.close()

    def reset(self) -> Future[Reset]:
        """An operator's reset of 'cannot reject' (thread-safe): refused while a fault input is active."""
        future: Future[Reset] = Future()
        with self._cond:
            if self._stop_at_ns is not None:  # the thread may be gone: nobody else would answer
                future.set_result(Reset(False, self.cannot_reject, "the station is stopping"))
                return future
            self._resets.append(future)
            self._cond.notify()
        return future

    def _add(self, arrival_ns: int, part: PartAtGate) -> None:
        if self._tracker is not None:
            self._tracker.add(arrival_ns, part)  # the scheduler thread picks it up at its next position read
            return
        event = Event(arrival_ns - self._lead_ns, next(self._order), part)
        with self._cond:
            heapq.heappush(self._events, event)
            if self._events[0] is event:
                self._cond.notify()

    # -- the scheduler thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                head = self._events[0].due_ns if self._events else None
                stop_at = self._stop_at_ns
            now = self._clock()
            idle = head is None or head > (stop_at or 0)
            if stop_at is not None and idle and not self._confirming(stop_at) and not self._tracking(now, stop_at):
                break
            if self._tracker is not None and now >= self._tracker.next_poll_ns:
                self._track(self._tracker, now)
                continue
            self._confirmations_due(now)
            if head is None or head - now > self._io_guard_ns or now - self._next_poll_ns > 10 * self._poll_ns:
                self._housekeeping(now)
                self._answer_resets(now)
                now = self._clock()
            if head is None or head - now > COARSE_MARGIN_NS:
                wake = self._next_poll_ns if head is None else min(head - COARSE_MARGIN_NS, self._next_poll_ns)
                if self._tracker is not None:
                    wake = min(wake, self._tracker.next_poll_ns)
                with self._cond:  # unless a part or close() came in since `head` was read
                    unchanged = (self._events[0].due_ns if self._events else None) == head
                    if unchanged and self._stop_at_ns == stop_at:  # a reset asked meanwhile waits one poll at most
                        self._cond.wait(max(wake - now, 100_000) / 1e9)
                continue
            wait_until(head, self._clock)
            for event in self._due(self._clock()):
                self._handle(event)
        self._shut_down()

    def _track(self, tracker: Tracker[PartAtGate], now_ns: int) -> None:
        """Reads the belt position; parts due before the next read join the time heap."""
        try:
            due = tracker.poll(now_ns)
        except DriverError as exc:
            if self._driver_problem is None:  # once: each failure would push the reconnect back
                self._lost(f"reading the encoder: {exc}")
            return
        with self._cond:
            for fire_ns, part in due:
                heapq.heappush(self._events, Event(fire_ns, next(self._order), part))

    def _tracking(self, now_ns: int, until_ns: int) -> bool:
        """Parts still wait for the belt, and the drain time has not run out."""
        return self._tracker is not None and len(self._tracker) > 0 and now_ns < until_ns

    def _confirming(self, until_ns: int) -> bool:
        """A part waits for the bin's confirmation, and its window closes before `until_ns`."""
        return bool(self._plant.awaiting) and self._plant.awaiting[0].deadline_ns <= until_ns

    def _due(self, now_ns: int) -> list[Event]:
        with self._cond:
            due = []
            while self._events and self._events[0].due_ns <= now_ns:
                due.append(heapq.heappop(self._events))
            return due

    def _handle(self, event: Event) -> None:
        part = event.part
        if part is None:
            self._write(event.off, on=False, why=f"resetting the {event.off} output")
            return
        todo = plan(self.config.gate, part.action, divert_output=self._divert)
        if self.cannot_reject is not None and part.action == "pass":  # rejects are still tried
            why = f"cannot reject ({self.cannot_reject}): nothing passes"
            self._ledger.result(part, event.due_ns, None, "failed", reason=why, origin="failsafe")
            return
        if not todo.needs_output:
            self._done(part, event.due_ns, None, todo.outcome, todo.removes)
            return
        late_ns = self._clock() - event.due_ns
        if late_ns > self._tolerance_ns:
            self._ledger.part_alarm("missed", part, f"{late_ns / 1e6:.1f} ms too late to fire")
            self._ledger.result(
                part, event.due_ns, None, "missed", reason=f"{part.reason}; {late_ns / 1e6:.1f} ms too late"
            )
            return
        if not self.driver.connected:
            why = f"driver disconnected: {self._driver_problem}"
            self._ledger.part_alarm("failed", part, why)
            self._ledger.result(part, event.due_ns, None, "failed", reason=f"{part.reason}; {why}")
            return
        fired_ns = self._clock()
        try:
            if todo.pulse:
                self.driver.write("gate", True)
            if todo.divert:
                self.driver.write("divert", True)
            if todo.line_stop:
                self.driver.write("line_stop", True)
        except DriverError as exc:
            self._lost(str(exc))
            self._ledger.part_alarm("failed", part, str(exc))
            self._ledger.result(part, event.due_ns, None, "failed", reason=f"{part.reason}; {exc}")
            return
        pulsed: Output | None = "gate" if todo.pulse else "divert" if todo.divert else None
        if pulsed is not None and not self.driver.device_pulse:
            with self._cond:
                heapq.heappush(self._events, Event(fired_ns + self._width_ns, next(self._order), None, pulsed))
        self._done(part, event.due_ns, fired_ns if pulsed else None, todo.outcome, todo.removes)

    def _done(self, part: PartAtGate, planned_ns: int, fired_ns: int | None, outcome: Outcome, removes: bool) -> None:
        """Recorded now, or once the bin confirms the part (or the window closes) when that input exists."""
        if removes and "reject_confirmation" in self.driver.inputs:
            deadline = (fired_ns or planned_ns) + self._plant.window_ns
            waiting = Awaiting(
                part.part_id, part.action, part.origin, part.reason, planned_ns, fired_ns, outcome, deadline
            )
            self._plant.awaiting.append(waiting)
            return
        self._ledger.result(part, planned_ns, fired_ns, outcome, reason=part.reason)

    def _confirmations_due(self, now_ns: int) -> None:
        for w in self._plant.expired(now_ns):
            why = f"no confirmation within {self.config.confirmation_window_ms:g} ms"
            self._ledger.part_alarm("unconfirmed", w, why)
            self._ledger.result(
                w, w.planned_ns, w.fired_ns, "reject_unconfirmed", reason=f"{w.reason}; {why}", confirmed=False
            )
            self._cannot(f"reject of {w.part_id} not confirmed")

    def _housekeeping(self, now_ns: int) -> None:
        if not self.driver.connected:
            if now_ns >= self._backoff.next_ns:
                self._connect(now_ns)
            return
        if now_ns < self._next_poll_ns:
            return
        self._next_poll_ns = now_ns + self._poll_ns  # also without inputs: the idle loop sleeps until then
        if self.driver.inputs:
            self._poll_inputs(now_ns)

    def _poll_inputs(self, now_ns: int) -> Mapping[InputName, bool] | None:
        """One read: a confirmation is matched, a fault latches 'cannot reject'. None: the driver was lost."""
        try:
            inputs = self.driver.read_inputs()
        except DriverError as exc:
            self._lost(str(exc))
            return None
        if (c := self._plant.confirmed(inputs, now_ns)) is not None:
            self._ledger.result(c, c.planned_ns, c.fired_ns, c.outcome, reason=c.reason, confirmed=True)
        if (fault := Plant.fault(inputs)) is not None:
            self._cannot(fault)
        return inputs

    def _answer_resets(self, now_ns: int) -> None:
        with self._cond:
            asked, self._resets = self._resets, []
        for future in asked:
            future.set_result(self._reset(now_ns))

    def _reset(self, now_ns: int) -> Reset:
        """Fault inputs read afresh; only with none active is the line stop released (industrial practice)."""
        before = self.cannot_reject
        if not self.driver.connected:
            return Reset(False, before, f"the gate driver is disconnected ({self._driver_problem}): try again later")
        if (inputs := self._poll_inputs(now_ns)) is None:
            return Reset(False, before, f"the plant inputs cannot be read: {self._driver_problem}")
        if (fault := Plant.fault(inputs)) is not None:
            return Reset(False, before, f"{fault} still active: clear it, then reset")
        try:
            self.driver.write("line_stop", False)
        except DriverError as exc:
            self._lost(f"releasing the line stop: {exc}")
            return Reset(False, before, f"releasing the line stop failed: {exc}")
        self.cannot_reject = None
        if before is None:
            return Reset(True, None, "nothing was latched: the line stop output is off")
        log.warning("cannot reject (%s) reset by an operator: line stop released", before)
        return Reset(True, before, "line stop released: the station rejects again")

    def _connect(self, now_ns: int) -> None:
        try:
            self.driver.connect()
            self.driver.write("gate", False)  # a known state: off, unless a pulse is due (it will set it)
            if self._divert:
                self.driver.write("divert", False)
            if self.cannot_reject is not None:
                self.driver.write("line_stop", True)
        except DriverError as exc:
            self._backoff.failed(now_ns)
            if self._driver_problem is None:
                self._lost(str(exc))
            return
        if self._driver_problem is not None:
            log.warning("gate driver reconnected after: %s", self._driver_problem)
        self._backoff.succeeded()
        self._driver_problem = None

    def _lost(self, why: str) -> None:
        """The driver is disconnected: alarmed once, retried with back-off from the scheduler's idle time."""
        self._backoff.failed(self._clock())
        if self._driver_problem is None:
            self._driver_problem = why
            self._ledger.alarm("driver", f"gate driver lost: {why}")

    def _cannot(self, why: str) -> None:
        """From now on nothing passes: the line stops and every part is recorded failed (fail-safe)."""
        if self.cannot_reject is not None:
            return
        self.cannot_reject = why
        self._ledger.alarm("cannot_reject", f"station cannot reject: {why}; line stop set")
        self._write("line_stop", on=True, why="setting the line stop")

    def _write(self, output: Output, *, on: bool, why: str) -> None:
        if not self.driver.connected:
            return  # the state is written again on reconnect
        try:
            self.driver.write(output, on)
        except DriverError as exc:
            self._lost(f"{why}: {exc}")

    def _shut_down(self) -> None:
        with self._cond:
            left, self._events = self._events, []
        if self._tracker is not None:
            left += [Event(fire_ns, next(self._order), part) for fire_ns, part in self._tracker.drain()]
        left.sort()
        for event in left:
            if event.part is None:
                self._write(event.off, on=False, why=f"resetting the {event.off} output")
            else:
                self._ledger.result(event.part, event.due_ns, None, "missed", reason=f"{event.part.reason}; {STOPPED}")
        if left := [e for e in left if e.part is not None]:
            self._ledger.alarm(
                "missed", f"{len(left)} parts still on the belt when the station stopped: recorded missed"
            )
        for waiting in list(self._plant.awaiting):
            why = f"{waiting.reason}; stopped before confirmation"
            self._ledger.result(waiting, waiting.planned_ns, waiting.fired_ns, waiting.outcome, reason=why)
        self._plant.awaiting.clear()
        with self._cond:
            asked, self._resets = self._resets, []
        for future in asked:
            future.set_result(Reset(False, self.cannot_reject, "the station is stopping"))
