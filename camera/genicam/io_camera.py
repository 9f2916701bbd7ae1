"""A GenICam camera with digital I/O, in memory: a real GenApi node map over a register space.

viky, the bundled producer, has no Line or UserOutput features. `io_camera.xml` describes a camera
that has them (SFNC LineSelector, LineMode, LineInverter, LineSource, LineStatus,
UserOutputSelector, UserOutputValue, backed by registers); the genicam wheel's own `NodeMap` loads
it and connects it to a port over a bytearray, as harvesters connects a real device's port. Tests
and benchmarks of the camera-output gate driver write to it.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

from genicam.genapi import AbstractPort, EAccessMode, NodeMap

DESCRIPTION = Path(__file__).with_name("io_camera.xml")
LINE_MODE, LINE_INVERTER, LINE_SOURCE, LINE_STATUS = 0x2000, 0x2100, 0x2200, 0x2300  # one 32-bit word per line
USER_OUTPUTS = 0x4000  # bit n: UserOutput n


class RegisterPort(AbstractPort):  # type: ignore[misc]  # genicam's SWIG classes are untyped
    """The camera's register space; every write kept as (monotonic ns, address, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.memory = bytearray(0x5000)
        self.writes: list[tuple[int, int, int]] = []
        self.unplugged = False  # True: every write fails, as a camera that stopped answering

    def is_open(self) -> bool:
        return True

    def get_access_mode(self) -> Any:
        return EAccessMode.RW

    def read(self, address: int, length: int) -> bytes:
        return bytes(self.memory[address : address + length])

    def write(self, address: int, value: bytes) -> None:
        if self.unplugged:
            raise OSError("the camera does not answer")
        self.memory[address : address + len(value)] = value
        self.writes.append((time.monotonic_ns(), address, int.from_bytes(value, "little")))

    def word(self, address: int, line: int = 0) -> int:
        return int(struct.unpack_from("<I", self.memory, address + 4 * line)[0])

    def outputs(self) -> list[int]:
        """Every value written to the user-output register, in order."""
        return [value for _, address, value in self.writes if address == USER_OUTPUTS]

    def output_times(self) -> list[int]:
        """When each of those writes landed (monotonic ns: one clock for every process)."""
        return [t for t, address, _ in self.writes if address == USER_OUTPUTS]


def io_camera() -> tuple[NodeMap, RegisterPort]:
    """A connected node map and its port; `node_map.disconnect()` when done."""
    node_map = NodeMap()
    node_map.load_xml_from_file(str(DESCRIPTION))
    port = RegisterPort()
    node_map.connect(port, "Device")
    return node_map, port
