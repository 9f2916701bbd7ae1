"""One opened GenICam camera: harvester, acquirer and applied features, set up and torn down as a whole."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camera.genicam.accounting import FrameIds, Missing
from camera.genicam.discovery import DeviceInfo, harvester, list_devices, select_device
from camera.genicam.features import apply_features
from camera.genicam.pixels import Layout, layout_of, output_shape
from camera.genicam.pixels import convert as convert_pixels
from camera.genicam.ring import Geometry
from inspection.config.camera import GenicamSourceConfig
from inspection.errors import CameraError

NATIVE_WAIT_MS = 10
# While a GenICam gate driver writes this camera's outputs through this process (a thread beside the
# fetch loop), the fetch must leave the GIL sooner: benchmarks/genicam_output_latency.py measured it.
GATE_NATIVE_WAIT_MS = 1
GATE_SWITCH_INTERVAL_S = 0.0005
DEFAULT_SWITCH_INTERVAL_S = sys.getswitchinterval()


@dataclass(frozen=True, slots=True)
class Opened:
    device: DeviceInfo
    features: dict[str, str]  # node-map values after configuration, for the trace record
    geometry: Geometry


@dataclass(frozen=True, slots=True)
class Fetched:
    """One buffer taken from the producer (and already requeued): a frame in `out`, or why not."""

    frame_id: int
    host_ns: int
    device_ns: int | None
    missing: Missing | None  # frames lost before this one
    problem: str | None = None  # this buffer held no usable frame


class DeviceSession:
    """Every harvesters call the station makes goes through here, always with a timeout."""

    def __init__(self, config: GenicamSourceConfig, producers: list[Path]) -> None:
        self.config = config
        self.producers = producers
        self.ids = FrameIds()
        self._stack = ExitStack()
        self._acquirer: Any = None
        self._layout: Layout | None = None
        self._expected: tuple[str, int, int] = ("", 0, 0)

    def open(self) -> Opened:
        from harvesters.core import Callback, ImageAcquirer  # noqa: PLC0415 - native layer, child process only

        try:
            h = self._stack.enter_context(harvester(self.producers))
            devices = list_devices(h)
            index = select_device(devices, self.config.device)
            self._acquirer = h.create(index)
            self._stack.callback(self._acquirer.destroy)
            self._acquirer.num_buffers = self.config.buffers
            # harvesters waits in 1 ms native slices and raises (and catches) a timeout exception after
            # each: ~5 per frame at 200 fps, a fifth of a core. 10 ms slices keep commands (a software
            # trigger, stop) answered within 10 ms at a fraction of the cost.
            self._acquirer.timeout_period_on_update_event_data_call = NATIVE_WAIT_MS
            node_map = self._acquirer.remote_device.node_map
            features = apply_features(node_map, self.config)
            pixel_format = str(node_map.PixelFormat.value)
            width, height = int(node_map.Width.value), int(node_map.Height.value)
            try:
                self._layout = layout_of(pixel_format)
            except ValueError as exc:
                raise CameraError(f"camera pixel format: {exc}") from exc
        except BaseException:
            self.close()
            raise
        ids = self.ids

        class CountIncomplete(Callback):  # type: ignore[misc] # harvesters is untyped
            def emit(self, context: object = None) -> None:
                ids.incomplete += 1

        self._acquirer.add_callback(ImageAcquirer.Events.INCOMPLETE_BUFFER, CountIncomplete())
        self._expected = (pixel_format, width, height)
        geometry = Geometry(
            output_shape(self._layout, height, width), np.dtype(self._layout.out_dtype).str, self._layout.out_format
        )
        return Opened(devices[index], features, geometry)

    def serve_gate(self, attached: bool) -> None:
        """Shorter native waits and GIL turns while a gate is attached: its writes wait less, fetch costs more CPU."""
        if self._acquirer is not None:
            self._acquirer.timeout_period_on_update_event_data_call = (
                GATE_NATIVE_WAIT_MS if attached else NATIVE_WAIT_MS
            )
        sys.setswitchinterval(GATE_SWITCH_INTERVAL_S if attached else DEFAULT_SWITCH_INTERVAL_S)

    @property
    def node_map(self) -> Any:
        """The opened camera's node map (for the output-write server beside acquisition)."""
        return self._acquirer.remote_device.node_map

    def start(self) -> None:
        self.ids.reset()
        self._acquirer.start()
        if self.config.trigger.mode != "free_run":
            self.flush()

    def flush(self) -> int:
        """Requeues frames left over from before arming, so a trigger's frame is the next one."""
        stale = 0
        while (buffer := self._acquirer.try_fetch(timeout=0.001)) is not None:
            buffer.queue()
            stale += 1
        self.ids.reset()
        return stale

    def trigger(self) -> None:
        self._acquirer.remote_device.node_map.TriggerSoftware.execute()

    def stop(self) -> None:
        self._acquirer.stop()

    def fetch(self, timeout_s: float, out: np.ndarray) -> Fetched | None:
        """Waits at most `timeout_s` for a buffer, converts it into `out` and requeues it at once."""
        buffer = self._acquirer.try_fetch(timeout=timeout_s)
        if buffer is None:
            return None
        with buffer:  # requeued on exit: nothing may keep a view of its memory
            host_ns = time.monotonic_ns()
            frame_id = int(buffer.module.frame_id)
            missing = self.ids.see(frame_id)
            device_ns = _device_timestamp(buffer)
            components = buffer.payload.components
            if not components:
                return Fetched(frame_id, host_ns, device_ns, missing, "buffer holds no image component")
            image = components[0]
            got = (str(image.data_format), int(image.width), int(image.height))
            if got != self._expected:
                problem = f"buffer is {got[0]} {got[1]}x{got[2]}, configured {'{} {}x{}'.format(*self._expected)}"
                return Fetched(frame_id, host_ns, device_ns, missing, problem)
            assert self._layout is not None
            convert_pixels(image.data, self._layout, got[2], got[1], out)
        return Fetched(frame_id, host_ns, device_ns, missing)

    def close(self) -> None:
        """Releases acquirer and producers; safe to call on a half-open or broken session."""
        acquirer, self._acquirer = self._acquirer, None
        if acquirer is not None:
            with suppress(Exception):
                acquirer.stop()
        with suppress(Exception):
            self._stack.close()


def _device_timestamp(buffer: Any) -> int | None:
    try:
        return int(buffer.module.timestamp_ns)
    except Exception:
        return None
