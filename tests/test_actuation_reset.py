"""Resetting 'cannot reject' in the scheduler, against a real Modbus server (pymodbus's); the station's
side (`inspection actuator reset`, the endpoint, the record) is in test_actuator_cli.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from inspection.actuation.sim_plc import SimPlc
from inspection.contracts import ActuatorCommand
from tests.test_actuation import GATE, LINE_STOP, MS, Plant, actuator, matched, scheduler


@pytest.fixture
def plc() -> Iterator[SimPlc]:
    server = SimPlc().start()
    yield server
    server.stop()


def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_reset_is_refused_while_the_bin_is_full_and_releases_the_line_stop_once_emptied(plc: SimPlc) -> None:
    plant = Plant()
    driver = {"line_stop": {"address": LINE_STOP}, "inputs": {"bin_full": {"address": 5}}}
    gate = scheduler(actuator(plc.port, driver=driver), plant)
    plc.set_input(5, True)
    wait_for(lambda: gate.cannot_reject is not None)
    assert gate.cannot_reject == "bin_full" and plc.coils[LINE_STOP] is True

    refused = gate.reset().result(timeout=5)
    assert (refused.accepted, refused.before) == (False, "bin_full")
    assert "bin_full still active" in refused.message
    assert gate.cannot_reject == "bin_full" and plc.coils[LINE_STOP] is True

    plc.set_input(5, False)
    time.sleep(0.1)  # ten input polls with the bin emptied
    assert gate.cannot_reject == "bin_full" and plc.coils[LINE_STOP] is True  # latched until someone resets it
    done = gate.reset().result(timeout=5)
    assert (done.accepted, done.before) == (True, "bin_full")
    assert gate.cannot_reject is None and plc.coils[LINE_STOP] is False

    arrival = time.monotonic_ns() + 100 * MS
    gate.submit(ActuatorCommand(part_id="after", action="reject", fire_at_ns=arrival, origin="auto", reason="x"))
    gate.passed("good", arrival + 50 * MS)
    gate.close(drain_s=0.5)
    assert {r.part_id: r.outcome for r in plant.results} == {"after": "fired", "good": "passed"}
    assert matched(plc.rising(GATE), [arrival - 10 * MS], window_ns=20 * MS)
    assert [kind for kind, _ in plant.alarms] == ["cannot_reject"]


def test_a_reset_without_a_reachable_plc_is_refused_and_the_station_still_cannot_reject(plc: SimPlc) -> None:
    plant = Plant()
    driver = {"line_stop": {"address": LINE_STOP}, "inputs": {"bin_open": {"address": 6}}, "backoff_s": (5, 5)}
    gate = scheduler(actuator(plc.port, driver=driver), plant)
    plc.set_input(6, True)
    wait_for(lambda: gate.cannot_reject is not None)
    plc.stop()
    wait_for(lambda: not gate.driver.connected)
    refused = gate.reset().result(timeout=5)
    gate.close()
    assert (refused.accepted, refused.before) == (False, "bin_open")
    assert "disconnected" in refused.message
    assert gate.cannot_reject == "bin_open"
    assert gate.reset().result(timeout=1).message == "the station is stopping"  # answered, not left hanging
