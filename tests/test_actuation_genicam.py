"""The GenICam gate driver: a real GenApi node map over registers (the happy path), and viky (the refusal).

viky has no digital I/O features, so the writes are checked against `camera/genicam/io_camera.xml`, a
camera description with SFNC LineSelector/LineMode/LineInverter/LineSource/LineStatus and
UserOutputSelector/UserOutputValue nodes backed by registers, loaded by the genicam wheel's own
`NodeMap` and connected to a port over a bytearray (as harvesters connects a real device's port).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from genicam.genapi import NodeMap

from camera.genicam.discovery import harvester, list_devices, producer_files
from camera.genicam.io_camera import (
    LINE_INVERTER,
    LINE_MODE,
    LINE_SOURCE,
    LINE_STATUS,
    USER_OUTPUTS,
    RegisterPort,
    io_camera,
)
from camera.genicam.source import GenicamSource
from inspection.actuation.driver import DriverError
from inspection.actuation.genicam_driver import GenicamDriver, OwnCamera, ViaAcquisition
from inspection.actuation.genicam_io import IoLines
from inspection.actuation.genicam_server import IoServer
from inspection.actuation.process import GateProcess
from inspection.actuation.scheduler import GateScheduler
from inspection.config import StationConfig, load_config
from inspection.config.actuation import ActuatorConfig, GenicamDriverConfig
from inspection.config.camera import GenicamSourceConfig
from inspection.config.loader import ConfigFileError
from inspection.contracts import ActuatorCommand, ActuatorResult

SOURCE = {"Off": 0, "UserOutput0": 1, "UserOutput1": 2, "UserOutput2": 3}
GATE = {"line": "Line1", "user_output": "UserOutput1"}
LINE_STOP = {"line": "Line2", "user_output": "UserOutput2", "inverted": True}


@pytest.fixture
def camera() -> Iterator[tuple[NodeMap, RegisterPort]]:
    node_map, port = io_camera()
    yield node_map, port
    node_map.disconnect()


def driver_config(**changes: Any) -> GenicamDriverConfig:
    return GenicamDriverConfig.model_validate({"owner": "gate", "gate": GATE} | changes)


def driver_on(node_map: NodeMap, config: GenicamDriverConfig) -> GenicamDriver:
    """The driver with the XML camera as its node map (what OwnCamera.open finds on a real device)."""

    def open_lines(config: GenicamDriverConfig) -> OwnCamera:
        lines = IoLines(node_map, config, "IoTestCamera")
        lines.configure()
        return OwnCamera(ExitStack(), lines)

    return GenicamDriver(config, opener=open_lines)


def test_connect_sets_each_line_to_its_user_output_and_switches_them_off(camera: tuple[NodeMap, RegisterPort]) -> None:
    node_map, port = camera
    port.memory[USER_OUTPUTS] = 0b110  # left on by a previous run
    driver = driver_on(node_map, driver_config(line_stop=LINE_STOP))
    driver.connect()
    assert (port.word(LINE_MODE, 1), port.word(LINE_MODE, 2)) == (1, 1)  # Output
    assert (port.word(LINE_SOURCE, 1), port.word(LINE_SOURCE, 2)) == (SOURCE["UserOutput1"], SOURCE["UserOutput2"])
    assert (port.word(LINE_INVERTER, 1), port.word(LINE_INVERTER, 2)) == (0, 1)  # only the line stop inverted
    assert port.word(USER_OUTPUTS) == 0
    assert (port.word(LINE_MODE, 3), port.word(LINE_SOURCE, 3)) == (0, 0)  # an unconfigured line is left alone


def test_on_and_off_land_in_each_user_outputs_bit(camera: tuple[NodeMap, RegisterPort]) -> None:
    node_map, port = camera
    driver = driver_on(node_map, driver_config(line_stop=LINE_STOP))
    driver.connect()
    driver.write("gate", True)
    assert port.word(USER_OUTPUTS) == 0b010
    driver.write("line_stop", True)
    assert port.word(USER_OUTPUTS) == 0b110
    driver.write("gate", False)
    assert port.word(USER_OUTPUTS) == 0b100
    driver.write("line_stop", False)
    assert port.word(USER_OUTPUTS) == 0


def test_a_camera_that_stops_answering_is_a_driver_error_and_a_disconnect(
    camera: tuple[NodeMap, RegisterPort],
) -> None:
    node_map, port = camera
    driver = driver_on(node_map, driver_config())
    driver.connect()
    port.unplugged = True
    with pytest.raises(
        DriverError, match=r"camera IoTestCamera: writing UserOutput1 \(Line1\) True: .*does not answer"
    ):
        driver.write("gate", True)
    assert not driver.connected
    with pytest.raises(DriverError, match="not connected to camera at index 0"):
        driver.write("gate", False)
    port.unplugged = False
    driver.connect()  # as the scheduler reconnects
    driver.write("gate", True)
    assert port.word(USER_OUTPUTS) == 0b010


def test_the_gate_output_pulses_for_each_reject_in_order(camera: tuple[NodeMap, RegisterPort]) -> None:
    node_map, port = camera
    config = ActuatorConfig.model_validate(
        {"lead_ms": 10, "pulse_width_ms": 20, "late_tolerance_ms": 5, "driver": driver_config().model_dump()}
    )
    assert isinstance(config.driver, GenicamDriverConfig)
    results: list[ActuatorResult] = []
    alarms: list[tuple[str, str]] = []
    gate = GateScheduler(config, driver_on(node_map, config.driver), results.append, lambda k, m: alarms.append((k, m)))
    gate.start()
    rejects = [True, False, True, True, False, True]
    start = time.monotonic_ns()
    for i, reject in enumerate(rejects):
        arrival = start + (100 + 60 * i) * 1_000_000
        if reject:
            gate.submit(
                ActuatorCommand(part_id=f"p{i}", action="reject", fire_at_ns=arrival, origin="auto", reason="x")
            )
        else:
            gate.passed(f"p{i}", arrival)
    gate.close(drain_s=1.0)

    outcomes = {r.part_id: r.outcome for r in results}
    assert [outcomes[f"p{i}"] for i in range(len(rejects))] == ["fired" if r else "passed" for r in rejects]
    # off when the line is configured and again by the scheduler at connect, then one on/off per reject
    assert port.outputs() == [0, 0] + [0b010, 0] * sum(rejects)
    on_times = [t for t, address, value in port.writes if address == USER_OUTPUTS and value]
    fired = sorted(r.fired_ns for r in results if r.fired_ns is not None)
    assert len(on_times) == len(fired) == sum(rejects) and all(a >= f for a, f in zip(on_times, fired, strict=True))
    assert alarms == []


def test_inputs_are_read_from_input_lines(camera: tuple[NodeMap, RegisterPort]) -> None:
    node_map, port = camera
    inputs = {"reject_confirmation": {"line": "Line0"}, "bin_full": {"line": "Line3", "active_when": False}}
    port.memory[LINE_MODE + 4 * 3] = 1  # Line3 was an output
    driver = driver_on(node_map, driver_config(inputs=inputs))
    driver.connect()
    assert port.word(LINE_MODE, 3) == 0  # set to Input
    assert driver.inputs == {"reject_confirmation", "bin_full"}
    assert driver.read_inputs() == {"reject_confirmation": False, "bin_full": True}  # both lines low
    port.memory[LINE_STATUS] = 1
    port.memory[LINE_STATUS + 4 * 3] = 1
    assert driver.read_inputs() == {"reject_confirmation": True, "bin_full": False}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"gate": {"line": "Line7", "user_output": "UserOutput1"}},
            r"camera IoTestCamera: actuator\.driver\.gate\.line: camera feature LineSelector = 'Line7': "
            r"allowed values are Line0, Line1, Line2, Line3",
        ),
        (
            {"gate": {"line": "Line1", "user_output": "UserOutput5"}},
            r"camera IoTestCamera: actuator\.driver\.gate\.user_output: camera feature LineSource = 'UserOutput5': "
            r"allowed values are Off, UserOutput0, UserOutput1, UserOutput2, ExposureActive",
        ),
        (
            {"gate": {"line": "Line0", "user_output": "UserOutput1"}},
            r"actuator\.driver\.gate\.line: camera feature LineMode = 'Output': the feature is not writable "
            r"\(access RO\) \(Line0 cannot be an output on this camera\)",
        ),
    ],
)
def test_a_bad_line_or_user_output_is_named_with_what_the_camera_allows(
    camera: tuple[NodeMap, RegisterPort], changes: dict[str, Any], expected: str
) -> None:
    node_map, _ = camera
    driver = driver_on(node_map, driver_config(**changes))
    with pytest.raises(DriverError, match=expected):
        driver.connect()
    assert not driver.connected


def test_config_refuses_shared_lines_and_names_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(
        '[actuator.driver]\nkind = "genicam"\ngate = { line = "Line1", user_output = "UserOutput1" }\n'
        'line_stop = { line = "Line1", user_output = "UserOutput2" }\n'
        "[actuator.driver.inputs]\nbin_full = { line = 4 }\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.path.startswith("actuator.driver") and issue.path.endswith("inputs.bin_full.line")
    assert "valid string" in issue.message
    path.write_text(path.read_text().replace("line = 4", 'line = "Line3"'), encoding="utf-8")
    with pytest.raises(ConfigFileError, match="line_stop and gate use the same line 'Line1'"):
        load_config(path)


def test_pulse_to_accept_is_refused_for_a_camera_output() -> None:
    """A camera's user output has no pulse timer: a station dying mid-pulse would leave the gate open."""
    with pytest.raises(ValueError, match="a camera's user output is timed by the station"):
        StationConfig.model_validate({"actuator": {"gate": "pulse_to_accept", "driver": driver_config().model_dump()}})


# -- viky, through harvesters: no digital I/O, so the driver refuses at connect ----------------------------------

MISSING = "has no LineSelector, LineMode, LineSource, UserOutputSelector, UserOutputValue features"


@pytest.mark.genicam
def test_an_own_camera_without_io_features_is_refused_naming_camera_and_features() -> None:
    driver = GenicamDriver(driver_config(device={"serial": "1"}))
    with pytest.raises(DriverError, match=rf"camera Machine Vision Games Ltd\. Viky serial 1 via viky\.cti {MISSING}"):
        driver.connect()
    assert not driver.connected


@pytest.mark.genicam
def test_an_unknown_camera_is_named_with_the_cameras_found() -> None:
    driver = GenicamDriver(driver_config(device={"serial": "9"}))
    with pytest.raises(DriverError, match=r"actuator\.driver\.device: no camera with serial '9'; cameras found"):
        driver.connect()


@pytest.mark.genicam
def test_the_acquisition_process_checks_its_camera_and_refuses_without_io_features() -> None:
    """owner = 'acquisition': the check runs where the camera is open, and its answer names the camera."""
    config = driver_config(owner="acquisition", device={"serial": "2"})
    driver = GenicamDriver(config, ViaAcquisition.opener(startup_wait_s=0.2))  # no camera opens meanwhile
    with pytest.raises(DriverError, match="no acquisition process serves its outputs"):
        driver.connect()
    source = GenicamSource(GenicamSourceConfig.model_validate({"device": {"serial": "2"}, "pixel_format": "Mono8"}))
    source.open()
    try:
        with pytest.raises(
            DriverError, match=rf"camera Machine Vision Games Ltd\. Viky serial 2 via viky\.cti {MISSING}"
        ):
            driver.connect()
    finally:
        source.close()
    with pytest.raises(DriverError, match="no acquisition process serves its outputs"):
        driver.connect()  # the closed camera's server is gone with it


@pytest.mark.genicam
def test_writes_through_the_owners_server_land_in_its_node_map(camera: tuple[NodeMap, RegisterPort]) -> None:
    """The routed path end to end: discovery finds the camera, the owner's server writes its node map."""
    node_map, port = camera
    with harvester(producer_files([])) as h:
        device = list_devices(h)[0]
    server = IoServer(device, node_map)  # in the acquisition process this node map is the camera's
    try:
        driver = GenicamDriver(
            driver_config(owner="acquisition", device={"serial": device.serial}, line_stop=LINE_STOP)
        )
        driver.connect()
        assert port.word(LINE_SOURCE, 1) == SOURCE["UserOutput1"]
        driver.write("gate", True)
        assert port.word(USER_OUTPUTS) == 0b010
        driver.write("line_stop", True)
        driver.write("gate", False)
        assert port.word(USER_OUTPUTS) == 0b100
        driver.close()  # the server answers one gate process at a time
        bad_line = r"Viky serial 0 via viky\.cti: actuator\.driver\.gate\.line: camera feature LineSelector = 'Line9'"
        with pytest.raises(DriverError, match=bad_line):
            GenicamDriver(
                driver_config(
                    owner="acquisition",
                    device={"serial": device.serial},
                    gate={"line": "Line9", "user_output": "UserOutput0"},
                )
            ).connect()
        driver.connect()
    finally:
        server.stop()
    with pytest.raises(DriverError, match="the acquisition process is gone"):
        driver.write("gate", True)
    assert not driver.connected


@pytest.mark.genicam
def test_the_first_connect_waits_for_the_owner_that_opens_after_the_gate(camera: tuple[NodeMap, RegisterPort]) -> None:
    """The station starts its gate process before it opens the camera: the first connect must not fail for that."""
    node_map, port = camera
    with harvester(producer_files([])) as h:
        device = list_devices(h)[0]
    driver = GenicamDriver(driver_config(owner="acquisition", device={"serial": device.serial}))
    failures: list[BaseException] = []

    def connect() -> None:
        try:
            driver.connect()
        except BaseException as exc:
            failures.append(exc)

    connecting = threading.Thread(target=connect)
    connecting.start()
    time.sleep(0.3)  # the camera opens later than the gate
    server = IoServer(device, node_map)
    try:
        connecting.join(timeout=20)
        assert failures == []
        assert driver.connected
        driver.write("gate", True)
        assert port.word(USER_OUTPUTS) == 0b010
    finally:
        driver.close()
        server.stop()


@pytest.mark.genicam
def test_a_reject_through_the_gate_process_fails_safe_naming_what_the_station_camera_lacks() -> None:
    """The station's processes as they run: gate process -> socket -> acquisition process of the same camera."""
    source = GenicamSource(GenicamSourceConfig.model_validate({"device": {"serial": "1"}, "pixel_format": "Mono8"}))
    source.open()
    results: list[ActuatorResult] = []
    try:
        driver = driver_config(owner="acquisition", device={"serial": "1"})
        config = ActuatorConfig.model_validate({"lead_ms": 10, "pulse_width_ms": 20, "driver": driver.model_dump()})
        gate = GateProcess(config, results.append, lambda kind, message: None)
        gate.submit(
            ActuatorCommand(
                part_id="p0", action="reject", fire_at_ns=time.monotonic_ns() + 200_000_000, origin="auto", reason="x"
            )
        )
        gate.close(drain_s=1.0)
    finally:
        source.close()
    (result,) = results
    assert result.outcome == "failed"
    assert f"Viky serial 1 via viky.cti {MISSING}" in result.reason
