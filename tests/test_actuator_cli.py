"""The gate process, `inspection actuator pulse` and `self-test` against a real Modbus server, and the
production start-up check on self-tests."""

from __future__ import annotations

import io
import json
import os
import pwd
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from inspection.actuation.logging_driver import LoggingDriver
from inspection.actuation.logging_gate import LoggingGate
from inspection.actuation.process import GateProcess
from inspection.actuation.reset import Reset
from inspection.actuation.scheduler import GateScheduler
from inspection.actuation.sim_plc import SimPlc
from inspection.cli import main
from inspection.config import load_config
from inspection.config.actuation import ActuatorConfig
from inspection.contracts import ActuatorCommand, ActuatorResult
from inspection.errors import ConfigError
from inspection.station.build import run_station
from inspection.station.endpoint import Endpoint

GATE, LINE_STOP, DIVERT, CONFIRM, BIN_FULL = 0, 1, 2, 3, 5


def write_config(tmp_path: Path, port: int, extra: str = "", monitoring_port: int = 0) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(
        f'[storage]\ndata_dir = "data"\n[monitoring]\nport = {monitoring_port}\n[link]\nserver = ""\n'
        "[model]\nverify_golden = false\n"
        f"[actuator]\npulse_width_ms = 20\nconfirmation_window_ms = 200\n{extra}"
        f'[actuator.driver]\nkind = "modbus"\nhost = "127.0.0.1"\nport = {port}\n'
        f"gate = {{ address = {GATE} }}\nline_stop = {{ address = {LINE_STOP} }}\n"
        f"[actuator.driver.inputs]\nreject_confirmation = {{ address = {CONFIRM} }}\n"
        f"bin_full = {{ address = {BIN_FULL} }}\n"
    )
    return path


@pytest.fixture
def confirming_plc() -> Iterator[SimPlc]:
    """A PLC whose bin sensor sees every rejected part 20 ms after the gate moves."""
    plc = SimPlc(confirm=(GATE, CONFIRM, 0.02)).start()
    yield plc
    plc.stop()


def test_pulse_moves_the_chosen_output_once(tmp_path: Path, confirming_plc: SimPlc) -> None:
    config = write_config(tmp_path, confirming_plc.port)
    result = CliRunner().invoke(main, ["actuator", "pulse", "--config", str(config), "--output", "line_stop"])
    assert result.exit_code == 0, result.output
    assert [(w.address, w.value) for w in confirming_plc.writes] == [(LINE_STOP, 1), (LINE_STOP, 0)]


def test_pulse_and_self_test_move_the_divert_output_when_it_is_configured(
    tmp_path: Path, confirming_plc: SimPlc
) -> None:
    bare = write_config(tmp_path, confirming_plc.port)
    refused = CliRunner().invoke(main, ["actuator", "pulse", "--config", str(bare), "--output", "divert"])
    assert refused.exit_code == 2
    assert "actuator.driver.divert is not configured" in refused.output
    config = bare.with_name("divert.toml")
    config.write_text(
        bare.read_text().replace(
            "[actuator.driver.inputs]", f"divert = {{ address = {DIVERT} }}\n[actuator.driver.inputs]"
        )
    )
    result = CliRunner().invoke(main, ["actuator", "pulse", "--config", str(config), "--output", "divert"])
    assert result.exit_code == 0, result.output
    assert [(w.address, w.value) for w in confirming_plc.writes] == [(DIVERT, 1), (DIVERT, 0)]
    test = CliRunner().invoke(main, ["actuator", "self-test", "--config", str(config)])
    assert test.exit_code == 0, test.output
    assert "ok   divert pulse: divert pulsed for 20 ms" in test.output
    assert len(confirming_plc.rising(DIVERT)) == 2 and len(confirming_plc.rising(GATE)) == 1


def test_self_test_passes_on_a_healthy_line_and_production_may_start(tmp_path: Path, confirming_plc: SimPlc) -> None:
    config_file = write_config(tmp_path, confirming_plc.port, "self_test_max_age_h = 12\n")
    result = CliRunner().invoke(main, ["actuator", "self-test", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    assert "ok   confirmation: seen" in result.output
    assert confirming_plc.rising(GATE)  # the test reject really moved the gate
    counts = run_station(load_config(config_file), threading.Event(), max_parts=2)
    assert counts.acquired == 2


def test_a_full_bin_fails_the_self_test_and_blocks_production(tmp_path: Path, confirming_plc: SimPlc) -> None:
    confirming_plc.set_input(BIN_FULL, True)
    config_file = write_config(tmp_path, confirming_plc.port, "self_test_max_age_h = 12\n")
    result = CliRunner().invoke(main, ["actuator", "self-test", "--config", str(config_file)])
    assert result.exit_code == 1
    assert "FAIL plant inputs: bin_full active" in result.output
    with pytest.raises(ConfigError, match=r"self_test_max_age_h.*never.*inspection actuator self-test"):
        run_station(load_config(config_file), threading.Event(), max_parts=1)


def test_without_a_confirmation_the_self_test_fails(tmp_path: Path) -> None:
    plc = SimPlc().start()  # nobody sees the part enter the bin
    try:
        result = CliRunner().invoke(main, ["actuator", "self-test", "--config", str(write_config(tmp_path, plc.port))])
    finally:
        plc.stop()
    assert result.exit_code == 1
    assert "FAIL confirmation: not seen within the confirmation window" in result.output


def test_an_unreachable_plc_fails_the_self_test_naming_it(tmp_path: Path) -> None:
    plc = SimPlc().start()
    port = plc.port
    plc.stop()
    result = CliRunner().invoke(main, ["actuator", "self-test", "--config", str(write_config(tmp_path, port))])
    assert result.exit_code == 1
    assert "FAIL connect" in result.output


def test_an_alarm_of_the_gate_process_first_connect_reaches_the_station() -> None:
    """The first connect runs before the child says it is ready: its alarm must not be taken for 'ready'."""
    plc = SimPlc().start()
    port = plc.port
    plc.stop()
    config = ActuatorConfig.model_validate(
        {"driver": {"kind": "modbus", "host": "127.0.0.1", "port": port, "gate": {"address": GATE}}}
    )
    alarms: list[tuple[str, str]] = []
    gate = GateProcess(config, lambda result: None, lambda kind, message: alarms.append((kind, message)))
    try:
        deadline = time.monotonic() + 5
        while not alarms and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        gate.close()
    assert [kind for kind, _ in alarms][:1] == ["driver"], alarms  # raised once per outage: losing it is silence
    assert gate.alarms["driver"] == 1


def test_the_gate_process_fires_exactly_the_rejects_in_order(confirming_plc: SimPlc) -> None:
    """The station's real gates run in a process of their own; the same contract as the in-process scheduler."""
    config = ActuatorConfig.model_validate(
        {
            "lead_ms": 5,
            "pulse_width_ms": 5,
            "driver": {"kind": "modbus", "host": "127.0.0.1", "port": confirming_plc.port, "gate": {"address": GATE}},
        }
    )
    results: list[ActuatorResult] = []
    gate = GateProcess(config, results.append, lambda kind, message: None)
    start = time.monotonic_ns() + 200_000_000
    rejects = []
    for i in range(40):
        arrival = start + i * 20_000_000
        if i % 3 == 0:
            rejects.append(f"p{i}")
            gate.submit(
                ActuatorCommand(part_id=f"p{i}", action="reject", fire_at_ns=arrival, origin="auto", reason="r")
            )
        else:
            gate.passed(f"p{i}", arrival)
    gate.close(drain_s=2.0)
    fired = [r.part_id for r in sorted(results, key=lambda r: r.planned_ns) if r.outcome == "fired"]
    assert fired == rejects
    assert len(confirming_plc.rising(GATE)) == len(rejects)
    assert gate.counts == {"fired": len(rejects), "passed": 40 - len(rejects)}


@pytest.mark.parametrize(
    ("gate", "outcomes"), [("pulse_to_reject", ["fired", "passed"]), ("pulse_to_accept", ["withheld", "accepted"])]
)
def test_the_logging_gate_records_one_result_per_part_without_timing_anything(gate: str, outcomes: list[str]) -> None:
    results: list[ActuatorResult] = []
    logging_gate = LoggingGate(ActuatorConfig.model_validate({"gate": gate, "lead_ms": 10}), results.append)
    logging_gate.submit(ActuatorCommand(part_id="r", action="reject", fire_at_ns=50_000_000, origin="auto", reason="x"))
    logging_gate.passed("p", 60_000_000, "human")
    assert [(r.part_id, r.outcome, r.origin, r.planned_ns) for r in results] == [
        ("r", outcomes[0], "auto", 40_000_000),
        ("p", outcomes[1], "human", 50_000_000),
    ]
    assert all("no gate output" in r.reason for r in results)


def test_opcua_gates_take_their_poll_and_back_off_from_the_config() -> None:
    config = ActuatorConfig.model_validate(
        {
            "driver": {
                "kind": "opcua",
                "endpoint": "opc.tcp://127.0.0.1:4840",
                "gate": "ns=2;s=Gate",
                "poll_ms": 25,
                "backoff_s": [0.5, 9.0],
            }
        }
    )
    scheduler = GateScheduler(config, LoggingDriver(), lambda result: None, lambda kind, message: None)
    assert scheduler._poll_ns == 25_000_000
    assert (scheduler._backoff.first_ns, scheduler._backoff.longest_ns) == (500_000_000, 9_000_000_000)


# -- an operator resets 'cannot reject' on the running station ---------------------------------------


def healthz(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:  # 503 while unhealthy: the same document
        return dict(json.load(exc))
    except OSError:
        return {}


def metric(port: int, line_start: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(line_start))  # 0: not exported yet


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s:g} s for {what}"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_full_bin_stops_the_line_until_an_operator_resets_it_after_emptying_it(
    tmp_path: Path, confirming_plc: SimPlc
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = load_config(write_config(tmp_path, confirming_plc.port, monitoring_port=port))
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    station = threading.Thread(target=run_station, args=(config, stop))
    station.start()
    try:
        wait_for(lambda: healthz(port).get("gate") == "ok", "the station's gate")
        confirming_plc.set_input(BIN_FULL, True)
        wait_for(lambda: healthz(port).get("gate") == "cannot reject: bin_full", "'cannot reject' in /healthz")
        assert confirming_plc.coils[LINE_STOP] is True
        assert healthz(port)["healthy"] is False
        assert metric(port, "inspection_gate_cannot_reject ") == 1
        failed = 'inspection_gate_total{outcome="failed"}'
        wait_for(lambda: metric(port, failed) >= 3, "passes recorded failed at the gate")  # 2 s capture to gate

        refused = CliRunner().invoke(main, ["actuator", "reset", "--url", url, "--reason", "bin looks fine"])
        assert refused.exit_code == 1, refused.output
        assert "bin_full still active" in refused.output
        assert confirming_plc.coils[LINE_STOP] is True

        confirming_plc.set_input(BIN_FULL, False)
        reason = "bin emptied by the shift lead"
        result = CliRunner().invoke(
            main, ["actuator", "reset", "--config", str(tmp_path / "station.toml"), "--reason", reason]
        )
        released_ns = time.monotonic_ns()
        assert result.exit_code == 0, result.output
        assert "line stop released" in result.output and "was: bin_full" in result.output
        assert confirming_plc.coils[LINE_STOP] is False
        assert healthz(port)["gate"] == "ok"
        assert metric(port, 'inspection_gate_resets_total{result="accepted"}') == 1
        assert metric(port, 'inspection_gate_resets_total{result="refused"}') == 1
        assert metric(port, "inspection_gate_cannot_reject ") == 0
        time.sleep(1.0)  # about ten more parts reach the gate
    finally:
        stop.set()
        station.join()

    db = sqlite3.connect(tmp_path / "data" / "station.db")
    resets = db.execute("SELECT by, reason, accepted, before FROM gate_resets ORDER BY utc").fetchall()
    after = db.execute("SELECT action, outcome FROM actuations WHERE planned_ns > ?", (released_ns,)).fetchall()
    during = db.execute("SELECT outcome FROM actuations WHERE action = 'pass' AND planned_ns < ?", (released_ns,))
    held = {outcome for (outcome,) in during}
    db.close()
    user = pwd.getpwuid(os.getuid()).pw_name
    assert resets == [(user, "bin looks fine", 0, "bin_full"), (user, reason, 1, "bin_full")]
    assert "failed" in held  # nothing passed while the station could not reject
    assert after and all(outcome in ("passed", "fired") for _, outcome in after), after


def test_the_reset_route_takes_a_well_formed_post_from_this_machine_only(tmp_path: Path) -> None:
    from inspection.station.accounting import Accounting  # noqa: PLC0415
    from inspection.station.monitoring import StationMonitor  # noqa: PLC0415

    monitor = StationMonitor(Accounting(), {}, lambda: 0, lambda: None, 60.0)
    asked: list[tuple[str, str]] = []

    def gate_reset(by: str, reason: str) -> Reset:
        asked.append((by, reason))
        return Reset(False, "bin_open", "bin_open still active: clear it, then reset")

    def call(remote: str, method: str = "POST", body: bytes = b'{"by": "ann", "reason": "closed it"}') -> str:
        environ: dict[str, Any] = {"PATH_INFO": "/actuator/reset", "REQUEST_METHOD": method, "REMOTE_ADDR": remote}
        environ.update({"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)})
        statuses: list[str] = []
        endpoint._app(environ, lambda status, headers: statuses.append(status))
        return statuses[0]

    with Endpoint(monitor, "127.0.0.1", 0, gate_reset) as endpoint:
        assert call("10.0.0.7").startswith("403")  # another machine on the plant net
        assert call("127.0.0.1", method="GET").startswith("405")
        assert call("127.0.0.1", body=b'{"by": "ann", "reason": " "}').startswith("400")
        assert call("127.0.0.1", body=b"not json").startswith("400")
        assert asked == []
        assert call("127.0.0.1").startswith("409")  # refused by the gate: the same document as a 200
        assert asked == [("ann", "closed it")]
        refused = CliRunner().invoke(
            main, ["actuator", "reset", "--url", f"http://127.0.0.1:{endpoint.port}", "--reason", "closed it"]
        )
        assert refused.exit_code == 1 and "bin_open still active" in refused.output
    with Endpoint(monitor, "127.0.0.1", 0) as endpoint:
        assert call("127.0.0.1").startswith("404")  # no gate to reset
    gone = CliRunner().invoke(
        main, ["actuator", "reset", "--url", f"http://127.0.0.1:{endpoint.port}", "--reason", "x"]
    )
    assert gone.exit_code == 2 and "no station answers" in gone.output
