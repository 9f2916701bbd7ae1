"""CPU per thread for `inspection bench`: stages named right, windows measured on real threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from inspection.station.cpu_use import (
    TICKS_PER_S,
    CpuSample,
    CpuWatch,
    between,
    sample,
    stage_of,
    task_cpu_seconds,
    with_latest,
)


def test_threads_are_grouped_into_the_stages_the_bench_prints() -> None:
    assert [stage_of(n) for n in ("inference-0", "inference-11", "MainThread", "decision-store", "image-store")] == [
        "inference",
        "inference",
        "acquisition",
        "decision-store",
        "image-store",
    ]
    assert stage_of("review-link") == stage_of("") == "other"


def test_a_window_sums_stages_and_counts_threads_started_inside_it_from_zero() -> None:
    first = CpuSample(1_000, {1: ("inference", 2.0), 2: ("inference", 3.0), 3: ("other", 1.0)})
    last = CpuSample(3_000, {1: ("inference", 2.5), 2: ("inference", 3.25), 3: ("other", 1.0), 4: ("other", 0.5)})
    window = between(first, last)
    assert (window.start_ns, window.end_ns) == (1_000, 3_000)
    assert window.seconds == {"inference": 0.75, "other": 0.5}


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(1_000))


def test_a_busy_worker_is_measured_and_the_window_leaves_out_warm_up_and_idle_threads() -> None:
    if sample() is None:
        pytest.skip("no /proc/self/task on this system: the bench prints no CPU breakdown here")
    worker = threading.Thread(target=_burn, args=(1.5,), name="inference-0")
    with CpuWatch(worker.is_alive, warmup_s=0.3, period_s=0.05) as watch:
        worker.start()
        worker.join()
    window = watch.window()
    assert window is not None
    span = (window.end_ns - window.start_ns) / 1e9
    assert 0.6 < span < 1.3, span  # 1.5 s of work less the warm-up, closed at the last sample while it ran
    assert 0.6 < window.seconds["inference"] / span < 1.1, window  # one busy thread is about one core
    assert window.seconds.get("acquisition", 0.0) < 0.1, window  # the main thread only waited


def test_a_run_shorter_than_the_warm_up_has_no_window() -> None:
    worker = threading.Thread(target=time.sleep, args=(0.2,), name="inference-0")
    with CpuWatch(worker.is_alive, warmup_s=1.0, period_s=0.05) as watch:
        worker.start()
        worker.join()
    assert watch.window() is None


def test_without_schedstat_the_clock_ticks_of_stat_are_read(tmp_path: Path) -> None:
    task = tmp_path / "4242"
    task.mkdir()
    state_to_stime = ["S", *map(str, range(1, 11)), "250", "50"]  # utime 250, stime 50 ticks
    (task / "stat").write_text(f"4242 (python (x)) {' '.join(state_to_stime)} 0 0 20 0\n")
    assert task_cpu_seconds(task) == pytest.approx(300 / TICKS_PER_S)
    (task / "schedstat").write_text("1234567890 5 6\n")
    assert task_cpu_seconds(task) == pytest.approx(1.23456789)


def test_a_thread_that_ends_between_samples_keeps_its_last_reading_and_its_stage() -> None:
    before = CpuSample(1, {1: ("inference", 2.0), 2: ("other", 1.0)})
    now = CpuSample(2, {2: ("other", 1.5), 3: ("image-store", 0.1), 1_000: ("other", 0.2)})
    now = CpuSample(2, {**now.seconds, 1: ("other", 2.5)})  # its Python name is gone, its OS thread not yet
    assert with_latest(before, now).seconds == {
        1: ("inference", 2.5),
        2: ("other", 1.5),
        3: ("image-store", 0.1),
        1_000: ("other", 0.2),
    }
    assert with_latest(before, CpuSample(3, {2: ("other", 1.5)})).seconds[1] == ("inference", 2.0)  # ended
