"""A divert output of its own, against a real Modbus server (pymodbus's): diverts pulse it, rejects the gate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from inspection.actuation.gate import Action
from inspection.actuation.sim_plc import SimPlc
from tests.test_actuation import GATE, MS, Plant, actuator, matched, run_line, scheduler

DIVERT = 2


@pytest.fixture
def plc() -> Iterator[SimPlc]:
    server = SimPlc().start()
    yield server
    server.stop()


PATTERN: list[Action] = ["reject", "pass", "divert", "divert", "pass", "reject", "divert", "reject", "pass"] * 3


def planned(plant: Plant, action: Action) -> list[int]:
    return sorted(r.planned_ns for r in plant.results if r.action == action)


def test_diverts_pulse_the_divert_coil_only_and_rejects_the_reject_coil_only(plc: SimPlc) -> None:
    plant = Plant()
    gate = scheduler(actuator(plc.port, driver={"divert": {"address": DIVERT}}), plant)
    run_line(gate, PATTERN, rate_hz=20, travel_s=0.15)
    gate.close(drain_s=1.0)

    results = plant.by_part()
    expected = {"reject": "fired", "divert": "diverted", "pass": "passed"}
    assert [results[f"p{i}"].outcome for i in range(len(PATTERN))] == [expected[a] for a in PATTERN]
    diverted = [r for r in plant.results if r.outcome == "diverted"]
    assert all(r.fired_ns is not None and abs(r.fired_ns - r.planned_ns) < 5 * MS for r in diverted)
    assert matched(plc.rising(DIVERT), planned(plant, "divert"), window_ns=20 * MS)
    assert matched(plc.rising(GATE), planned(plant, "reject"), window_ns=20 * MS)
    assert [w.value for w in plc.writes if w.address == DIVERT] == [0] + [1, 0] * PATTERN.count("divert")
    assert [w.value for w in plc.writes if w.address == GATE] == [0] + [1, 0] * PATTERN.count("reject")
    assert plant.alarms == []


def test_on_a_pulse_to_accept_gate_a_divert_is_not_accepted_and_pulses_the_divert_coil() -> None:
    plc = SimPlc(device_pulse=(GATE, 0.01)).start()
    try:
        plant = Plant()
        driver = {"divert": {"address": DIVERT}, "output_mode": "pulse"}
        gate = scheduler(actuator(plc.port, gate="pulse_to_accept", driver=driver), plant)
        run_line(gate, PATTERN, rate_hz=20, travel_s=0.15)
        gate.close(drain_s=1.0)
    finally:
        plc.stop()
    expected = {"reject": "withheld", "divert": "diverted", "pass": "accepted"}
    assert [plant.by_part()[f"p{i}"].outcome for i in range(len(PATTERN))] == [expected[a] for a in PATTERN]
    assert matched(plc.rising(GATE), planned(plant, "pass"), window_ns=20 * MS)  # accepts: passes only
    assert matched(plc.rising(DIVERT), planned(plant, "divert"), window_ns=20 * MS)
    assert plant.alarms == []


def test_without_a_divert_output_a_divert_pulses_the_reject_coil(plc: SimPlc) -> None:
    plant = Plant()
    gate = scheduler(actuator(plc.port), plant)
    run_line(gate, ["divert", "pass", "divert"], rate_hz=20, travel_s=0.1)
    gate.close(drain_s=1.0)
    assert [r.outcome for r in plant.results] == ["fired", "passed", "fired"]
    assert matched(plc.rising(GATE), planned(plant, "divert"), window_ns=20 * MS)
    assert plc.rising(DIVERT) == []


def test_two_outputs_on_one_address_are_refused_naming_both() -> None:
    with pytest.raises(ValidationError, match="divert and gate are the same output"):
        actuator(502, driver={"divert": {"address": GATE}})
    actuator(502, driver={"divert": {"address": GATE, "table": "holding_register"}})  # another table: fine
