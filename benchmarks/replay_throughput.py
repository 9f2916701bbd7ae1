"""Replay throughput against a bare onnxruntime loop over the same preloaded images, same cores.

The baseline is the better of two bare loops measured here: one session with all cores, and one
single-thread session per core in separate processes, both over tensors already preprocessed in
memory. Replay also reads, hashes, decodes, preprocesses, decides, journals and writes the report,
so the ratio shows what all of that costs.

Two archives of the same frames are replayed in the same run: PNG (what most image archives hold)
and uncompressed TIFF (what the station's image store and `inspection camera record` write). The
decoding cost of each, measured here on one core, bounds the ratio a replay can reach on these
cores: ceiling = model / (model + decode).

    python benchmarks/replay_throughput.py [--images 1500] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

from camera.sim.archive import write_archive
from inspection.config import StationConfig
from inspection.factory import load_runtime
from inspection.images import decode_image, read_image, walk_image_files
from inspection.preprocess import Preprocessor
from inspection.replay.main import run_replay
from inspection.replay.run import ReplayOptions

FORMATS = (".png", ".tiff")


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bare_loop(args: tuple[Path, str, list[np.ndarray], int]) -> float:
    """Images per second of session.run over preprocessed tensors, after a warm-up."""
    model, name, tensors, threads = args
    s = session(model, threads)
    for t in tensors[:10]:
        s.run(None, {name: t})
    start = time.perf_counter()
    for t in tensors:
        s.run(None, {name: t})
    return len(tensors) / (time.perf_counter() - start)


def decode_ms(folder: Path, count: int = 100) -> float:
    """Median milliseconds to decode one file of the archive (from memory, one core)."""
    files = [(p, p.read_bytes()) for p in list(walk_image_files(folder))[:count]]
    times = []
    for path, data in files:
        start = time.perf_counter()
        decode_image(data, path)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    cores = args.jobs

    config = StationConfig()
    runtime = load_runtime(config)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {suffix: Path(tmp) / f"archive{suffix}" for suffix in FORMATS}
        for suffix, folder in folders.items():
            write_archive(folder, args.images, suffix=suffix)
        preprocess = Preprocessor(runtime.card.input)
        tensors = [preprocess(read_image(p)).copy() for p in walk_image_files(folders[".png"])]
        name, model = runtime.card.input.name, runtime.path

        one_session = bare_loop((model, name, tensors, cores))
        with ProcessPoolExecutor(cores) as pool:
            share = [tensors[i::cores] for i in range(cores)]
            per_process = sum(pool.map(bare_loop, [(model, name, s, 1) for s in share]))
        baseline = max(one_session, per_process)
        model_ms = 1e3 * cores / per_process  # one image on one core

        rates, decodes = {}, {}
        for suffix, folder in folders.items():
            decodes[suffix] = decode_ms(folder)
            options = ReplayOptions(folder, Path(tmp) / f"out{suffix}", config, jobs=cores, quiet=True)
            rates[suffix] = run_replay(options).stats.per_second

    print(f"{args.images} images, {cores} cores, model {runtime.card.name} ({runtime.model_id[:12]})")
    print(f"bare onnxruntime, 1 session x {cores} threads : {one_session:8.1f} images/s")
    print(
        f"bare onnxruntime, {cores} processes x 1 thread : {per_process:8.1f} images/s ({model_ms:.2f} ms/image/core)"
    )
    for suffix in FORMATS:
        ceiling = model_ms / (model_ms + decodes[suffix])
        print(
            f"replay --jobs {cores}, {suffix[1:]:4} archive: {rates[suffix]:8.1f} images/s, "
            f"ratio {rates[suffix] / baseline:5.3f} (target >= 0.90; decode {decodes[suffix]:.2f} ms/image "
            f"caps it at {ceiling:.3f})"
        )


if __name__ == "__main__":
    main()
