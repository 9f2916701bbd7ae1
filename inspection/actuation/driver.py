"""The one interface every gate driver offers, and what it raises when the plant cannot be reached."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

Output = Literal["gate", "line_stop", "divert"]  # divert: optional, configured apart from the gate
InputName = Literal["reject_confirmation", "bin_full", "bin_open", "low_air"]
FAULT_INPUTS: tuple[InputName, ...] = ("bin_full", "bin_open", "low_air")
INPUTS: tuple[InputName, ...] = ("reject_confirmation", *FAULT_INPUTS)


class DriverError(Exception):
    """The output or input could not be reached; the driver is disconnected until `connect` succeeds."""


class GateDriver(Protocol):
    device_pulse: bool  # True: the device times the gate pulse; the station writes 'on' only
    has_line_stop: bool
    inputs: frozenset[InputName]  # the inputs this driver has configured
    io_timeout_s: float  # the longest one write, read or connect may take

    @property
    def connected(self) -> bool: ...

    def connect(self) -> None:
        """Raises DriverError; called by the scheduler in its idle time, with back-off."""

    def write(self, output: Output, on: bool) -> None:
        """Raises DriverError (and is then disconnected)."""

    def read_inputs(self) -> Mapping[InputName, bool]:
        """Each configured input: True when active (seen, or fault present). Raises DriverError."""
        ...

    def close(self) -> None: ...


class Backoff:
    """Reconnect attempts: the first after `first_s`, doubling up to `longest_s`, reset by a success."""

    def __init__(self, first_s: float, longest_s: float) -> None:
        self.first_ns = round(first_s * 1e9)
        self.longest_ns = round(longest_s * 1e9)
        self._wait_ns = self.first_ns
        self.next_ns = 0

    def failed(self, now_ns: int) -> None:
        self.next_ns = now_ns + self._wait_ns
        self._wait_ns = min(self._wait_ns * 2, self.longest_ns)

    def succeeded(self) -> None:
        self._wait_ns = self.first_ns
        self.next_ns = 0
