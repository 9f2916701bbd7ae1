"""CPU time per thread while the station runs: where each part's CPU goes, for `inspection bench`.

The throughput ratio says how far the station is from the bare model, not why; and it moves 10-20%
with this VM's speed between runs. CPU per part by thread names the stage that costs: the
inference workers (preprocessing, model, decision), the recorders, acquisition. Read from
/proc/self/task (Linux, like the line PCs); elsewhere there is no breakdown, and the bench says so.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inspection.station.pipeline import WORKER_PREFIX

TASKS = Path("/proc/self/task")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Thread names (threading.Thread(name=...)) grouped into the stages the bench prints; the rest is "other".
STAGES = {"MainThread": "acquisition", "decision-store": "decision-store", "image-store": "image-store"}


@dataclass(frozen=True)
class CpuSample:
    at_ns: int  # time.monotonic_ns(), the clock of the frames' capture times
    seconds: dict[int, tuple[str, float]]  # native thread id -> (stage, CPU seconds so far, user + system)


@dataclass(frozen=True)
class CpuWindow:
    start_ns: int
    end_ns: int
    seconds: dict[str, float]  # stage -> CPU seconds spent in the window


def stage_of(name: str) -> str:
    return "inference" if name.startswith(WORKER_PREFIX) else STAGES.get(name, "other")


def sample() -> CpuSample | None:
    """Every thread's CPU time now, or None where /proc/self/task is not there."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    at_ns = time.monotonic_ns()
    try:
        tasks = list(TASKS.iterdir())
    except OSError:
        return None
    seconds = {}
    for task in tasks:
        try:
            spent = task_cpu_seconds(task)
        except OSError:
            continue  # the thread ended meanwhile
        tid = int(task.name)
        seconds[tid] = (stage_of(names.get(tid, "")), spent)
    return CpuSample(at_ns, seconds)


def task_cpu_seconds(task: Path) -> float:
    """On-CPU time from schedstat (nanoseconds); from stat's clock ticks (10 ms) on kernels without it."""
    try:
        return int((task / "schedstat").read_text().split()[0]) / 1e9
    except FileNotFoundError:
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def between(first: CpuSample, last: CpuSample) -> CpuWindow:
    """CPU per stage from `first` to `last`; a thread that started in between counts from zero."""
    spent: dict[str, float] = {}
    for tid, (stage, seconds) in last.seconds.items():
        before = first.seconds.get(tid, (stage, 0.0))[1]
        spent[stage] = spent.get(stage, 0.0) + seconds - before
    return CpuWindow(first.at_ns, last.at_ns, spent)


class CpuWatch:
    """Samples every `period_s` on its own thread while `running()` says the station works.

    The window opens `warmup_s` after the station is first seen running (start-up's model loading
    is not a part's CPU) and closes at the last sample taken while it still ran (the drain is not).
    """

    def __init__(self, running: Callable[[], bool], warmup_s: float = 1.0, period_s: float = 0.25) -> None:
        self._running = running
        self._warmup_ns = round(warmup_s * 1e9)
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cpu-watch", daemon=True)
        self._first: CpuSample | None = None
        self._last: CpuSample | None = None  # every thread's latest reading: one that ended keeps its last

    def __enter__(self) -> CpuWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self) -> CpuWindow | None:
        """None when the run was too short for a window, or /proc is missing."""
        if self._first is None or self._last is None:
            return None
        return between(self._first, self._last)

    def _watch(self) -> None:
        seen_ns: int | None = None
        while not self._stop.wait(self._period_s):
            if not self._running():
                if seen_ns is not None:
                    return  # drained: the window is closed
                continue
            now = sample()
            if now is None:
                return
            if seen_ns is None:
                seen_ns = now.at_ns
            elif self._first is None:
                if now.at_ns - seen_ns >= self._warmup_ns:
                    self._first = now
            else:
                self._last = with_latest(self._last or self._first, now)


def with_latest(before: CpuSample, now: CpuSample) -> CpuSample:
    """`now`, plus the threads it no longer lists (ended, or mid-exit) at their last reading.

    Without this, a worker that exited while the process was being sampled took its CPU out of the window.
    """
    seconds = dict(before.seconds)
    for tid, (stage, spent) in now.seconds.items():
        seconds[tid] = (seconds.get(tid, (stage, 0.0))[0], spent)  # the stage it had while its name was known
    return CpuSample(now.at_ns, seconds)


def workers_running() -> bool:
    return any(thread.name.startswith(WORKER_PREFIX) for thread in threading.enumerate())
