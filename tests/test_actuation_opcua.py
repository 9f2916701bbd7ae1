"""Reject actuation over OPC UA against a real asyncua server on loopback that timestamps every client write."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from asyncua.sync import Server
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import ValidationError

from inspection.actuation.build import build_driver
from inspection.actuation.driver import DriverError
from inspection.actuation.gate import Action
from inspection.actuation.opcua_driver import OpcUaDriver
from inspection.actuation.scheduler import GateScheduler
from inspection.config import StationConfig
from inspection.config.actuation import ActuatorConfig, OpcUaDriverConfig
from tests.test_actuation import MS, Plant, matched, run_line

GATE, LINE_STOP, DIVERT = "ns=2;s=Line1.Reject", "ns=2;s=Line1.LineStop", "ns=2;s=Line1.Divert"
CONFIRM, BIN_FULL, AIR_OK = "ns=2;s=Line1.Confirm", "ns=2;s=Line1.BinFull", "ns=2;s=Line1.AirOk"
LOCKED, COUNT = "ns=2;s=Line1.Locked", "ns=2;s=Line1.Count"  # read-only Boolean; an Int32
WRITABLE = (GATE, LINE_STOP, DIVERT)
READ_ONLY = (CONFIRM, BIN_FULL, AIR_OK, LOCKED)


@dataclass(frozen=True, slots=True)
class Write:
    ns: int  # time.monotonic_ns when the server handled it
    node: str
    value: object
    variant: ua.VariantType
    stamped: bool  # the client sent a source timestamp


class OpcPlc:
    """A PLC's OPC UA server: asyncua's sync Server (its own thread and loop) on 127.0.0.1:`port`.

    Building one takes ~2 s (asyncua loads the standard address space), so a restart test builds the
    replacement before stopping the first; `writes` can be shared between the two.
    """

    def __init__(
        self,
        port: int,
        *,
        keys: tuple[Path, Path] | None = None,
        users: dict[str, str] | None = None,
        writes: list[Write] | None = None,
    ) -> None:
        self.port = port
        self.writes: list[Write] = [] if writes is None else writes
        self.server = Server()
        self.server.set_endpoint(self.endpoint)
        assert self.server.register_namespace("urn:inspection:test-plc") == 2
        line = self.server.nodes.objects.add_object(ua.NodeId.from_string("ns=2;s=Line1"), "Line1")
        for node_id in (*WRITABLE, *READ_ONLY):
            variable = line.add_variable(ua.NodeId.from_string(node_id), node_id, False, ua.VariantType.Boolean)
            if node_id in WRITABLE:
                variable.set_writable()
        line.add_variable(ua.NodeId.from_string(COUNT), "Count", 0, ua.VariantType.Int32).set_writable()
        if keys is not None:  # only Basic256Sha256 / SignAndEncrypt: no unsecured endpoint at all
            self.server.load_certificate(str(keys[0]))
            self.server.load_private_key(str(keys[1]))
            self.server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        if users is not None:
            self.server.aio_obj.iserver.set_user_manager(Passwords(users))
        self.server.aio_obj.subscribe_server_callback(CallbackType.PostWrite, self._record)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}"

    def start(self) -> OpcPlc:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def set(self, node_id: str, value: bool) -> None:
        self.server.get_node(node_id).write_value(value, ua.VariantType.Boolean)

    def value(self, node_id: str) -> object:
        return self.server.get_node(node_id).read_value()

    def reset(self) -> None:
        for node_id in (*WRITABLE, *READ_ONLY):
            self.set(node_id, False)
        self.writes.clear()

    def rising(self, node_id: str) -> list[int]:
        return [w.ns for w in list(self.writes) if w.node == node_id and w.value is True]

    def values(self, node_id: str) -> list[object]:
        return [w.value for w in list(self.writes) if w.node == node_id]

    def _record(self, event: ServerItemCallback, _: object) -> None:
        """Every client write, timestamped on arrival (the station's clock: same machine)."""
        if not event.is_external:
            return
        now = time.monotonic_ns()
        for item, status in zip(event.request_params.NodesToWrite, event.response_params, strict=True):
            if status.is_good():
                value = item.Value.Value
                self.writes.append(Write(now, item.NodeId.to_string(), value.Value, value.VariantType, stamped(item)))


def stamped(item: ua.WriteValue) -> bool:
    return item.Value.SourceTimestamp is not None or item.Value.ServerTimestamp is not None


class Passwords(UserManager):
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def shared_plc() -> Iterator[OpcPlc]:
    plc = OpcPlc(free_port()).start()
    yield plc
    plc.stop()


@pytest.fixture
def plc(shared_plc: OpcPlc) -> OpcPlc:
    shared_plc.reset()
    return shared_plc


def opcua(endpoint: str, **changes: Any) -> OpcUaDriverConfig:
    return OpcUaDriverConfig.model_validate({"endpoint": endpoint, "gate": GATE, **changes})


def actuator(endpoint: str, **changes: Any) -> ActuatorConfig:
    driver = {"kind": "opcua", "endpoint": endpoint, "gate": GATE, **changes.pop("driver", {})}
    base = {"lead_ms": 10, "pulse_width_ms": 20, "late_tolerance_ms": 5, "driver": driver}
    return ActuatorConfig.model_validate({**base, **changes})


def scheduler(config: ActuatorConfig, plant: Plant) -> GateScheduler:
    return GateScheduler(config, build_driver(config.driver), plant.record, plant.alarm).start()


# -- (a) the driver on its own ----------------------------------------------------------------------


def test_the_driver_pulses_the_gate_sets_the_line_stop_and_reads_the_inputs(plc: OpcPlc) -> None:
    inputs = {
        "reject_confirmation": {"node": CONFIRM},
        "bin_full": {"node": BIN_FULL},
        "low_air": {"node": AIR_OK, "active_when": False},  # the PLC reports 'air ok'
    }
    driver = OpcUaDriver(opcua(plc.endpoint, line_stop=LINE_STOP, inputs=inputs))
    driver.connect()
    try:
        assert driver.connected and driver.inputs == {"reject_confirmation", "bin_full", "low_air"}
        driver.write("gate", True)
        assert plc.value(GATE) is True
        driver.write("gate", False)
        driver.write("line_stop", True)
        assert driver.read_inputs() == {"reject_confirmation": False, "bin_full": False, "low_air": True}
        plc.set(BIN_FULL, True)
        plc.set(AIR_OK, True)
        plc.set(CONFIRM, True)
        assert driver.read_inputs() == {"reject_confirmation": True, "bin_full": True, "low_air": False}
    finally:
        driver.close()
    assert not driver.connected
    assert [(w.node, w.value) for w in plc.writes] == [(GATE, True), (GATE, False), (LINE_STOP, True)]
    assert {(w.variant, w.stamped) for w in plc.writes} == {(ua.VariantType.Boolean, False)}
    assert plc.value(GATE) is False and plc.value(LINE_STOP) is True
    with pytest.raises(DriverError, match="not connected"):
        driver.write("gate", True)


# -- (b) the scheduler: 30 parts at 20 parts/s, the gate node is on exactly for the rejects ------------


@pytest.mark.slow
def test_the_gate_node_goes_on_exactly_for_each_reject_in_order(plc: OpcPlc) -> None:
    rng = random.Random(11)
    rejects = [rng.random() < 0.4 for _ in range(30)]
    plant = Plant()
    gate = scheduler(actuator(plc.endpoint), plant)
    run_line(gate, rejects, rate_hz=20, travel_s=0.2)
    gate.close(drain_s=1.0)

    results = plant.by_part()
    assert len(plant.results) == 30 == len(results)
    assert [results[f"p{i}"].outcome for i in range(30)] == ["fired" if r else "passed" for r in rejects]
    planned = [results[f"p{i}"].planned_ns for i in range(30) if rejects[i]]
    assert matched(plc.rising(GATE), planned, window_ns=25 * MS), (len(plc.rising(GATE)), len(planned))
    assert plc.values(GATE) == [False] + [True, False] * sum(rejects)  # off at connect, then each pulse
    assert plant.alarms == []


def test_diverts_turn_the_divert_node_on_and_rejects_the_gate_node(plc: OpcPlc) -> None:
    actions: list[Action] = ["divert", "reject", "pass", "divert", "reject", "divert"]
    plant = Plant()
    gate = scheduler(actuator(plc.endpoint, driver={"divert": DIVERT}), plant)
    run_line(gate, actions, rate_hz=20, travel_s=0.2)
    gate.close(drain_s=1.0)

    assert [r.outcome for r in plant.results] == ["diverted", "fired", "passed", "diverted", "fired", "diverted"]
    diverts = [r.planned_ns for r in plant.results if r.action == "divert"]
    rejects = [r.planned_ns for r in plant.results if r.action == "reject"]
    assert matched(plc.rising(DIVERT), diverts, window_ns=25 * MS)
    assert matched(plc.rising(GATE), rejects, window_ns=25 * MS)
    assert plc.values(DIVERT) == [False] + [True, False] * 3  # off at connect, then each pulse
    assert plant.alarms == []


def test_a_divert_node_is_checked_at_connect_with_its_config_key(plc: OpcPlc) -> None:
    with pytest.raises(DriverError, match=r"Line1\.Locked \(actuator\.driver\.divert\).*may not write"):
        OpcUaDriver(opcua(plc.endpoint, divert=LOCKED)).connect()
    with pytest.raises(ValidationError, match="divert and gate are the same output"):
        opcua(plc.endpoint, divert=GATE)


# -- (c) the server stops mid-run and comes back ------------------------------------------------------


@pytest.mark.slow
def test_a_lost_server_alarms_records_the_affected_parts_and_later_rejects_fire() -> None:
    port = free_port()
    first = OpcPlc(port).start()
    second = OpcPlc(port, writes=first.writes)  # built now: building takes longer than the outage
    rejects = [i % 2 == 0 for i in range(120)]  # 6 s: the scheduler's back-off for non-Modbus drivers is 0.2..5 s
    plant = Plant()
    gate = scheduler(actuator(first.endpoint), plant)
    back: list[int] = []

    def outage() -> None:
        first.stop()
        time.sleep(0.3)
        second.start()
        back.append(time.monotonic_ns())

    restart = threading.Thread(target=outage)  # the feeder keeps its pace while the server goes down
    try:
        run_line(gate, rejects, rate_hz=20, travel_s=0.2, between=lambda i: restart.start() if i == 20 else None)
        gate.close(drain_s=1.0)
    finally:
        restart.join()
        second.stop()

    results = plant.by_part()
    assert len(plant.results) == 120 == len(results)
    assert any(kind == "driver" for kind, _ in plant.alarms)
    lost = [r for r in plant.results if r.outcome in ("failed", "missed")]
    assert lost, "no part was recorded failed or missed while the server was down"
    assert all(r.action == "reject" and ("driver" in r.reason or "ms too late" in r.reason) for r in lost)
    assert all(any(r.part_id in message for _, message in plant.alarms) for r in lost)
    assert all(r.planned_ns > back[0] - 2_000 * MS for r in lost)  # only parts around the outage
    last_lost = max(r.planned_ns for r in lost)
    later = [r for r in plant.results if r.action == "reject" and r.planned_ns > last_lost]
    assert len(later) >= 10 and all(r.outcome == "fired" for r in later)
    fired = sorted(r.planned_ns for r in plant.results if r.outcome == "fired")
    assert matched(first.rising(GATE), fired, window_ns=25 * MS)  # both servers record into one list


# -- (d) configuration mistakes are named -------------------------------------------------------------


def test_an_unknown_node_is_named_with_its_config_key(plc: OpcPlc) -> None:
    driver = OpcUaDriver(opcua(plc.endpoint, line_stop="ns=2;s=Line1.Nope"))
    with pytest.raises(DriverError) as error:
        driver.connect()
    message = str(error.value)
    assert "ns=2;s=Line1.Nope" in message and "actuator.driver.line_stop" in message
    assert plc.endpoint in message and "BadNodeIdUnknown" in message and "check the node id" in message
    assert not driver.connected and plc.writes == []


def test_a_node_of_the_wrong_type_or_without_write_access_is_refused(plc: OpcPlc) -> None:
    with pytest.raises(DriverError, match=r"Line1\.Count \(actuator\.driver\.gate\).*not Boolean"):
        OpcUaDriver(opcua(plc.endpoint, gate=COUNT)).connect()
    with pytest.raises(DriverError, match=r"Line1\.Locked \(actuator\.driver\.gate\).*may not write"):
        OpcUaDriver(opcua(plc.endpoint, gate=LOCKED)).connect()


def test_the_scheduler_alarms_a_bad_node_and_fails_the_reject(plc: OpcPlc) -> None:
    plant = Plant()
    gate = scheduler(actuator(plc.endpoint, driver={"gate": "ns=2;s=Line1.Typo"}), plant)
    run_line(gate, [True], rate_hz=20, travel_s=0.05)
    gate.close(drain_s=0.5)
    assert [r.outcome for r in plant.results] == ["failed"]
    assert any(kind == "driver" and "ns=2;s=Line1.Typo" in message for kind, message in plant.alarms)


def test_a_refused_connection_names_the_endpoint() -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(DriverError, match=rf"{endpoint}: connecting: connection refused: check that the server runs"):
        OpcUaDriver(opcua(endpoint)).connect()
    assert time.monotonic() - started < 1.0


def test_config_checks_node_ids_endpoint_security_and_the_password_source() -> None:
    with pytest.raises(ValidationError, match="not an OPC UA node id"):
        opcua("opc.tcp://plc:4840", gate="Line1.Reject")
    with pytest.raises(ValidationError, match=r"expected 'opc\.tcp://<host>:<port>'"):
        opcua("http://plc:4840")
    with pytest.raises(ValidationError, match="no user name or password in the endpoint"):
        opcua("opc.tcp://op:secret@plc:4840")
    with pytest.raises(ValidationError, match="needs certificate and private_key"):
        opcua("opc.tcp://plc:4840", security_policy="Basic256Sha256", certificate="station.der")
    with pytest.raises(ValidationError, match="set both username and password_env"):
        opcua("opc.tcp://plc:4840", username="station")
    with pytest.raises(ValidationError, match=r"'logging' \(the default\), 'modbus'(,| or) 'opcua'"):
        StationConfig.model_validate({"actuator": {"driver": {"kind": "plc"}}})
    with pytest.raises(ValidationError, match="output_mode = 'pulse'"):
        actuator("opc.tcp://plc:4840", gate="pulse_to_accept")
    config = StationConfig.model_validate(
        {
            "actuator": {
                "driver": {"kind": "opcua", "endpoint": "opc.tcp://plc:4840", "gate": GATE, "certificate": "c.der"}
            }
        },
        context={"base_dir": "/etc/station"},
    )
    assert isinstance(config.actuator.driver, OpcUaDriverConfig)
    assert config.actuator.driver.certificate == Path("/etc/station/c.der")
    # the gate process gets its config as JSON
    assert ActuatorConfig.model_validate_json(config.actuator.model_dump_json()) == config.actuator


def test_user_and_password_from_the_environment() -> None:
    plc = OpcPlc(free_port(), users={"station": "s3cret"}).start()
    try:
        config = opcua(plc.endpoint, username="station", password_env="PLC_PASSWORD")
        with pytest.raises(DriverError, match=r"PLC_PASSWORD .* is not set"):
            OpcUaDriver(config, environ={}).connect()
        with pytest.raises(DriverError, match="BadUserAccessDenied: check username and the password"):
            OpcUaDriver(config, environ={"PLC_PASSWORD": "wrong"}).connect()
        with pytest.raises(DriverError, match="refuses anonymous sessions"):
            OpcUaDriver(opcua(plc.endpoint)).connect()
        driver = OpcUaDriver(config, environ={"PLC_PASSWORD": "s3cret"})
        driver.connect()
        driver.write("gate", True)
        driver.close()
        assert plc.values(GATE) == [True]
    finally:
        plc.stop()


# -- (e) Basic256Sha256 / SignAndEncrypt with self-signed certificates -------------------------------


def self_signed(folder: Path, name: str, uri: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")]
    cert = cert_gen.generate_self_signed_app_certificate(key, name, {}, names, extended=[usage])
    cert_path, key_path = folder / f"{name}.der", folder / f"{name}.key.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


@pytest.mark.slow
def test_a_signed_and_encrypted_channel_to_a_server_that_allows_nothing_else(tmp_path: Path) -> None:
    server_keys = self_signed(tmp_path, "plc", "urn:freeopcua:python:server", ExtendedKeyUsageOID.SERVER_AUTH)
    station_cert, station_key = self_signed(
        tmp_path, "station", "urn:inspection:station", ExtendedKeyUsageOID.CLIENT_AUTH
    )
    plc = OpcPlc(free_port(), keys=server_keys).start()
    secure = {"security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt"}
    keys = {"certificate": station_cert, "private_key": station_key}
    try:
        with pytest.raises(DriverError, match="no endpoint with security_policy = None"):  # the control
            OpcUaDriver(opcua(plc.endpoint)).connect()
        for pinned in ({}, {"server_certificate": server_keys[0]}):
            driver = OpcUaDriver(opcua(plc.endpoint, **secure, **keys, **pinned))
            driver.connect()
            driver.write("gate", True)
            driver.write("gate", False)
            driver.close()
        assert plc.values(GATE) == [True, False] * 2
    finally:
        plc.stop()
