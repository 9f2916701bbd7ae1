"""Gate firing-time error: when the write reaches the Modbus server minus when it was planned.

The simulated PLC runs in its own process (so it does not share the station's GIL) and stamps
each write with time.monotonic_ns, the same clock the station plans with. Two runs:
1. idle: the gate process alone (as the station runs it), driven at a steady part rate;
2. loaded: the whole station (simulated line, inference workers, store) on this machine's cores,
   firing through the same scheduler.
Target: p99 <= 2 ms.

    .venv/bin/python benchmarks/gate_timing.py [--seconds 10] [--rate 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from inspection.actuation.process import GateProcess
from inspection.actuation.sim_plc import SimPlc
from inspection.config import StationConfig
from inspection.config.actuation import ActuatorConfig, ModbusDriverConfig
from inspection.config.camera import SimulatedSourceConfig
from inspection.contracts import ActuatorCommand, ActuatorResult
from inspection.station.build import DATABASE, run_station

GATE = 0
TARGET_P99_MS = 2.0


def plc_process(pipe: Connection) -> None:
    """The PLC is its own machine in a plant: here it gets real-time priority, so that the station's
    load on these two cores does not delay its time stamps (where the OS allows it)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(30))
    except (PermissionError, OSError):
        print("the simulated PLC runs at normal priority: its stamps include this machine's load")
    plc = SimPlc().start()
    pipe.send(plc.port)
    pipe.recv()  # "stop"
    pipe.send(plc.rising(GATE))
    plc.stop()


def actuator(port: int) -> ActuatorConfig:
    driver = ModbusDriverConfig.model_validate({"host": "127.0.0.1", "port": port, "gate": {"address": GATE}})
    return ActuatorConfig(lead_ms=10, pulse_width_ms=3, late_tolerance_ms=5, driver=driver)


def idle(port: int, seconds: float, rate_hz: float) -> list[int]:
    """Planned fire times of the rejects the scheduler fired."""
    results: list[ActuatorResult] = []
    config = actuator(port)
    assert isinstance(config.driver, ModbusDriverConfig)
    gate = GateProcess(config, results.append, lambda kind, message: None)  # as the station runs it
    start = time.monotonic_ns()
    for i in range(round(seconds * rate_hz)):
        time.sleep(max(0.0, (start + i * 1e9 / rate_hz - time.monotonic_ns()) / 1e9))
        arrival = time.monotonic_ns() + 200_000_000
        if i % 2:
            gate.passed(f"p{i}", arrival)
        else:
            gate.submit(
                ActuatorCommand(part_id=f"p{i}", action="reject", fire_at_ns=arrival, origin="auto", reason="x")
            )
    gate.close(drain_s=1.0)
    return sorted(r.planned_ns for r in results if r.outcome == "fired")


def loaded(port: int, seconds: float, rate_hz: float) -> tuple[list[int], dict[str, int]]:
    """Planned fire times of what the station fired while inferring at `rate_hz`, and all outcomes."""
    with tempfile.TemporaryDirectory(prefix="gate-timing-") as folder:
        config = StationConfig.model_validate(
            {
                "camera": SimulatedSourceConfig(parts_per_minute=rate_hz * 60, pool_size=32, defect_rate=0.3),
                "storage": {"data_dir": folder},
                "link": {"server": ""},
                "monitoring": {"port": None},
                "policy": {"gate_delay_ms": 500},
                "actuator": actuator(port),
            }
        ).with_model(verify_golden=False)
        run_station(config, threading.Event(), max_parts=round(seconds * rate_hz))
        db = sqlite3.connect(Path(folder) / DATABASE)
        fired = [row[0] for row in db.execute("SELECT planned_ns FROM actuations WHERE outcome = 'fired'")]
        outcomes = dict(db.execute("SELECT outcome, COUNT(*) FROM actuations GROUP BY outcome").fetchall())
        db.close()
    return sorted(fired), outcomes


def report(label: str, planned: list[int], pulses: list[int]) -> None:
    if len(planned) != len(pulses):
        print(f"{label}: {len(planned)} fired but {len(pulses)} pulses reached the server: cannot pair them")
        return
    errors = (np.array(pulses) - np.array(planned)) / 1e6
    p50, p99 = np.percentile(errors, [50, 99])
    verdict = "ok" if p99 <= TARGET_P99_MS else "MISSES the target"
    print(
        f"{label}: {len(errors)} pulses, error ms p50 {p50:.3f} p99 {p99:.3f} max {errors.max():.3f} "
        f"min {errors.min():.3f} (target p99 <= {TARGET_P99_MS} ms: {verdict})"
    )


def measure(label: str, run: str, seconds: float, rate_hz: float) -> None:
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    plc = multiprocessing.get_context("spawn").Process(target=plc_process, args=(theirs,), daemon=True)
    plc.start()
    port = int(ours.recv())
    outcomes: dict[str, int] = {}
    if run == "idle":
        planned = idle(port, seconds, rate_hz)
    else:
        planned, outcomes = loaded(port, seconds, rate_hz)
    ours.send("stop")
    pulses = sorted(ours.recv())
    plc.join(5)
    report(label, planned, pulses)
    if outcomes:
        print(f"  outcomes: {outcomes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="parts per second")
    parser.add_argument("--switch-interval-ms", type=float, default=None, help="sys.setswitchinterval for the station")
    args = parser.parse_args()
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1e3)
    interval_ms = sys.getswitchinterval() * 1e3
    print(f"cores: {os.cpu_count()}, {args.rate:g} parts/s for {args.seconds:g} s, GIL switch {interval_ms:g} ms")
    measure("idle (scheduler only)", "idle", args.seconds, args.rate)
    measure("loaded (station inferring)", "loaded", args.seconds, args.rate)


if __name__ == "__main__":
    main()
