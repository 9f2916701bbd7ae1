"""The start-of-shift check of the reject path: outputs reachable, plant inputs healthy, a test reject confirmed.

Results are kept in the station's database, so that a station configured to require a recent
passing self-test can refuse to start production without one.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inspection.actuation.build import build_driver
from inspection.actuation.driver import FAULT_INPUTS, DriverError, GateDriver, Output
from inspection.config.actuation import ActuatorConfig
from inspection.errors import ConfigError
from inspection.timebase import parse_utc, utc_now_text

TABLE = """CREATE TABLE IF NOT EXISTS self_tests (
    utc TEXT NOT NULL, passed INTEGER NOT NULL, steps TEXT NOT NULL
)"""


@dataclass
class SelfTest:
    passed: bool = True
    steps: list[tuple[str, bool, str]] = field(default_factory=list)  # (step, ok, what was seen)

    def step(self, name: str, ok: bool, seen: str) -> bool:
        self.steps.append((name, ok, seen))
        self.passed = self.passed and ok
        return ok


def pulse(driver: GateDriver, output: Output, width_s: float) -> None:
    """On, then off after `width_s` (a device that times its own gate and divert pulses only needs the 'on')."""
    driver.write(output, True)
    if not driver.device_pulse or output == "line_stop":
        time.sleep(width_s)
        driver.write(output, False)


def run_self_test(config: ActuatorConfig) -> SelfTest:
    result = SelfTest()
    driver = build_driver(config.driver)
    try:
        try:
            driver.connect()
        except DriverError as exc:
            result.step("connect", False, str(exc))
            return result
        result.step("connect", True, "outputs reachable")
        try:
            inputs = driver.read_inputs()
            faults = [name for name in FAULT_INPUTS if inputs.get(name)]
            result.step(
                "plant inputs", not faults, ", ".join(faults) + " active" if faults else "no fault input active"
            )
            pulse(driver, "gate", config.pulse_width_ms / 1e3)
            result.step("test pulse", True, f"gate pulsed for {config.pulse_width_ms:.0f} ms")
            if divert_output(config) is not None:
                pulse(driver, "divert", config.pulse_width_ms / 1e3)
                result.step("divert pulse", True, f"divert pulsed for {config.pulse_width_ms:.0f} ms")
            if "reject_confirmation" in driver.inputs:
                seen = _confirmed(driver, config.confirmation_window_ms / 1e3)
                result.step("confirmation", seen, "seen" if seen else "not seen within the confirmation window")
        except DriverError as exc:
            result.step("plant I/O", False, str(exc))
    finally:
        driver.close()
    return result


def divert_output(config: ActuatorConfig) -> object | None:
    """The configured divert output, if the driver has one (a divert otherwise pulses the gate)."""
    return getattr(config.driver, "divert", None)


def _confirmed(driver: GateDriver, window_s: float) -> bool:
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        if driver.read_inputs().get("reject_confirmation"):
            return True
        time.sleep(0.005)
    return False


def record(database: Path, result: SelfTest) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database) as db:
        db.execute(TABLE)
        steps = json.dumps([asdict(result)["steps"]])
        db.execute(
            "INSERT INTO self_tests (utc, passed, steps) VALUES (?, ?, ?)", (utc_now_text(), result.passed, steps)
        )


def require_recent(database: Path, max_age_h: float | None) -> None:
    """Refuses production start-up without a passed self-test younger than `max_age_h` (when required)."""
    if max_age_h is None:
        return
    last = None
    if database.exists():
        with sqlite3.connect(database) as db:
            db.execute(TABLE)
            row = db.execute("SELECT MAX(utc) FROM self_tests WHERE passed = 1").fetchone()
            last = row[0] if row else None
    age_h = None if last is None else (dt.datetime.now(dt.UTC) - parse_utc(last)).total_seconds() / 3600
    if age_h is None or age_h > max_age_h:
        when = "never" if age_h is None else f"{age_h:.1f} h ago"
        raise ConfigError(
            f"actuator.self_test_max_age_h: the last passed reject self-test was {when} (needed within "
            f"{max_age_h:g} h); run `inspection actuator self-test` first"
        )
