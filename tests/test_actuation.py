"""Reject actuation against a real Modbus TCP server on loopback (pymodbus's, timestamping every write)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from pydantic import ValidationError

from inspection.actuation.driver import GateDriver
from inspection.actuation.gate import Action, plan
from inspection.actuation.logging_driver import LoggingDriver
from inspection.actuation.modbus_driver import ModbusDriver
from inspection.actuation.scheduler import GateScheduler
from inspection.actuation.sim_plc import SimPlc
from inspection.config import StationConfig
from inspection.config.actuation import ActuatorConfig, ModbusDriverConfig
from inspection.contracts import ActuatorCommand, ActuatorResult
from inspection.link.messages import VerdictMessage
from inspection.station.review_gate import ReviewGate
from inspection.station.store import DecisionStore

GATE, LINE_STOP, CONFIRM = 0, 1, 3
MS = 1_000_000


class Plant:
    """Collects what the scheduler records and alarms (the callables the station gives it)."""

    def __init__(self, store: DecisionStore | None = None) -> None:
        self.results: list[ActuatorResult] = []
        self.alarms: list[tuple[str, str]] = []
        self.store = store

    def record(self, result: ActuatorResult) -> None:
        self.results.append(result)
        if self.store is not None:
            self.store.put_actuation(result)

    def alarm(self, kind: str, message: str) -> None:
        self.alarms.append((kind, message))

    def by_part(self) -> dict[str, ActuatorResult]:
        return {r.part_id: r for r in self.results}


@pytest.fixture
def plc() -> Iterator[SimPlc]:
    server = SimPlc().start()
    yield server
    server.stop()


def actuator(port: int, **changes: Any) -> ActuatorConfig:
    driver = {"kind": "modbus", "host": "127.0.0.1", "port": port, "gate": {"address": GATE}}
    driver.update(changes.pop("driver", {}))
    base = {"lead_ms": 10, "pulse_width_ms": 20, "late_tolerance_ms": 5, "driver": driver}
    return ActuatorConfig.model_validate({**base, **changes})


def scheduler(config: ActuatorConfig, plant: Plant, driver: GateDriver | None = None) -> GateScheduler:
    if driver is None:
        assert isinstance(config.driver, ModbusDriverConfig)
        driver = ModbusDriver(config.driver)
    return GateScheduler(config, driver, plant.record, plant.alarm).start()


def run_line(
    gate: GateScheduler, rejects: Sequence[bool | Action], rate_hz: float, travel_s: float, between: Any = None
) -> None:
    """Parts reach the station at `rate_hz`; each is submitted when 'decided', to arrive `travel_s` later.

    rejects: True / False for reject / pass, or the action itself.
    """
    start = time.monotonic_ns()
    for i, reject in enumerate(rejects):
        while time.monotonic_ns() < start + i * 1e9 / rate_hz:
            time.sleep(0.001)
        arrival = time.monotonic_ns() + round(travel_s * 1e9)
        action: Action = ("reject" if reject else "pass") if isinstance(reject, bool) else reject
        if action != "pass":
            gate.submit(ActuatorCommand(part_id=f"p{i}", action=action, fire_at_ns=arrival, origin="auto", reason="x"))
        else:
            gate.passed(f"p{i}", arrival)
        if between is not None:
            between(i)


def matched(pulses: list[int], planned: list[int], window_ns: int) -> bool:
    """Each pulse belongs to the reject planned at the same position, within half a part's spacing."""
    return len(pulses) == len(planned) and all(abs(p - q) < window_ns for p, q in zip(pulses, planned, strict=True))


# -- 200 parts, known pattern: the coil pulses exactly for the rejects, in order ------------------


@pytest.mark.slow
def test_the_coil_pulses_exactly_for_each_reject_in_order(plc: SimPlc) -> None:
    rng = random.Random(7)
    rejects = [rng.random() < 0.3 for _ in range(200)]
    plant = Plant()
    gate = scheduler(actuator(plc.port), plant)
    run_line(gate, rejects, rate_hz=10, travel_s=0.3)
    gate.close(drain_s=1.0)

    results = plant.by_part()
    assert len(plant.results) == 200 == len(results)
    assert [results[f"p{i}"].outcome for i in range(200)] == ["fired" if r else "passed" for r in rejects]
    planned = [results[f"p{i}"].planned_ns for i in range(200) if rejects[i]]
    pulses = plc.rising(GATE)
    assert matched(pulses, planned, window_ns=50 * MS), (len(pulses), len(planned))
    assert [w.value for w in plc.writes if w.address == GATE] == [0] + [1, 0] * sum(rejects)  # off at connect
    assert plant.alarms == []
    errors = np.array(pulses) - np.array(planned)
    p50, p99 = np.percentile(errors, [50, 99]) / 1e6
    print(f"\nfiring error at the server (ms): p50 {p50:.3f} p99 {p99:.3f} max {errors.max() / 1e6:.3f}")


# -- the PLC dies and comes back --------------------------------------------------------------------


@pytest.mark.slow
def test_a_lost_plc_alarms_records_the_affected_parts_and_later_rejects_fire(plc: SimPlc) -> None:
    rejects = [i % 2 == 0 for i in range(60)]
    plant = Plant()
    config = actuator(plc.port, driver={"backoff_s": (0.1, 0.4)})
    gate = scheduler(config, plant)
    back: list[int] = []

    def outage(i: int) -> None:
        if i == 20:
            plc.stop()
        if i == 30:
            plc.start()
            back.append(time.monotonic_ns())

    run_line(gate, rejects, rate_hz=20, travel_s=0.2, between=outage)
    gate.close(drain_s=1.0)

    results = plant.by_part()
    assert len(plant.results) == 60 == len(results)
    assert any(kind == "driver" for kind, _ in plant.alarms)
    lost = [r for r in plant.results if r.outcome in ("failed", "missed")]
    assert lost, "no part was recorded failed or missed while the PLC was down"
    assert all(r.action == "reject" and ("driver" in r.reason or "ms too late" in r.reason) for r in lost)
    assert all(any(r.part_id in message for _, message in plant.alarms) for r in lost)
    reconnected = back[0] + round(1e9)  # back-off of at most 0.4 s, with room to spare
    later = [r for r in plant.results if r.action == "reject" and r.planned_ns > reconnected]
    assert later and all(r.outcome == "fired" for r in later)
    fired = [r.planned_ns for r in plant.results if r.outcome == "fired"]
    assert matched(plc.rising(GATE), sorted(fired), window_ns=25 * MS)


# -- pulse-to-accept: a station killed mid-run accepts nothing afterwards ---------------------------

STATION = """
import sys, time
from inspection.actuation.modbus_driver import ModbusDriver
from inspection.actuation.scheduler import GateScheduler
from inspection.config.actuation import ActuatorConfig
config = ActuatorConfig.model_validate({
    "gate": "pulse_to_accept", "lead_ms": 10, "pulse_width_ms": 20,
    "driver": {"kind": "modbus", "host": "127.0.0.1", "port": int(sys.argv[1]), "gate": {"address": 0},
               "output_mode": "pulse"},
})
gate = GateScheduler(config, ModbusDriver(config.driver), lambda r: None, lambda k, m: None).start()
for i in range(10_000):
    gate.passed(f"p{i}", time.monotonic_ns() + 200_000_000)
    time.sleep(0.1)
"""


@pytest.mark.slow
def test_pulse_to_accept_a_killed_station_accepts_nothing_after_the_kill() -> None:
    plc = SimPlc(device_pulse=(GATE, 0.02)).start()  # the device times the pulse: the station cannot leave it on
    station = subprocess.Popen([sys.executable, "-c", textwrap.dedent(STATION), str(plc.port)])
    try:
        deadline = time.monotonic() + 20
        while len(plc.rising(GATE)) < 4 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert len(plc.rising(GATE)) >= 4, "the station never accepted a part"
        os.kill(station.pid, signal.SIGKILL)  # right after an accept: the next one is 100 ms away
        station.wait(5)
        killed = time.monotonic_ns()
        time.sleep(0.5)  # five part periods
        assert [ns for ns in plc.rising(GATE) if ns > killed] == []
        assert plc.coils[GATE] is False
    finally:
        if station.poll() is None:
            station.kill()
        plc.stop()


def test_pulse_to_accept_pulses_passes_only() -> None:
    plant = Plant()
    driver = LoggingDriver()
    config = ActuatorConfig(gate="pulse_to_accept", lead_ms=0, pulse_width_ms=5)
    gate = GateScheduler(config, driver, plant.record, plant.alarm).start()
    now = time.monotonic_ns()
    gate.passed("good", now + 20 * MS)
    gate.submit(ActuatorCommand(part_id="bad", action="reject", fire_at_ns=now + 40 * MS, origin="auto", reason="x"))
    gate.close(drain_s=0.2)
    assert {r.part_id: r.outcome for r in plant.results} == {"good": "accepted", "bad": "withheld"}
    assert [on for _, output, on in driver.writes if output == "gate"] == [False, True, False]  # off at connect


def test_pulse_to_accept_with_a_station_timed_pulse_is_refused() -> None:
    with pytest.raises(ValidationError, match="output_mode = 'pulse'"):
        actuator(502, gate="pulse_to_accept")


# -- confirmation and plant faults ------------------------------------------------------------------

CONFIRMED = {"line_stop": {"address": LINE_STOP}, "inputs": {"reject_confirmation": {"address": CONFIRM}}}


def test_unconfirmed_rejects_are_recorded_and_stop_the_line(plc: SimPlc) -> None:
    plant = Plant()
    gate = scheduler(actuator(plc.port, confirmation_window_ms=100, driver=CONFIRMED), plant)
    run_line(gate, [True, False, True, False, True, False], rate_hz=20, travel_s=0.1)
    gate.close(drain_s=0.5)
    time.sleep(0.01)
    outcomes = {r.part_id: (r.outcome, r.confirmed) for r in plant.results}
    assert [outcomes[f"p{i}"] for i in (0, 2, 4)] == [("reject_unconfirmed", False)] * 3
    assert len(plc.rising(GATE)) == 3  # every reject was commanded
    assert plc.coils[LINE_STOP] is True
    assert gate.cannot_reject is not None
    assert {"unconfirmed", "cannot_reject"} <= {kind for kind, _ in plant.alarms}
    assert all(outcomes[f"p{i}"][0] == "failed" for i in (3, 5))  # nothing passes once it cannot reject


def test_confirmed_rejects_are_recorded_fired_and_the_line_runs() -> None:
    plc = SimPlc(confirm=(GATE, CONFIRM, 0.02)).start()
    try:
        plant = Plant()
        gate = scheduler(actuator(plc.port, confirmation_window_ms=150, driver=CONFIRMED), plant)
        run_line(gate, [True, False, True, False], rate_hz=10, travel_s=0.1)
        time.sleep(0.3)
        gate.close(drain_s=0.5)
    finally:
        plc.stop()
    outcomes = {r.part_id: (r.outcome, r.confirmed) for r in plant.results}
    assert outcomes == {"p0": ("fired", True), "p1": ("passed", None), "p2": ("fired", True), "p3": ("passed", None)}
    assert not plc.coils.get(LINE_STOP) and plant.alarms == []


def test_a_full_bin_stops_the_line_and_nothing_passes(plc: SimPlc) -> None:
    plant = Plant()
    driver = {"line_stop": {"address": LINE_STOP}, "inputs": {"bin_full": {"address": 5}}}
    gate = scheduler(actuator(plc.port, driver=driver), plant)
    plc.set_input(5, True)
    time.sleep(0.1)
    gate.passed("p0", time.monotonic_ns() + 50 * MS)
    gate.close(drain_s=0.2)
    assert plc.coils[LINE_STOP] is True
    assert [(r.outcome, r.origin) for r in plant.results] == [("failed", "failsafe")]
    assert gate.cannot_reject == "bin_full"


def test_a_command_too_late_to_fire_is_missed_and_alarmed() -> None:
    plant = Plant()
    gate = GateScheduler(ActuatorConfig(lead_ms=0), LoggingDriver(), plant.record, plant.alarm).start()
    late = time.monotonic_ns() - 100 * MS
    gate.submit(ActuatorCommand(part_id="late", action="reject", fire_at_ns=late, origin="auto", reason="reject"))
    gate.submit(ActuatorCommand(part_id="far", action="reject", fire_at_ns=late + 10**10, origin="auto", reason="x"))
    gate.close()
    assert {r.part_id: r.outcome for r in plant.results} == {"late": "missed", "far": "missed"}
    assert [kind for kind, _ in plant.alarms] == ["missed", "missed"]  # the late part, then the stop


# -- human verdicts through the review gate ---------------------------------------------------------


def verdict(part_id: str, what: Literal["reject", "pass"]) -> VerdictMessage:
    return VerdictMessage(id=f"v-{part_id}", part_id=part_id, verdict=what, by="ann", reason="looked", utc="now")


def test_human_verdicts_drive_the_gate(plc: SimPlc, tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "station.db")
    plant = Plant(store)
    gate = scheduler(actuator(plc.port), plant)
    review = ReviewGate("s1", store, gate)
    arrival = time.monotonic_ns() + 500 * MS
    for part in ("approved", "released", "silent"):
        command = ActuatorCommand(part_id=part, action="reject", fire_at_ns=arrival, origin="failsafe", reason="r")
        review.hold(command, arrival - 200 * MS)
    review.verdict(verdict("approved", "reject"))
    review.verdict(verdict("released", "pass"))
    time.sleep(0.8)
    review.close()
    gate.close()
    store.close()
    assert {r.part_id: (r.outcome, r.origin) for r in plant.results} == {
        "approved": ("fired", "human"),
        "released": ("passed", "human"),
        "silent": ("fired", "failsafe"),
    }
    assert len(plc.rising(GATE)) == 2
    db = sqlite3.connect(tmp_path / "station.db")
    rows = db.execute(
        "SELECT part_id, outcome, origin, fired_ns IS NOT NULL FROM actuations ORDER BY part_id"
    ).fetchall()
    dispositions = dict(db.execute("SELECT part_id, action FROM dispositions").fetchall())
    db.close()
    assert rows == [
        ("approved", "fired", "human", 1),
        ("released", "passed", "human", 0),
        ("silent", "fired", "failsafe", 1),
    ]
    assert dispositions == {"approved": "reject", "released": "pass", "silent": "reject"}


# -- configuration and the pure gate logic ----------------------------------------------------------


def test_gate_plans() -> None:
    assert plan("pulse_to_reject", "pass").needs_output is False
    assert plan("pulse_to_reject", "divert").pulse is True  # no divert output: the reject path
    assert plan("pulse_to_reject", "divert", divert_output=True) == plan(
        "pulse_to_accept", "divert", divert_output=True
    )
    assert plan("pulse_to_accept", "divert", divert_output=True).pulse is False  # never accepted
    assert plan("pulse_to_reject", "stop_line").line_stop is True
    assert plan("pulse_to_accept", "pass").outcome == "accepted"
    assert plan("pulse_to_accept", "reject").needs_output is False


def test_line_geometry_sets_the_travel_time_and_needs_both_fields() -> None:
    config = StationConfig.model_validate({"actuator": {"line": {"distance_mm": 600, "belt_speed_mm_s": 400}}})
    assert config.actuator.travel_ms(config.policy.gate_delay_ms) == pytest.approx(1500)
    assert StationConfig().actuator.travel_ms(2000.0) == 2000.0
    with pytest.raises(ValidationError, match="set both"):
        StationConfig.model_validate({"actuator": {"line": {"distance_mm": 600}}})


def test_an_unknown_driver_kind_is_named() -> None:
    with pytest.raises(ValidationError, match=r"actuator\.driver\.kind must be 'logging'"):
        StationConfig.model_validate({"actuator": {"driver": {"kind": "plc"}}})


def test_passes_are_never_late_on_a_pulse_to_reject_gate() -> None:
    plant = Plant()
    gate = GateScheduler(ActuatorConfig(), LoggingDriver(), plant.record, plant.alarm).start()
    gate.passed("old", time.monotonic_ns() - 10**9)
    deadline = time.monotonic() + 2
    while not plant.results and time.monotonic() < deadline:
        time.sleep(0.001)
    gate.close()
    assert [(r.outcome, r.fired_ns) for r in plant.results] == [("passed", None)]
    assert plant.alarms == []


def test_results_survive_in_a_thread_safe_way() -> None:
    """Many parts submitted from several threads at once: each gets exactly one result."""
    plant = Plant()
    gate = GateScheduler(ActuatorConfig(lead_ms=0), LoggingDriver(), plant.record, plant.alarm).start()
    now = time.monotonic_ns()

    def feed(offset: int) -> None:
        for i in range(100):
            gate.passed(f"t{offset}-{i}", now + (i * 3 + offset) * 100_000)

    threads = [threading.Thread(target=feed, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gate.close(drain_s=0.2)
    assert len({r.part_id for r in plant.results}) == len(plant.results) == 300
