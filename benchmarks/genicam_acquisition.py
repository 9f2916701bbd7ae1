"""GenICam acquisition: our supervised source beside a bare harvesters loop, same camera, same run.

viky streams 800x600 Mono8 at 200 fps requested. For each side this prints delivered fps, the
share of the frames the device produced (from its frame counter), reported and unexplained
frame-id gaps, CPU% of one core (acquisition process + reader) and CPU per frame in microseconds;
then the ratios ours / bare.

    python benchmarks/genicam_acquisition.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass

import numpy as np
import psutil

from camera.frames import Fault, Frame, Gap
from camera.genicam.discovery import harvester, producer_files
from camera.genicam.features import apply_features
from camera.genicam.source import GenicamSource
from inspection.config.camera import GenicamSourceConfig

CONFIG = GenicamSourceConfig(pixel_format="Mono8", width=800, height=600, frame_rate_hz=200.0)


@dataclass(frozen=True)
class Run:
    name: str
    seconds: float
    delivered: int
    produced: int  # from the camera's frame counter: last id - first id + 1
    reported_missing: int
    unexplained: int  # frame-id jumps no Gap event accounts for
    cpu_s: float

    def print(self) -> None:
        print(
            f"{self.name:>6}: {self.delivered / self.seconds:6.1f} fps delivered, "
            f"{100 * self.delivered / max(self.produced, 1):6.2f}% of {self.produced} produced, "
            f"gaps reported {self.reported_missing}, unexplained {self.unexplained}, "
            f"CPU {100 * self.cpu_s / self.seconds:5.1f}% of a core, "
            f"{1e6 * self.cpu_s / max(self.delivered, 1):6.1f} us/frame"
        )


def ours(seconds: float) -> Run:
    source = GenicamSource(CONFIG, source_id="bench")
    me = psutil.Process()
    ids: list[int] = []
    covered: set[int] = set()
    missing = 0
    with source:
        child = psutil.Process(source.pid)
        source.read(2.0)  # the first frame: acquisition is up
        cpu0 = sum(child.cpu_times()[:2]) + sum(me.cpu_times()[:2])
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            event = source.read(1.0)
            if isinstance(event, Frame):
                ids.append(event.frame_id)
            elif isinstance(event, Gap):
                missing += event.count
                covered.update(range(event.first_frame_id, event.first_frame_id + event.count))
            elif isinstance(event, Fault):
                print(f"fault: {event.reason}")
        elapsed = time.monotonic() - start
        cpu = sum(child.cpu_times()[:2]) + sum(me.cpu_times()[:2]) - cpu0
    return Run("ours", elapsed, len(ids), produced(ids), missing, unexplained(ids, covered), cpu)


def bare(seconds: float) -> Run:
    """What a careful harvesters user writes: fetch with a timeout, copy out, requeue."""
    me = psutil.Process()
    ids: list[int] = []
    with harvester(producer_files([])) as h:
        acquirer = h.create(0)
        apply_features(acquirer.remote_device.node_map, CONFIG)
        acquirer.start()
        cpu0 = sum(me.cpu_times()[:2])
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            buffer = acquirer.try_fetch(timeout=1.0)
            if buffer is None:
                continue
            with buffer:
                component = buffer.payload.components[0]
                np.copy(component.data.reshape(component.height, component.width))
                ids.append(int(buffer.module.frame_id))
        elapsed = time.monotonic() - start
        cpu = sum(me.cpu_times()[:2]) - cpu0
        acquirer.stop()
        acquirer.destroy()
    return Run("bare", elapsed, len(ids), produced(ids), 0, unexplained(ids, set()), cpu)


def produced(ids: list[int]) -> int:
    return ids[-1] - ids[0] + 1 if ids else 0


def unexplained(ids: list[int], covered: set[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(ids) for i in range(a + 1, b) if i not in covered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(f"viky 800x600 Mono8 at {CONFIG.frame_rate_hz:g} fps requested, {args.seconds:g} s each")
    baseline = bare(args.seconds)
    baseline.print()
    run = ours(args.seconds)
    run.print()
    print(
        f" ratio: delivered fps {run.delivered / run.seconds / (baseline.delivered / baseline.seconds):.3f}, "
        f"CPU {run.cpu_s / run.seconds / (baseline.cpu_s / baseline.seconds):.2f}x the bare loop"
    )
    target = "meets" if run.delivered / max(run.produced, 1) >= 0.995 and run.unexplained == 0 else "MISSES"
    print(
        f"target (>= 99.5% delivered, 0 unexplained gaps, < 25% of a core): {target}"
        f" delivery; CPU {100 * run.cpu_s / run.seconds:.1f}%"
    )


if __name__ == "__main__":
    main()
