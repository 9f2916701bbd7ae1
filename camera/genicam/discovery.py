"""Finding GenTL producers and the cameras behind them, and picking the configured one."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspection.config.camera import DeviceSelector
from inspection.errors import CameraError

if TYPE_CHECKING:
    from harvesters.core import Harvester

ENV_PATH = "GENICAM_GENTL64_PATH"


def bundled_producer() -> Path:
    """`viky.cti`, the virtual-camera producer inside the genicam wheel: the demo's and the tests' camera."""
    import genicam  # noqa: PLC0415 - heavy native module, needed only when a camera is used

    return Path(genicam.__file__).parent / "viky.cti"


def producer_files(configured: Sequence[Path], env: Mapping[str, str] | None = None) -> list[Path]:
    """Configured producers first, then those in GENICAM_GENTL64_PATH, then the bundled one; no duplicates."""
    env = os.environ if env is None else env
    from_env = [
        cti
        for folder in env.get(ENV_PATH, "").split(os.pathsep)
        if folder and Path(folder).is_dir()
        for cti in sorted(Path(folder).glob("*.cti"))
    ]
    for path in configured:
        if not path.is_file():
            known = [str(p) for p in [*from_env, bundled_producer()] if p.is_file()]
            raise CameraError(
                f"GenTL producer {path} does not exist; producers found on this machine: "
                f"{', '.join(known) or 'none'}. Fix camera.producers or install the camera vendor's GenTL producer."
            )
    unique: dict[Path, None] = {}
    for path in [*configured, *from_env, bundled_producer()]:
        if path.is_file():
            unique.setdefault(path.resolve(), None)
    return list(unique)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    producer: str
    vendor: str
    model: str
    serial: str
    user_name: str
    device_id: str

    def describe(self) -> str:
        name = f" '{self.user_name}'" if self.user_name else ""
        return f"{self.vendor} {self.model} serial {self.serial}{name} via {Path(self.producer).name}"


@contextmanager
def harvester(producers: Sequence[Path]) -> Iterator[Harvester]:
    """A Harvester with the producers loaded and devices discovered; reset (everything released) on exit."""
    from harvesters.core import Harvester  # noqa: PLC0415 - loads the GenTL native layer

    h = Harvester()
    try:
        for path in producers:
            h.add_file(str(path), check_validity=True)
        h.update()
        yield h
    finally:
        h.reset()


def list_devices(h: Harvester) -> list[DeviceInfo]:
    return [_device_info(info) for info in h.device_info_list]


def _device_info(info: Any) -> DeviceInfo:
    props = info.property_dict  # attribute access raises for properties the producer does not implement
    try:
        producer = str(info.parent.parent.id_)
    except Exception:
        producer = "?"
    return DeviceInfo(
        producer=producer,
        vendor=str(props.get("vendor") or ""),
        model=str(props.get("model") or ""),
        serial=str(props.get("serial_number") or ""),
        user_name=str(props.get("user_defined_name") or ""),
        device_id=str(props.get("id_") or ""),
    )


def select_device(devices: Sequence[DeviceInfo], selector: DeviceSelector) -> int:
    """Index of the configured camera in `devices`; an error listing every camera when it is not there."""
    for field, value in (("serial", selector.serial), ("user_name", selector.user_name), ("model", selector.model)):
        if value is not None:
            for index, device in enumerate(devices):
                if getattr(device, field) == value:
                    return index
            raise CameraError(f"no camera with {field} {value!r}; {_available(devices)}")
    if selector.index >= len(devices):
        raise CameraError(f"no camera at index {selector.index}; {_available(devices)}")
    return selector.index


def _available(devices: Sequence[DeviceInfo]) -> str:
    if not devices:
        return "no cameras were found (is the camera powered and its GenTL producer listed in camera.producers?)"
    return "cameras found: " + "; ".join(f"[{i}] {d.describe()}" for i, d in enumerate(devices))
