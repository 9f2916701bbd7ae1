"""Size, parameter count, FLOPs estimate and measured latency of an ONNX model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from inspection.runtime import ModelRuntime


@dataclass(frozen=True)
class Latency:
    runs: int
    median_ms: float
    p99_ms: float
    per_second: float


def _dims(value: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value for d in value.type.tensor_type.shape.dim]


def graph_stats(path: Path) -> tuple[int, float]:
    """(parameters, FLOPs per inference), counting convolutions and matrix products (2 per MAC)."""
    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    shapes = {v.name: _dims(v) for v in [*graph.value_info, *graph.output, *graph.input]}
    params = int(sum(w.size for w in weights.values()))
    flops = 0.0
    for node in graph.node:
        out = shapes.get(node.output[0])
        if node.op_type == "Conv" and out and node.input[1] in weights:
            w = weights[node.input[1]]  # (Cout, Cin/group, kh, kw)
            flops += 2.0 * float(np.prod(out)) * float(np.prod(w.shape[1:]))
        elif node.op_type in ("Gemm", "MatMul") and out:
            a = shapes.get(node.input[0]) or list(weights.get(node.input[0], np.empty(0)).shape)
            if a:
                flops += 2.0 * float(np.prod(out)) * a[-1]
    return params, flops


def measure_latency(runtime: ModelRuntime, runs: int = 300) -> Latency:
    """Batch-1 inference on a fixed input, after warm-up: the model's own cost, nothing else."""
    tensor = np.zeros(runtime.card.input.shape, dtype=np.float32)
    for _ in range(20):
        runtime.infer(tensor)
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        runtime.infer(tensor)
        times[i] = time.perf_counter() - t
    return Latency(
        runs, float(np.median(times) * 1e3), float(np.percentile(times, 99) * 1e3), float(runs / times.sum())
    )
