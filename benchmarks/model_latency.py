"""Model latency: the station's runtime and full inspect path beside a bare onnxruntime loop.

All three are measured in this one run on the same preloaded frames and cores, and printed
with their ratios, so the figures compare like with like whatever else the machine is doing.

    python benchmarks/model_latency.py [--runs 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from camera.sim import render_part
from inspection.config import StationConfig
from inspection.factory import build_inspector
from inspection.runtime import ModelRuntime


@dataclass(frozen=True)
class Timing:
    name: str
    median_ms: float
    p99_ms: float
    per_second: float


def timed(name: str, runs: int, step: Callable[[int], object]) -> Timing:
    for i in range(20):  # warm caches and arenas
        step(i)
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        step(i)
        times[i] = time.perf_counter() - t
    return Timing(name, float(np.median(times) * 1e3), float(np.percentile(times, 99) * 1e3), runs / float(times.sum()))


def bare_session(runtime: ModelRuntime, threads: int) -> ort.InferenceSession:
    """Plain onnxruntime, configured as the documentation suggests, no project code in the loop."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(runtime.path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    cfg = StationConfig()
    cfg = cfg.with_model(intra_op_threads=args.threads)
    inspector = build_inspector(cfg)
    runtime = inspector.runtime
    frames = [render_part(5_000_000 + i).image for i in range(16)]
    tensors = [runtime.preprocess(f).copy() for f in frames]
    session = bare_session(runtime, args.threads)
    name = runtime.card.input.name

    bare = timed("bare onnxruntime", args.runs, lambda i: session.run(None, {name: tensors[i % 16]}))
    infer = timed("runtime.infer", args.runs, lambda i: runtime.infer(tensors[i % 16]))
    full = timed("inspect (pre+model+decide)", args.runs, lambda i: inspector.inspect(frames[i % 16], str(i)))

    print(f"model {runtime.card.name} {runtime.card.version} ({runtime.model_id[:12]}), {args.threads} threads")
    print(f"{'path':<30}{'median ms':>11}{'p99 ms':>9}{'per s':>9}{'median / bare':>15}")
    for t in (bare, infer, full):
        print(
            f"{t.name:<30}{t.median_ms:>11.3f}{t.p99_ms:>9.3f}{t.per_second:>9.0f}{t.median_ms / bare.median_ms:>15.3f}"
        )
    budget = 5.0
    verdict = "ok" if bare.median_ms <= budget else "OVER"
    print(f"bare model median {bare.median_ms:.2f} ms vs budget {budget} ms: {verdict}")


if __name__ == "__main__":
    main()
