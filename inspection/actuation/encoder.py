"""Encoder tracking: belt position sources, a speed estimator, and the FIFO of parts ordered by gate position.

A belt that stops, restarts or changes speed makes a part's arrival time unknowable at capture;
its gate position is not. The scheduler polls the position, and a part is handed to its
time-ordered heap only once the estimator can say when it will reach the gate (never while the
belt stands still, so a stopped belt holds parts instead of missing them).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from inspection.config.actuation import EncoderConfig

WRAP = 2**32
# Belt speed is measured over this much time (since the last stop at most): a read's latency varies
# by milliseconds (a loaded host, a PLC's scan cycle), so over one 5 ms poll the speed was off by up
# to +-50% (tests/test_actuation_encoder.py, counter over Modbus); over 25 ms by a fifth of that.
SPEED_WINDOW_NS = 25_000_000
T = TypeVar("T")


class PositionSource(Protocol):
    def position(self) -> int:
        """Belt position in counts, unwrapped (keeps growing past the register's 32 bits). May raise DriverError."""
        ...


class Counter32:
    """Unwraps a 32-bit counter: steps are taken modulo 2**32, so 4294967295 -> 3 is +4 counts."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._position = 0

    def unwrap(self, raw: int) -> int:
        if self._last is None:
            self._position = raw
        else:
            step = (raw - self._last) % WRAP
            self._position += step - WRAP if step >= WRAP // 2 else step  # a step back is jitter, not a lap
        self._last = raw
        return self._position


class CounterReader(Protocol):
    def read_counter(self, address: int, high_first: bool) -> int: ...


class ModbusPosition:
    """The counter in two input registers, read through the gate's Modbus driver (one thread uses both)."""

    def __init__(self, driver: CounterReader, address: int, high_first: bool) -> None:
        self._driver = driver
        self._address = address
        self._high_first = high_first
        self._counter = Counter32()

    def position(self) -> int:
        return self._counter.unwrap(self._driver.read_counter(self._address, self._high_first))


class SimulatedPosition:
    """A belt driven by the clock: piecewise constant speed, as a 32-bit register (so it wraps like a real one)."""

    def __init__(
        self,
        counts_per_mm: float,
        speed_mm_s: float,
        start_counts: int = 0,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.counts_per_mm = counts_per_mm
        self._clock = clock
        self._segments: list[tuple[int, float, float]] = [(clock(), float(start_counts), speed_mm_s)]
        self._counter = Counter32()

    def set_speed(self, speed_mm_s: float) -> None:
        """0 stops the belt; the change takes effect now."""
        now = self._clock()
        self._segments.append((now, self.at(now), speed_mm_s))

    def at(self, t_ns: int) -> float:
        """Unwrapped position (counts) at a monotonic time: what tests compare firing positions with."""
        starts = [s[0] for s in self._segments]
        t0, p0, speed = self._segments[max(bisect.bisect_right(starts, t_ns) - 1, 0)]
        return p0 + speed * self.counts_per_mm * (t_ns - t0) / 1e9

    def speed_at(self, t_ns: int) -> float:
        starts = [s[0] for s in self._segments]
        return self._segments[max(bisect.bisect_right(starts, t_ns) - 1, 0)][2]

    def register(self) -> int:
        return int(self.at(self._clock())) % WRAP

    def position(self) -> int:
        return self._counter.unwrap(self.register())


class Estimator:
    """Recent (time, position) samples: position at a past time, and when a position will be reached."""

    def __init__(self, history_ns: int, poll_ns: int, stopped_below: float) -> None:
        """stopped_below: counts per ns under which the belt counts as stopped."""
        self._times: deque[int] = deque(maxlen=history_ns // poll_ns + 8)
        self._positions: deque[int] = deque(maxlen=history_ns // poll_ns + 8)
        self._stopped_below = stopped_below
        self.speed = 0.0  # counts per ns, over SPEED_WINDOW_NS since the last stop; 0 while stopped
        self.restart_ns = 0  # first sample moving again after a stop
        self._moving_from_ns = 0  # the last sample with the belt standing: the speed is measured after it

    def add(self, t_ns: int, position: int) -> None:
        if not self._positions:
            self._moving_from_ns = t_ns
        else:
            position = max(position, self._positions[-1])  # a counter stepping back is noise
            was_stopped = self.stopped
            dt = t_ns - self._times[-1]
            if dt <= 0:
                return
            if (position - self._positions[-1]) / dt < self._stopped_below:  # a stop shows at once, not averaged
                self._moving_from_ns = t_ns
            since = bisect.bisect_left(self._times, max(self._moving_from_ns, t_ns - SPEED_WINDOW_NS))
            since = min(since, len(self._times) - 1)
            self.speed = (position - self._positions[since]) / (t_ns - self._times[since])
            if self._moving_from_ns == t_ns:
                self.speed = 0.0
            if was_stopped and not self.stopped:
                self.restart_ns = t_ns
        self._times.append(t_ns)
        self._positions.append(position)

    @property
    def stopped(self) -> bool:
        return self.speed < self._stopped_below

    def position_at(self, t_ns: int) -> int | None:
        """Interpolated between samples; before the first, the first; after the last, at the current speed."""
        if not self._times:
            return None
        if t_ns >= self._times[-1]:
            return round(self._positions[-1] + self.speed * (t_ns - self._times[-1]))
        i = bisect.bisect_right(self._times, t_ns)
        if i == 0:
            return self._positions[0]
        (t0, t1), (p0, p1) = (self._times[i - 1], self._times[i]), (self._positions[i - 1], self._positions[i])
        return round(p0 + (p1 - p0) * (t_ns - t0) / (t1 - t0))

    def time_at(self, target: int) -> int | None:
        """When the belt reached (from the samples) or will reach (at the current speed) `target`; None: stopped."""
        last_t, last_p = self._times[-1], self._positions[-1]
        if target > last_p:
            return None if self.stopped else last_t + round((target - last_p) / self.speed)
        i = bisect.bisect_left(self._positions, target)
        if i == 0:
            return self._times[0]
        (t0, t1), (p0, p1) = (self._times[i - 1], self._times[i]), (self._positions[i - 1], self._positions[i])
        return t0 + round((t1 - t0) * (target - p0) / (p1 - p0))


class Tracker(Generic[T]):
    """Parts by gate position until their fire time is known; `poll` hands over those due before the next poll."""

    def __init__(self, config: EncoderConfig, source: PositionSource, lead_ns: int, horizon_ns: int) -> None:
        self._source = source
        self._distance = round(config.distance_mm * config.counts_per_mm)
        self._travel_ns = round(config.travel_ms() * 1e6)  # what the station added to the capture time
        self.poll_ns = round(config.poll_ms * 1e6)
        self._lead_ns = lead_ns
        self._horizon_ns = self.poll_ns + horizon_ns
        stopped = config.stopped_below_mm_s * config.counts_per_mm / 1e9
        self._estimator = Estimator(self._travel_ns + 2_000_000_000, self.poll_ns, stopped)
        self._parts: list[tuple[int, int, int, T]] = []  # (gate position, order, planned arrival ns, part)
        self._unplaced: list[T] = []  # came before the first position sample: recorded missed at the next poll
        self._order = itertools.count()
        self._lock = threading.Lock()  # `add` comes from the station's threads, `poll` from the scheduler's
        self.next_poll_ns = 0

    def __len__(self) -> int:
        return len(self._parts) + len(self._unplaced)

    def start(self, now_ns: int) -> None:
        """The first sample, so that parts captured from now on have a position (raises DriverError)."""
        self._estimator.add(now_ns, self._source.position())

    def add(self, arrival_ns: int, part: T) -> None:
        """arrival_ns = capture + the nominal travel time, as the station computes it for every gate."""
        with self._lock:
            if (captured := self._estimator.position_at(arrival_ns - self._travel_ns)) is None:
                self._unplaced.append(part)
                return
            target = captured + self._distance
            heapq.heappush(self._parts, (target, next(self._order), arrival_ns, part))

    def poll(self, now_ns: int) -> list[tuple[int, T]]:
        """Samples the position (raises DriverError) and returns (fire time, part) for parts due soon, in order."""
        self.next_poll_ns = now_ns + self.poll_ns
        position = self._source.position()
        with self._lock:
            due: list[tuple[int, T]] = [(0, part) for part in self._unplaced]  # 0: too late, alarmed missed
            self._unplaced.clear()
            self._estimator.add(now_ns, position)
            while self._parts:
                eta = self._estimator.time_at(self._parts[0][0])
                if eta is None:
                    break  # the belt stands: the fire time is not known yet, and the part is not late
                fire_ns = max(eta - self._lead_ns, self._estimator.restart_ns)  # after a stop: at once, not missed
                if fire_ns > now_ns + self._horizon_ns:
                    break
                due.append((fire_ns, heapq.heappop(self._parts)[3]))
        return due

    def drain(self) -> list[tuple[int, T]]:
        """What is left at shutdown, with the fire time the station planned."""
        with self._lock:
            left = [(arrival - self._lead_ns, part) for _, _, arrival, part in sorted(self._parts, key=lambda p: p[:2])]
            left += [(0, part) for part in self._unplaced]
            self._parts.clear()
            self._unplaced.clear()
        return left
