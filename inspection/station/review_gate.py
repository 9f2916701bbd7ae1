"""Parts that wait for a human: their gate action is held until a verdict arrives or time runs out.

A verdict that arrives before the part's review deadline decides the gate (origin `human`):
`reject` fires the reject, `pass` releases the part. At the deadline, with no verdict, the
fail-safe command that `route` chose is taken (origin `failsafe`). Either way exactly one
disposition is recorded and announced per part; a verdict for a part no longer held is stored
as late (a label for retraining), never applied.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from dataclasses import dataclass

from inspection.contracts import ActuatorCommand
from inspection.link.messages import DispositionMessage, VerdictMessage
from inspection.station.policy import Actuator
from inspection.station.store import DecisionStore
from inspection.timebase import utc_now_text

log = logging.getLogger(__name__)
IDLE_S = 1.0  # the deadline thread's longest sleep; a hold with an earlier deadline wakes it at once


@dataclass(frozen=True, slots=True)
class Held:
    deadline_ns: int  # monotonic: a verdict after this cannot reach the gate in time
    failsafe: ActuatorCommand


class ReviewGate:
    def __init__(self, station_id: str, store: DecisionStore, actuator: Actuator) -> None:
        self.station_id = station_id
        self.store = store
        self.actuator = actuator
        self.human = 0
        self.failsafe = 0
        self.late = 0
        self._held: dict[str, Held] = {}
        # (deadline, part), earliest first: the deadline thread sleeps until the next one is due
        # instead of waking every 5 ms (200 wake-ups/s cost ~0.1 ms of CPU per part at 150
        # parts/s, each fighting the inference workers for the GIL), and looks only at what expired.
        # Entries of parts answered meanwhile are skipped when they come up.
        self._deadlines_heap: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._deadlines, name="review-deadlines", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return len(self._held)

    def hold(self, failsafe: ActuatorCommand, deadline_ns: int) -> None:
        entry = (deadline_ns, failsafe.part_id)
        with self._lock:
            self._held[failsafe.part_id] = Held(deadline_ns, failsafe)
            heapq.heappush(self._deadlines_heap, entry)
            earliest = self._deadlines_heap[0] == entry
        if earliest:
            self._wake.set()  # the deadline thread may be sleeping past this one

    def verdict(self, message: VerdictMessage) -> int:
        """Applies or files a verdict; returns the store mark that says when it is durable."""
        with self._lock:
            held = self._held.get(message.part_id)
            in_time = held is not None and time.monotonic_ns() <= held.deadline_ns
            if in_time:
                del self._held[message.part_id]
        if not in_time or held is None:
            self.late += 1
            log.info("late verdict %s for %s: %s by %s", message.id, message.part_id, message.verdict, message.by)
            return self.store.put_verdict(message, late=True)
        self.store.put_verdict(message, late=False)
        self.human += 1
        if message.verdict == "reject":
            command = held.failsafe.model_copy(update={"action": "reject", "origin": "human", "reason": message.reason})
            self._submit(command)
            return self._dispose(message.part_id, "reject", "human", message.id, message.reason)
        why = f"released by {message.by}: {message.reason}"
        try:
            self.actuator.passed(message.part_id, held.failsafe.fire_at_ns, "human")  # pulse-to-accept lets it through
        except Exception as exc:
            log.error("actuator refused the release of %s: %s", message.part_id, exc)
        return self._dispose(message.part_id, "pass", "human", message.id, why)

    def close(self) -> None:
        """The station is stopping: every part still waiting gets its fail-safe action now."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._expire(until_ns=2**63)

    def restore(self) -> None:
        """Parts left waiting by a previous run are long past the gate: recorded `missed`, never silently."""
        for part_id in self.store.undisposed_reviews():
            log.error("part %s waited for a human when the station stopped; its gate action was missed", part_id)
            self._dispose(part_id, "missed", "failsafe", None, "station stopped before the part reached the gate")

    def _deadlines(self) -> None:
        while not self._stop.is_set():
            self._expire(until_ns=time.monotonic_ns())
            with self._lock:
                next_ns = self._deadlines_heap[0][0] if self._deadlines_heap else None
            due_s = IDLE_S if next_ns is None else (next_ns - time.monotonic_ns()) / 1e9
            self._wake.wait(min(IDLE_S, max(0.0, due_s)))
            self._wake.clear()  # a hold after this is in the heap the next round reads

    def _expire(self, until_ns: int) -> None:
        expired: list[Held] = []
        with self._lock:
            heap = self._deadlines_heap
            while heap and heap[0][0] < until_ns:
                deadline_ns, part_id = heapq.heappop(heap)
                held = self._held.get(part_id)
                if held is not None and held.deadline_ns == deadline_ns:  # not answered, not held again since
                    del self._held[part_id]
                    expired.append(held)
        for held in expired:
            self.failsafe += 1
            self._submit(held.failsafe)
            self._dispose(held.failsafe.part_id, held.failsafe.action, "failsafe", None, held.failsafe.reason)

    def _submit(self, command: ActuatorCommand) -> None:
        try:
            self.actuator.submit(command)
        except Exception as exc:
            log.error("actuator refused %s for %s: %s", command.action, command.part_id, exc)

    def _dispose(self, part_id: str, action: str, origin: str, verdict_id: str | None, reason: str) -> int:
        message = DispositionMessage.model_validate(
            {
                "id": f"{part_id}/disposition",
                "station_id": self.station_id,
                "part_id": part_id,
                "action": action,
                "origin": origin,
                "verdict_id": verdict_id,
                "reason": reason,
                "utc": utc_now_text(),
            }
        )
        return self.store.put_disposition(message)
