"""`inspection bench`: the station on the simulated line beside the bare model, on the same cores.

Four measurements in one run, so the ratios compare like with like:
1. the bare model: onnxruntime alone on preloaded frames, as one 2-thread session and as one
   1-thread session per worker; the better throughput is the baseline;
2. the station offered the bare model's best rate: sustained throughput (parts the model decided
   per s), the figure the 0.90 target is about;
3. the station at the line's maximum rate (1000/s): the same figure while most parts are shed,
   which costs CPU the model then lacks (kept: it was the only figure before);
4. the station at 50% of the bare throughput: latency from capture to decision and deadline misses.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.sim import render_part
from inspection.config import StationConfig
from inspection.config.camera import SimulatedSourceConfig
from inspection.factory import load_runtime
from inspection.runtime import ModelRuntime
from inspection.station.build import DATABASE, run_station

SHED = ("overload", "deadline")


@dataclass(frozen=True)
class Bare:
    label: str
    per_second: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class StationRun:
    rate_hz: float
    seconds: float
    parts: int
    model_decided: int  # decided by the model, not shed (overload) or timed out (deadline)
    deadline_misses: int
    overload: int
    latency_ms: dict[str, tuple[float, float, float, float]]  # stage -> p50, p95, p99, max

    @property
    def throughput(self) -> float:
        return self.model_decided / self.seconds


def bare_model(config: StationConfig, seconds: float, workers: int) -> list[Bare]:
    images = [render_part(9_000_000 + i, defective=i % 3 == 0).image for i in range(16)]
    results = []
    for threads, sessions in ((workers, 1), (1, workers)):
        single = config.with_model(intra_op_threads=threads, verify_golden=False)
        runtimes = [load_runtime(single) for _ in range(sessions)]
        tensors = [runtimes[0].preprocess(image).copy() for image in images]
        times: list[list[float]] = [[] for _ in runtimes]
        stop_at = time.monotonic() + seconds
        loops = [
            threading.Thread(target=_infer, args=(r, tensors, stop_at, t)) for r, t in zip(runtimes, times, strict=True)
        ]
        for thread in loops:
            thread.start()
        for thread in loops:
            thread.join()
        every = np.concatenate([np.array(t) for t in times]) * 1e3
        label = f"{sessions} session(s) x {threads} thread(s)"
        results.append(Bare(label, every.size / seconds, *np.percentile(every, [50, 99]).tolist()))
    return results


def _infer(runtime: ModelRuntime, tensors: list[np.ndarray], stop_at: float, times: list[float]) -> None:
    i = 0
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        runtime.infer(tensors[i % len(tensors)])
        times.append(time.perf_counter() - start)
        i += 1


def station_at(config: StationConfig, rate_hz: float, seconds: float) -> StationRun:
    with tempfile.TemporaryDirectory(prefix="inspection-bench-") as folder:
        camera = SimulatedSourceConfig(parts_per_minute=min(rate_hz * 60, 60_000), pool_size=32)
        storage = config.storage.model_copy(update={"data_dir": Path(folder)})
        run_config = config.model_copy(update={"camera": camera, "storage": storage}).with_model(verify_golden=False)
        parts = max(1, round(rate_hz * seconds))
        run_station(run_config, threading.Event(), max_parts=parts)
        db = sqlite3.connect(Path(folder) / DATABASE)
        rows = db.execute("SELECT reason, verdict, latency_ms FROM decisions").fetchall()
        first, last = db.execute("SELECT MIN(captured_ns), MAX(captured_ns) FROM decisions").fetchone()
        db.close()
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
        rate_hz, elapsed, len(rows), decided, reasons.count("deadline"), reasons.count("overload"), latency_ms
    )
