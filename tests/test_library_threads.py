"""The station's background threads yield the CPU to inference, and numpy's BLAS adds no threads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from threadpoolctl import threadpool_info

from inspection.library_threads import one_thread_per_call
from inspection.station.priority import BACKGROUND_NICE, lower_this_thread
from inspection.station.store import DecisionStore


def nice_of(thread: threading.Thread) -> int:
    assert thread.native_id is not None
    return os.getpriority(os.PRIO_PROCESS, thread.native_id)


def test_a_background_thread_runs_nicer_than_the_thread_that_started_it() -> None:
    seen: list[int] = []
    ready = threading.Event()

    def background() -> None:
        lower_this_thread()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        ready.set()

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=background)
    thread.start()
    assert ready.wait(5)
    thread.join()
    assert seen == [min(19, before + BACKGROUND_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before, "only the calling thread changes"


def test_the_decision_store_writes_at_background_priority(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "station.db")
    try:
        writer = next(t for t in threading.enumerate() if t.name == "decision-store")
        own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        for _ in range(100):  # the thread lowers itself as it starts
            if nice_of(writer) != own:
                break
            threading.Event().wait(0.01)
        assert nice_of(writer) == min(19, own + BACKGROUND_NICE)
    finally:
        store.close()


def test_blas_pools_are_one_thread_after_the_limit() -> None:
    one_thread_per_call()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy loaded no BLAS that threadpoolctl can see"
    assert all(pool["num_threads"] == 1 for pool in blas), blas
