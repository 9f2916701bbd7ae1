"""The demo driver: no hardware, every output change logged and kept for whoever looks."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from inspection.actuation.driver import InputName, Output

log = logging.getLogger(__name__)


class LoggingDriver:
    device_pulse = False
    has_line_stop = True
    inputs: frozenset[InputName] = frozenset()
    io_timeout_s = 0.0

    def __init__(self, keep: int = 10_000) -> None:
        self.writes: list[tuple[int, Output, bool]] = []  # (monotonic ns, output, on), the last `keep`
        self._keep = keep

    @property
    def connected(self) -> bool:
        return True

    def connect(self) -> None: ...

    def write(self, output: Output, on: bool) -> None:
        self.writes.append((time.monotonic_ns(), output, on))
        if len(self.writes) > self._keep:
            del self.writes[: self._keep // 2]
        log.info("gate output %s %s", output, "on" if on else "off")

    def read_inputs(self) -> Mapping[InputName, bool]:
        return {}

    def close(self) -> None: ...
