"""What calibration costs per part: the inspect path with flat field and undistortion beside the same path without.

Measured in this one run on the same preloaded frames, and printed as ratios against the
uncalibrated inspect path, so the figures compare like with like whatever the machine is doing.
The image-health check runs beside the hot path (one frame in N, own thread); its cost per
checked frame is printed too.

    python benchmarks/calibration_cost.py [--runs 500] [--threads 2]
"""

from __future__ import annotations

import argparse

import numpy as np
from model_latency import Timing, timed  # a sibling script: benchmarks/ is on sys.path when run

from calibration.board import Board
from calibration.correction import FrameCalibration
from calibration.health import FlatField, HealthCheck, build_reference
from calibration.intrinsics import CameraCalibration, ViewResult
from calibration.undistort import Undistorter
from camera.sim import render_part
from inspection.config import StationConfig
from inspection.factory import build_inspector
from inspection.inspector import Inspector


def camera(width: int, height: int) -> CameraCalibration:
    """A barrel-distorted lens like a 12 mm C-mount on a 1/1.8" sensor."""
    return CameraCalibration(
        camera_serial="bench",
        image_size=(width, height),
        board=Board(kind="checkerboard", columns=10, rows=7, square_mm=20.0),
        camera_matrix=((900.0, 0.0, width / 2), (0.0, 900.0, height / 2), (0.0, 0.0, 1.0)),
        dist_coeffs=(-0.25, 0.1, 0.0, 0.0, 0.0),
        rms_px=0.1,
        rejection_px=1.0,
        coverage=0.8,
        views=(ViewResult(name="v", corners=54, error_px=0.1, used=True),),
    ).stamped()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    frames = [render_part(1_400_000_000 + i).image for i in range(16)]
    height, width = frames[0].shape[:2]
    plain = build_inspector(StationConfig().with_model(intra_op_threads=args.threads))
    reference, gain = build_reference(frames, "bench", True)
    assert gain is not None
    flat, undistort = FlatField(gain), Undistorter(camera(width, height))
    calibrated = Inspector(plain.runtime, plain.thresholds, "bench", FrameCalibration("bench", (flat, undistort)))
    check = HealthCheck(reference)

    def frame(i: int) -> np.ndarray:
        return frames[i % len(frames)]

    rows = [
        timed("inspect, no calibration (baseline)", args.runs, lambda i: plain.inspect(frame(i), str(i))),
        timed("inspect, flat field + undistortion", args.runs, lambda i: calibrated.inspect(frame(i), str(i))),
        timed("flat field alone", args.runs, lambda i: flat(frame(i))),
        timed("undistortion alone", args.runs, lambda i: undistort(frame(i))),
        timed("image-health check (1 frame in N)", args.runs, lambda i: check.check(frame(i))),
    ]
    base = rows[0]
    print(f"{width}x{height} {frames[0].dtype} frames, {args.runs} runs, {args.threads} model threads")
    print(f"{'':40s} {'median ms':>10s} {'p99 ms':>8s} {'x baseline (median)':>20s}")
    for row in rows:
        print(_line(row, base))


def _line(row: Timing, base: Timing) -> str:
    return f"{row.name:40s} {row.median_ms:10.3f} {row.p99_ms:8.3f} {row.median_ms / base.median_ms:20.3f}"


if __name__ == "__main__":
    main()
