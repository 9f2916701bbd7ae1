"""GenICam gate driver: a camera's output line (LineSource = UserOutputN) set and reset by the station.

Where the writes happen. A GigE Vision camera grants control access to one application (its CCP
register) and a USB3 Vision camera is claimed by one process, so a second process cannot write the
outputs of the camera the station acquires from. viky, the bundled virtual camera, does not show
this: a second process opening the same device, even with exclusive access, gets a fresh and
independent simulation of it (its Width is the default, not the first process's), so it proves
nothing about hardware. Hence `owner`:
- `acquisition` (default): the camera is the station's own; the acquisition process, which holds
  it, serves the writes (genicam_server.py) and this driver sends each one there over a Unix
  socket found from the device's identity. The server is a thread beside the fetch loop and needs
  the GIL, which harvesters' fetch holds in long native waits: `benchmarks/genicam_output_latency.py`
  measured call-to-register p50 / p99 / max at ~190 fps 1.5-3.8 / 13-15 / 32-37 ms with the loop
  as it was (8.8 / 31 / 40 ms at 50 fps), and 1.4-1.5 / 6.4 / 9.5-16 ms (1.5 / 4.7 / 6.6 at 50 fps)
  with the shorter native waits and GIL turns the acquisition process switches to while a gate is
  attached (+5% of a core), against 0.15-0.17 / 0.36-0.44 / 0.9-1.1 ms in-process. Where the gate
  must be tight (the 2 ms firing target), use a PLC or an I/O-only camera with owner = 'gate'.
- `gate`: an I/O-only camera nothing else opens; the gate process opens it and writes directly.
The gate process (process.py) times the pulses in both cases; only the node writes move. The station
times the pulse (set, then reset after pulse_width_ms): a user output has no pulse timer of its own,
so pulse_to_accept, which needs a device-timed pulse, is refused by the config.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack, suppress
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any, Protocol, TypeVar

from camera.genicam.discovery import DeviceInfo, harvester, list_devices, producer_files, select_device
from inspection.actuation.driver import INPUTS, DriverError, InputName, Output
from inspection.actuation.genicam_io import IoLines
from inspection.actuation.genicam_server import io_address
from inspection.config.actuation import GenicamDriverConfig
from inspection.errors import CameraError

T = TypeVar("T")
STARTUP_WAIT_S = 10.0  # the camera's open (discovery, features, acquisition process) comes after the gate's start
CONFIGURE_TIMEOUT_S = 5.0  # checking and setting every line: a dozen node accesses, each a GenTL round trip


class Lines(Protocol):
    def write(self, output: str, on: bool) -> None: ...
    def read_inputs(self) -> Mapping[InputName, bool]: ...
    def close(self) -> None: ...


class GenicamDriver:
    device_pulse = False

    def __init__(
        self, config: GenicamDriverConfig, opener: Callable[[GenicamDriverConfig], Lines] | None = None
    ) -> None:
        """opener: reaches the camera's configured lines; by default as `owner` says."""
        self.config = config
        self._open = opener or (OwnCamera.open if config.owner == "gate" else ViaAcquisition.opener())
        self.has_line_stop = config.line_stop is not None
        self.inputs: frozenset[InputName] = frozenset(n for n in INPUTS if getattr(config.inputs, n) is not None)
        self.io_timeout_s = config.timeout_s
        self._lines: Lines | None = None

    @property
    def connected(self) -> bool:
        return self._lines is not None

    def connect(self) -> None:
        """Opens (or reaches) the camera and checks and configures every line; raises DriverError naming it.

        Nothing else may escape: the scheduler reconnects from its own thread, which must survive a
        GenTL error as it survives a refused connection.
        """
        self.close()
        try:
            self._lines = self._open(self.config)
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(f"camera {describe_selector(self.config)}: {type(exc).__name__}: {exc}") from exc

    def write(self, output: Output, on: bool) -> None:
        self._call(lambda lines: lines.write(output, on))

    def read_inputs(self) -> Mapping[InputName, bool]:
        if not self.inputs:
            return {}
        return self._call(lambda lines: lines.read_inputs())

    def close(self) -> None:
        lines, self._lines = self._lines, None
        if lines is not None:
            lines.close()

    def _call(self, action: Callable[[Lines], T]) -> T:
        if self._lines is None:
            raise DriverError(f"not connected to camera {describe_selector(self.config)}")
        try:
            return action(self._lines)
        except Exception as exc:
            self.close()
            if isinstance(exc, DriverError):
                raise
            raise DriverError(f"camera {describe_selector(self.config)}: {type(exc).__name__}: {exc}") from exc


def find_camera(config: GenicamDriverConfig) -> tuple[ExitStack, Any, int, DeviceInfo]:
    """The configured camera in a harvester whose release is on the returned stack; raises DriverError."""
    stack = ExitStack()
    try:
        h = stack.enter_context(harvester(producer_files(config.producers)))
        devices = list_devices(h)
        index = select_device(devices, config.device)
    except CameraError as exc:
        stack.close()
        raise DriverError(f"actuator.driver.device: {exc}") from exc
    except BaseException:
        stack.close()
        raise
    return stack, h, index, devices[index]


class OwnCamera:
    """owner = 'gate': the gate process opens the camera and writes its node map itself."""

    def __init__(self, stack: ExitStack, lines: IoLines) -> None:
        self._stack = stack
        self._lines = lines

    @classmethod
    def open(cls, config: GenicamDriverConfig) -> OwnCamera:
        stack, h, index, device = find_camera(config)
        try:
            try:
                acquirer = h.create(index)
            except Exception as exc:
                raise DriverError(
                    f"camera {device.describe()} cannot be opened ({type(exc).__name__}: {exc}): another process "
                    "holds it; if that is the station's acquisition, set actuator.driver.owner = 'acquisition'"
                ) from exc
            stack.callback(acquirer.destroy)
            lines = IoLines(acquirer.remote_device.node_map, config, device.describe())
            lines.configure()
        except BaseException:
            stack.close()
            raise
        return cls(stack, lines)

    def write(self, output: str, on: bool) -> None:
        self._lines.write(output, on)

    def read_inputs(self) -> Mapping[InputName, bool]:
        return self._lines.read_inputs()

    def close(self) -> None:
        with suppress(Exception):
            self._stack.close()


class ViaAcquisition:
    """owner = 'acquisition': each write is a request to the acquisition process that holds the camera."""

    def __init__(self, conn: Connection, camera: str, timeout_s: float) -> None:
        self._conn = conn
        self.camera = camera
        self._timeout_s = timeout_s

    @classmethod
    def opener(cls, startup_wait_s: float = STARTUP_WAIT_S) -> Callable[[GenicamDriverConfig], ViaAcquisition]:
        """Discovers the camera once (on GigE that waits for every camera's answer); its identity does not change."""
        found: list[DeviceInfo] = []

        def open_lines(config: GenicamDriverConfig) -> ViaAcquisition:
            if not found:
                stack, _, _, device = find_camera(config)  # discovery only: the camera stays with its owner
                stack.close()
                found.append(device)
                # The station starts its gate before it opens the camera: the first connect waits for the
                # owner's server instead of failing into a back-off that would fail the first parts.
                wait_for(io_address(device), startup_wait_s)
            return cls.open(config, found[0])

        return open_lines

    @classmethod
    def open(cls, config: GenicamDriverConfig, device: DeviceInfo) -> ViaAcquisition:
        try:
            conn = Client(str(io_address(device)), family="AF_UNIX")
        except OSError as exc:
            raise DriverError(
                f"camera {device.describe()}: no acquisition process serves its outputs ({exc}); with "
                "actuator.driver.owner = 'acquisition' it must be the [camera] the station acquires from "
                "(kind = 'genicam'), and the camera must be open"
            ) from exc
        via = cls(conn, device.describe(), config.timeout_s)
        try:
            via._request({"op": "configure", "config": config.model_dump_json()}, CONFIGURE_TIMEOUT_S)
        except BaseException:
            via.close()
            raise
        return via

    def write(self, output: str, on: bool) -> None:
        self._request({"op": "write", "output": output, "on": on}, self._timeout_s)

    def read_inputs(self) -> Mapping[InputName, bool]:
        reply = self._request({"op": "read"}, self._timeout_s)
        return {name: bool(value) for name, value in reply["inputs"].items() if name in INPUTS}

    def close(self) -> None:
        with suppress(OSError):
            self._conn.close()

    def _request(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        try:
            self._conn.send_bytes(json.dumps(request).encode())
            if not self._conn.poll(timeout_s):
                raise DriverError(
                    f"camera {self.camera}: the acquisition process did not answer in {timeout_s:g} s "
                    "(it serves one gate process at a time: is another station's gate connected?)"
                )
            reply: dict[str, Any] = json.loads(self._conn.recv_bytes())
        except (EOFError, OSError) as exc:
            raise DriverError(f"camera {self.camera}: the acquisition process is gone ({exc or 'closed'})") from exc
        if "error" in reply:
            raise DriverError(str(reply["error"]))
        return reply


def describe_selector(config: GenicamDriverConfig) -> str:
    device = config.device
    for field in ("serial", "user_name", "model"):
        if (value := getattr(device, field)) is not None:
            return f"with {field} {value!r}"
    return f"at index {device.index}"


def wait_for(path: Path, timeout_s: float) -> None:
    """Until `path` exists or `timeout_s` passes (then the connect that follows names what is missing)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
