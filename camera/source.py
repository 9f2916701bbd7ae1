"""The one interface every frame source implements, and the pacing they share."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from camera.frames import SourceEvent


class FrameSource(ABC):
    """open -> start -> read... -> stop -> close; or simply `with source:`.

    `read` waits at most `timeout_s` and returns None when nothing arrived in that time, so a
    caller is never blocked for longer than it asked.
    """

    source_id: str

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def read(self, timeout_s: float) -> SourceEvent | None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        self.open()
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.stop()
        finally:
            self.close()


class PacedSource(FrameSource):
    """A source that makes its own frames on a schedule (files, simulation), not a camera's."""

    def __init__(self, rate_hz: float | None, source_id: str) -> None:
        self.source_id = source_id
        self._pacer = Pacer(rate_hz)
        self._running = False

    def start(self) -> None:
        self._pacer.reset()
        self._running = True

    def stop(self) -> None:
        self._running = False

    def next_tick(self, timeout_s: float) -> bool:
        """True when the next frame is due; raises if the source was never started."""
        if not self._running:
            raise RuntimeError(f"source {self.source_id} is not started")
        return self._pacer.wait(timeout_s)


class Pacer:
    """Releases one tick every 1/rate seconds on monotonic time; rate None means no pacing.

    Ticks are scheduled from the start, not from the previous tick, so a late reader does not
    slow the line down: it finds the overdue ticks ready at once.
    """

    def __init__(self, rate_hz: float | None) -> None:
        self.period_ns = round(1e9 / rate_hz) if rate_hz else 0
        self.start_ns = 0
        self.ticks = 0

    def reset(self) -> None:
        self.start_ns = time.monotonic_ns()
        self.ticks = 0

    def wait(self, timeout_s: float) -> bool:
        """True when the next tick is due (consuming it); False if it is not due within the timeout."""
        due = self.start_ns + self.ticks * self.period_ns
        delay = (due - time.monotonic_ns()) / 1e9
        if delay > timeout_s:
            time.sleep(max(0.0, timeout_s))
            return False
        if delay > 0:
            time.sleep(delay)
        self.ticks += 1
        return True
