"""Modbus TCP gate driver: pymodbus's sync client, one short request per write, used by one thread only."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from inspection.actuation.driver import INPUTS, DriverError, InputName, Output
from inspection.config.actuation import ModbusDriverConfig, ModbusInput, ModbusOutput

log = logging.getLogger(__name__)


class ModbusDriver:
    def __init__(self, config: ModbusDriverConfig) -> None:
        self.config = config
        self.device_pulse = config.output_mode == "pulse"
        self.has_line_stop = config.line_stop is not None
        self.io_timeout_s = config.timeout_s
        wired = {name: getattr(config.inputs, name) for name in INPUTS}
        self._inputs: dict[InputName, ModbusInput] = {name: spec for name, spec in wired.items() if spec is not None}
        self.inputs: frozenset[InputName] = frozenset(self._inputs)
        # retries=0: a late pulse is worse than a failed one, which is alarmed and recorded at once.
        self._client = ModbusTcpClient(
            config.host, port=config.port, timeout=config.timeout_s, retries=0, reconnect_delay=0
        )
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        try:
            ok = self._client.connect()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
        except (ModbusException, OSError) as exc:
            ok = False
            log.debug("modbus connect failed: %s", exc)
        if not ok:
            self._client.close()  # type: ignore[no-untyped-call]
            raise DriverError(f"cannot connect to modbus {self.config.host}:{self.config.port}")
        self._connected = True

    def write(self, output: Output, on: bool) -> None:
        target = {"gate": self.config.gate, "line_stop": self.config.line_stop, "divert": self.config.divert}[output]
        if target is None:  # not wired: the scheduler plans no divert without one, and a line stop is optional
            return
        self._write(target, on)

    def read_inputs(self) -> Mapping[InputName, bool]:
        return {name: self._read(spec) == spec.active_when for name, spec in self._inputs.items()}

    def read_counter(self, address: int, high_first: bool) -> int:
        """A 32-bit counter from two input registers (an encoder position); raises DriverError."""
        self._require()
        try:
            reply = self._client.read_input_registers(address, count=2, device_id=self.config.unit_id)
        except (ModbusException, OSError) as exc:
            raise self._lost(f"reading input registers {address}-{address + 1}: {exc}") from exc
        if reply.isError():
            raise DriverError(f"reading input registers {address}-{address + 1}: the device answered {reply}")
        high, low = reply.registers if high_first else reversed(reply.registers)
        return (high << 16) | low

    def close(self) -> None:
        self._connected = False
        self._client.close()  # type: ignore[no-untyped-call]

    def _write(self, target: ModbusOutput, on: bool) -> None:
        unit = self.config.unit_id
        self._require()
        try:
            if target.table == "coil":
                reply = self._client.write_coil(target.address, on, device_id=unit)
            else:
                reply = self._client.write_register(target.address, target.on_value if on else 0, device_id=unit)
        except (ModbusException, OSError) as exc:
            raise self._lost(f"writing {target.table} {target.address}: {exc}") from exc
        if reply.isError():
            raise DriverError(f"writing {target.table} {target.address}: the device answered {reply}")

    def _read(self, spec: ModbusInput) -> bool:
        unit = self.config.unit_id
        self._require()
        try:
            if spec.table == "coil":
                reply = self._client.read_coils(spec.address, count=1, device_id=unit)
            else:
                reply = self._client.read_discrete_inputs(spec.address, count=1, device_id=unit)
        except (ModbusException, OSError) as exc:
            raise self._lost(f"reading {spec.table} {spec.address}: {exc}") from exc
        if reply.isError():
            raise DriverError(f"reading {spec.table} {spec.address}: the device answered {reply}")
        return bool(reply.bits[0])

    def _require(self) -> None:
        if not self._connected:
            raise DriverError(f"not connected to modbus {self.config.host}:{self.config.port}")

    def _lost(self, what: str) -> DriverError:
        self.close()
        return DriverError(what)
