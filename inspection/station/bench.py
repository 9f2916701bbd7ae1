"""`inspection bench`: the station on the simulated line beside the bare model, on the same cores.

Four measurements in one run, so the ratios compare like with like:
1. the bare model: onnxruntime alone on preloaded frames, as one 2-thread session and as one
   1-thread session per worker; the better throughput is the baseline;
2. the station offered the bare model's best rate: sustained throughput (parts the model decided
   per s), the figure the 0.90 target is about;
3. the station at the line's maximum rate (1000/s): the same figure while most parts are shed,
   which costs CPU the model then lacks (kept: it was the only figure before);
4. the station at 50% of the bare throughput: latency from capture to decision and deadline misses.

The frames come from the simulated line, or from the config's own camera (a folder of images,
or a GenICam camera such as viky) paced at the same rates; `--rate` replaces 2-4 by one run at
a rate of the user's choosing, or at the source's maximum.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.sim import render_part
from inspection.config import StationConfig
from inspection.config.camera import FolderSourceConfig, GenicamSourceConfig, SimulatedSourceConfig, SourceConfig
from inspection.errors import ConfigError
from inspection.factory import load_runtime
from inspection.runtime import ModelRuntime
from inspection.station.build import DATABASE, run_station
from inspection.station.cpu_use import CpuWatch, CpuWindow, workers_running

SHED = ("overload", "deadline")
MAX_SIMULATED_HZ = 1_000.0  # the simulated line's ceiling (60 000 parts/min)


@dataclass(frozen=True)
class Bare:
    label: str
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # the process's CPU per inference (every thread of the session's pool)


@dataclass(frozen=True)
class CpuPerPart:
    """CPU per part decided by the model, by stage, over a steady window of a station run (start-up and
    drain left out)."""

    seconds: float  # the window
    parts: int  # captured in it and decided by the model
    ms: dict[str, float]  # stage -> CPU ms per part

    @property
    def total_ms(self) -> float:
        return sum(self.ms.values())


@dataclass(frozen=True)
class StationRun:
    rate_hz: float
    seconds: float
    parts: int
    model_decided: int  # decided by the model, not shed (overload) or timed out (deadline)
    deadline_misses: int
    overload: int
    latency_ms: dict[str, tuple[float, float, float, float]]  # stage -> p50, p95, p99, max
    cpu: CpuPerPart | None = None  # None: a run too short for a window, or no /proc

    @property
    def throughput(self) -> float:
        return self.model_decided / self.seconds


def bare_model(config: StationConfig, seconds: float, workers: int, *, only_per_worker: bool = False) -> list[Bare]:
    """Both layouts, the station's own (one 1-thread session per worker) last; `only_per_worker`: that one."""
    images = [render_part(9_000_000 + i, defective=i % 3 == 0).image for i in range(16)]
    results = []
    layouts = ((workers, 1), (1, workers))
    for threads, sessions in layouts[1:] if only_per_worker else layouts:
        single = config.with_model(intra_op_threads=threads, verify_golden=False)
        runtimes = [load_runtime(single) for _ in range(sessions)]
        tensors = [runtimes[0].preprocess(image).copy() for image in images]
        times: list[list[float]] = [[] for _ in runtimes]
        cpu_before = _process_cpu_s()
        stop_at = time.monotonic() + seconds
        loops = [
            threading.Thread(target=_infer, args=(r, tensors, stop_at, t)) for r, t in zip(runtimes, times, strict=True)
        ]
        for thread in loops:
            thread.start()
        for thread in loops:
            thread.join()
        cpu_ms = (_process_cpu_s() - cpu_before) * 1e3
        every = np.concatenate([np.array(t) for t in times]) * 1e3
        label = f"{sessions} session(s) x {threads} thread(s)"
        p50, p99 = np.percentile(every, [50, 99]).tolist()
        results.append(Bare(label, every.size / seconds, p50, p99, cpu_ms / max(every.size, 1)))
    return results


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _infer(runtime: ModelRuntime, tensors: list[np.ndarray], stop_at: float, times: list[float]) -> None:
    i = 0
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        runtime.infer(tensors[i % len(tensors)])
        times.append(time.perf_counter() - start)
        i += 1


def bench_camera(config: StationConfig, source: str, rate_hz: float | None) -> SourceConfig:
    """The camera for one run: `rate_hz` None is the source's maximum (the simulated line's 1000/s)."""
    if source == "simulated":
        return SimulatedSourceConfig(parts_per_minute=(rate_hz or MAX_SIMULATED_HZ) * 60, pool_size=32)
    camera = config.camera
    match camera:
        case FolderSourceConfig():
            return camera.model_copy(update={"rate_hz": rate_hz, "loop": True})  # a short folder lasts the run
        case GenicamSourceConfig():
            return camera.model_copy(update={"frame_rate_hz": rate_hz})  # None: the camera's own rate
        case _:
            raise ConfigError(
                "inspection bench --source config needs camera.kind 'folder' or 'genicam' in --config; "
                "without one, leave --source at 'simulated'"
            )


def station_at(config: StationConfig, rate_hz: float | None, seconds: float, source: str = "simulated") -> StationRun:
    """One run of the station, its decisions read back from its own database."""
    camera = bench_camera(config, source, rate_hz)
    with tempfile.TemporaryDirectory(prefix="inspection-bench-") as folder:
        storage = config.storage.model_copy(update={"data_dir": Path(folder)})
        run_config = config.model_copy(update={"camera": camera, "storage": storage}).with_model(verify_golden=False)
        with CpuWatch(workers_running, warmup_s=min(1.0, seconds / 4)) as watch:
            if rate_hz is None:  # as fast as the source goes, for a time
                run_station(run_config, threading.Event(), max_seconds=seconds)
            else:  # a paced source: exactly the parts of `seconds` at `rate_hz`
                run_station(run_config, threading.Event(), max_parts=max(1, round(rate_hz * seconds)))
        db = sqlite3.connect(Path(folder) / DATABASE)
        rows = db.execute("SELECT reason, verdict, latency_ms FROM decisions").fetchall()
        first, last = db.execute("SELECT MIN(captured_ns), MAX(captured_ns) FROM decisions").fetchone()
        cpu = _cpu_per_part(db, watch.window())
        db.close()
    if not rows:
        raise ConfigError(f"inspection bench: the {source} source gave no frame in {seconds:.0f} s; check the camera")
    elapsed = max((last - first) / 1e9, 1e-9)
    stages: dict[str, list[float]] = {}
    decided = 0
    for reason, verdict, latency in rows:
        if verdict == "failsafe" and reason in SHED:
            continue
        decided += 1
        for stage, ms in json.loads(latency).items():
            stages.setdefault(stage, []).append(ms)
    latency_ms = {
        stage: (*np.percentile(values, [50, 95, 99]).tolist(), float(max(values))) for stage, values in stages.items()
    }
    reasons = [reason for reason, verdict, _ in rows if verdict == "failsafe"]
    return StationRun(
        len(rows) / elapsed if rate_hz is None else rate_hz,
        elapsed,
        len(rows),
        decided,
        reasons.count("deadline"),
        reasons.count("overload"),
        latency_ms,
        cpu,
    )


def _cpu_per_part(db: sqlite3.Connection, window: CpuWindow | None) -> CpuPerPart | None:
    if window is None:
        return None
    # Per part the model decided: shed parts cost CPU too (recording them), and that is part of what a
    # saturated station pays for each part it does decide.
    query = (
        "SELECT COUNT(*) FROM decisions WHERE captured_ns >= ? AND captured_ns < ? "
        f"AND NOT (verdict = 'failsafe' AND reason IN ({', '.join('?' * len(SHED))}))"
    )
    parts = int(db.execute(query, (window.start_ns, window.end_ns, *SHED)).fetchone()[0])
    if parts == 0:
        return None
    ms = {stage: seconds * 1e3 / parts for stage, seconds in window.seconds.items()}
    return CpuPerPart((window.end_ns - window.start_ns) / 1e9, parts, ms)
