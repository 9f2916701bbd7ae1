"""Turning what the camera says (frame ids, triggers) into counted losses; pure logic, no driver."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Missing:
    first_frame_id: int
    count: int
    reason: str


class FrameIds:
    """Finds frames that never reached us from jumps in the camera's frame counter.

    A counter that goes backwards (wrap-around, device reset) starts a new run rather than
    claiming an absurd gap.
    """

    def __init__(self) -> None:
        self.expected: int | None = None
        self.incomplete = 0  # incomplete buffers discarded since the last frame

    def reset(self) -> None:
        self.expected = None
        self.incomplete = 0

    def see(self, frame_id: int) -> Missing | None:
        expected, self.expected = self.expected, frame_id + 1
        incomplete, self.incomplete = self.incomplete, 0
        if expected is None or frame_id <= expected:
            return None
        why = "frames lost before reaching the host (camera or transport dropped them)"
        if incomplete:
            why = f"{incomplete} incomplete buffer(s) discarded and requeued; " + why
        return Missing(expected, frame_id - expected, why)


class TriggerLedger:
    """Matches software triggers to frames in order: each trigger yields one frame or one miss."""

    def __init__(self, miss_timeout_ns: int) -> None:
        self.miss_timeout_ns = miss_timeout_ns
        self._pending: deque[tuple[int, int]] = deque()  # (trigger number, deadline)
        self._count = 0

    def fired(self, now_ns: int) -> int:
        self._count += 1
        self._pending.append((self._count, now_ns + self.miss_timeout_ns))
        return self._count

    def frame(self) -> int | None:
        """The trigger this frame answers; None for a frame nobody asked for."""
        return self._pending.popleft()[0] if self._pending else None

    def misses(self, now_ns: int) -> list[int]:
        missed = []
        while self._pending and self._pending[0][1] <= now_ns:
            missed.append(self._pending.popleft()[0])
        return missed

    def clear(self) -> None:
        self._pending.clear()
