"""A simulated PLC on loopback: pymodbus's Modbus TCP server in its own thread and event loop.

Shipped with the package (as httpx ships its mock transport) so tests, the gate-timing benchmark
and commissioning dry runs all use the same stand-in. Every write is timestamped on arrival
(`time.monotonic_ns`, the station's clock on the same machine). It can time pulses itself, as a
device in `output_mode = "pulse"` does, play a reject bin that confirms each reject, and serve a
32-bit encoder counter from two input registers (read from a callable at each request, so a test's
simulated belt moves it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

BITS = 256  # coils and discrete inputs 0..255
READ_COILS, READ_DISCRETE, READ_INPUT_REGISTERS = 1, 2, 4
WRITE_COIL, WRITE_REGISTER, WRITE_COILS, WRITE_REGISTERS = 5, 6, 15, 16


@dataclass(frozen=True, slots=True)
class Write:
    ns: int  # time.monotonic_ns when the server handled it
    table: str  # "coil" or "holding_register"
    address: int
    value: int


class SimPlc:
    """`start()` listens on 127.0.0.1:`port` (0 picks one, kept across `stop()`/`start()`)."""

    def __init__(
        self,
        port: int = 0,
        *,
        device_pulse: tuple[int, float] | None = None,
        confirm: tuple[int, int, float] | None = None,
    ) -> None:
        """device_pulse: (coil, seconds) the device resets that coil after; confirm: (coil, input, delay s)."""
        self.port = port
        self.writes: list[Write] = []
        self.coils: dict[int, bool] = {}
        self.inputs: dict[int, bool] = {}
        self.counters: dict[int, tuple[Callable[[], int], bool]] = {}  # first register -> (value, high_first)
        self.device_pulse = device_pulse
        self.confirm = confirm
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SimPlc:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="sim-plc", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the simulated PLC did not start")
        return self

    def stop(self) -> None:
        """Closes the listener and every connection, as a PLC that dies does."""
        if self._loop is None or self._server is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)  # type: ignore[no-untyped-call]
        self._thread.join(5)
        self._loop = self._server = self._thread = None

    def rising(self, address: int) -> list[int]:
        """Arrival times of every write that turned `address` on (coil True or register non-zero)."""
        return [w.ns for w in list(self.writes) if w.address == address and w.value]

    def set_input(self, address: int, value: bool) -> None:
        self.inputs[address] = value

    def counter(self, address: int, value: Callable[[], int], *, high_first: bool = True) -> None:
        """Input registers `address` and `address + 1` hold `value() % 2**32`, in that word order."""
        self.counters[address] = (value, high_first)

    # -- the server's thread ---------------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        loop.run_until_complete(self._main(ready))
        loop.close()

    async def _main(self, ready: threading.Event) -> None:
        blocks = (
            [SimData(0, count=BITS, values=False, datatype=DataType.BITS)],
            [SimData(0, count=BITS, values=False, datatype=DataType.BITS)],
            [SimData(0, count=BITS, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=BITS, values=0, datatype=DataType.REGISTERS)],
        )
        device = SimDevice(id=0, simdata=blocks, action=self._action)  # id 0: answers every unit id
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        listener = self._server.transport
        if self.port == 0 and isinstance(listener, asyncio.Server):
            self.port = int(listener.sockets[0].getsockname()[1])
        ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._server.serving

    async def _action(  # noqa: PLR0917 - pymodbus's hook signature
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> None:
        now = time.monotonic_ns()
        if values is not None and function_code in (WRITE_COIL, WRITE_COILS):
            for offset, value in enumerate(values):
                self._coil(now, address + offset, bool(value))
        elif values is not None and function_code in (WRITE_REGISTER, WRITE_REGISTERS):
            for offset, value in enumerate(values):
                self.writes.append(Write(now, "holding_register", address + offset, int(value)))
        elif function_code == READ_INPUT_REGISTERS:
            for first, (read, high_first) in self.counters.items():
                raw = read() % 2**32
                words = (raw >> 16, raw & 0xFFFF) if high_first else (raw & 0xFFFF, raw >> 16)
                for offset, word in enumerate(words):
                    if 0 <= (register := first + offset - start_address) < len(registers):
                        registers[register] = word
        elif function_code in (READ_COILS, READ_DISCRETE):
            state = self.coils if function_code == READ_COILS else self.inputs
            for i in range(len(registers)):
                registers[i] = 0
            for bit, on in state.items():
                register = bit // 16 - start_address
                if on and 0 <= register < len(registers):
                    registers[register] |= 1 << (bit % 16)

    def _coil(self, now: int, address: int, on: bool) -> None:
        self.writes.append(Write(now, "coil", address, int(on)))
        self.coils[address] = on
        loop = self._loop
        if not on or loop is None:
            return
        if self.device_pulse is not None and self.device_pulse[0] == address:
            loop.call_later(self.device_pulse[1], self.coils.__setitem__, address, False)
        if self.confirm is not None and self.confirm[0] == address:
            _, bin_input, delay_s = self.confirm
            loop.call_later(delay_s, self.inputs.__setitem__, bin_input, True)
            loop.call_later(delay_s + 0.03, self.inputs.__setitem__, bin_input, False)
