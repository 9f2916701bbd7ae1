"""Waiting for a fire time: a coarse wait on a condition, then a short precise wait (see benchmarks/gate_timing.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

COARSE_MARGIN_NS = 2_000_000  # a condition wait may wake this late under load; the rest is waited precisely
SPIN_NS = 200_000  # the last stretch: yield the GIL in a loop instead of sleeping past the time


def wait_until(due_ns: int, clock: Callable[[], int] = time.monotonic_ns) -> None:
    while (left := due_ns - clock()) > SPIN_NS:
        time.sleep((left - SPIN_NS) / 1e9)
    while clock() < due_ns:
        time.sleep(0)
