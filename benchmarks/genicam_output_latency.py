"""GenICam gate output: the latency routing each write through the camera's acquisition process adds.

The write lands in a real GenApi node map (camera/genicam/io_camera.py: an SFNC I/O description over a
register space whose port stamps each write with time.monotonic_ns, one clock for all processes). Four ways, same run:
1. in-process: the gate process owns the camera (owner = 'gate') and writes its node map itself;
2. routed, owner idle: the write goes over the Unix socket to the owner's I/O server;
3./4. routed, owner acquiring: the owner also fetches viky frames (800x600 Mono8, --fps, 200 by default)
   in its main loop, as the acquisition process does, so the server thread competes for the GIL;
   once untuned (10 ms native waits, default GIL switch interval) and once as the acquisition
   process runs while a gate is attached (DeviceSession.serve_gate: 1 ms waits, 0.5 ms switches).
For each: from the driver's write call to the write landing in the register (what delays a firing),
and the whole call (how long the scheduler thread is blocked); then the ratios against (1).

    .venv/bin/python benchmarks/genicam_output_latency.py [--writes 1000] [--interval-ms 5] [--fps 200]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection

import numpy as np

from camera.genicam.device import DeviceSession
from camera.genicam.discovery import harvester, list_devices, producer_files
from camera.genicam.io_camera import io_camera
from inspection.actuation.genicam_driver import GenicamDriver, OwnCamera
from inspection.actuation.genicam_io import IoLines
from inspection.actuation.genicam_server import IoServer
from inspection.config.actuation import GenicamDriverConfig
from inspection.config.camera import DeviceSelector, GenicamSourceConfig


def camera(fps: float) -> GenicamSourceConfig:
    return GenicamSourceConfig(
        device=DeviceSelector(serial="0"), pixel_format="Mono8", width=800, height=600, frame_rate_hz=fps
    )


def config(owner: str) -> GenicamDriverConfig:
    return GenicamDriverConfig.model_validate(
        {"owner": owner, "device": {"serial": "0"}, "gate": {"line": "Line1", "user_output": "UserOutput1"}}
    )


def owner_process(pipe: Connection, acquire: bool, tuned: bool, fps: float) -> None:
    """The camera's owner: an I/O server on the XML node map, beside a fetch loop when `acquire`."""
    node_map, port = io_camera()
    session = DeviceSession(camera(fps), producer_files([]))
    if acquire:
        opened = session.open()
        device = opened.device
        out = np.empty(opened.geometry.shape, dtype=opened.geometry.dtype)
        session.start()
    else:
        with harvester(producer_files([])) as h:
            device = list_devices(h)[0]
    server = IoServer(device, node_map, session.serve_gate if tuned else None)
    pipe.send("ready")
    frames, began, cpu = 0, time.monotonic(), time.process_time()
    while not pipe.poll(0):
        if acquire:
            frames += session.fetch(0.2, out) is not None
        else:
            time.sleep(0.01)
    seconds, cpu = time.monotonic() - began, time.process_time() - cpu
    server.stop()
    if acquire:
        session.stop()
        session.close()
    pipe.send((port.output_times()[1:], frames / seconds, cpu / seconds))  # the first landing is configure's 'off'


def drive(driver: GenicamDriver, writes: int, interval_s: float) -> tuple[list[int], list[int]]:
    """Call start and call end of each write, at a steady rate (as pulses come)."""
    starts, ends = [], []
    for i in range(writes):
        next_at = time.monotonic() + interval_s
        starts.append(time.monotonic_ns())
        driver.write("gate", i % 2 == 0)
        ends.append(time.monotonic_ns())
        time.sleep(max(0.0, next_at - time.monotonic()))
    return starts, ends


def in_process(writes: int, interval_s: float) -> tuple[np.ndarray, np.ndarray]:
    node_map, port = io_camera()

    def open_lines(cfg: GenicamDriverConfig) -> OwnCamera:
        lines = IoLines(node_map, cfg, "IoTestCamera")
        lines.configure()
        return OwnCamera(ExitStack(), lines)

    driver = GenicamDriver(config("gate"), opener=open_lines)
    driver.connect()
    port.writes.clear()
    starts, ends = drive(driver, writes, interval_s)
    return np.subtract(port.output_times(), starts), np.subtract(ends, starts)


def routed(
    writes: int, interval_s: float, *, acquire: bool, tuned: bool, fps: float
) -> tuple[np.ndarray, np.ndarray, str]:
    context = multiprocessing.get_context("spawn")
    pipe, child_pipe = context.Pipe()
    child = context.Process(target=owner_process, args=(child_pipe, acquire, tuned, fps))
    child.start()
    assert pipe.recv() == "ready"
    driver = GenicamDriver(config("acquisition"))
    driver.connect()
    starts, ends = drive(driver, writes, interval_s)
    driver.close()
    pipe.send("stop")
    landed, fps, cpu = pipe.recv()
    child.join()
    return np.subtract(landed, starts), np.subtract(ends, starts), f"owner {fps:.0f} fps, {cpu:.0%} CPU"


def stats(ns: np.ndarray) -> tuple[float, float, float]:
    p50, p99 = np.percentile(ns, [50, 99]) / 1e6
    return float(p50), float(p99), float(ns.max() / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=200.0, help="the owner's requested frame rate")
    args = parser.parse_args()
    interval_s = args.interval_ms / 1e3
    base_land, base_call = in_process(args.writes, interval_s)
    rows = [("in-process (owner = 'gate')", base_land, base_call, "")]
    for name, acquire, tuned in [
        ("routed, owner idle", False, False),
        ("routed, owner acquiring, untuned", True, False),
        ("routed, owner acquiring, gate-tuned", True, True),  # as the acquisition process runs with a gate
    ]:
        rows.append((name, *routed(args.writes, interval_s, acquire=acquire, tuned=tuned, fps=args.fps)))
    print(f"{args.writes} writes, one every {args.interval_ms:g} ms; ms p50 / p99 / max")
    base_p99 = stats(base_land)[1]
    for name, land, call, owner in rows:
        lp50, lp99, lmax = stats(land)
        cp50, cp99, cmax = stats(call)
        print(
            f"  {name:36s} call->landed {lp50:6.3f} / {lp99:6.3f} / {lmax:6.3f}   whole call {cp50:6.3f} / "
            f"{cp99:6.3f} / {cmax:6.3f}   landed p99 x{lp99 / base_p99:5.1f} of in-process   {owner}"
        )


if __name__ == "__main__":
    main()
