"""The station's counters, read consistently: acquired == decided + dropped, at every instant."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Snapshot:
    acquired: int
    decided: Counter[str]  # by verdict
    failsafe: Counter[str]  # by reason
    dropped: Counter[str]  # frames that never became parts, by reason
    in_flight: int
    faults: int
    late_results: int  # model results that arrived after the part was already decided


@dataclass
class Accounting:
    """All updates and reads under one lock, so a snapshot never shows half of an update."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    acquired: int = 0
    decided: Counter[str] = field(default_factory=Counter)
    failsafe: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    faults: int = 0
    late_results: int = 0

    def frame_acquired(self) -> None:
        with self._lock:
            self.acquired += 1
            self.in_flight += 1

    def part_decided(self, verdict: str, reason: str) -> None:
        with self._lock:
            self.in_flight -= 1
            self.decided[verdict] += 1
            if verdict == "failsafe":
                self.failsafe[reason] += 1

    def frames_dropped(self, count: int, reason: str) -> None:
        """Frames lost before they were parts (free-run camera gaps): counted, with the reason."""
        with self._lock:
            self.acquired += count
            self.dropped[reason] += count

    def fault(self) -> None:
        with self._lock:
            self.faults += 1

    def late_result(self) -> None:
        with self._lock:
            self.late_results += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                self.acquired,
                self.decided.copy(),
                self.failsafe.copy(),
                self.dropped.copy(),
                self.in_flight,
                self.faults,
                self.late_results,
            )
