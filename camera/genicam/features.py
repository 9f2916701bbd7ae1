"""Reading and writing node-map features: in a defined order, with errors that say what is allowed.

GenICam rejects a Width that does not fit the current offset, an exposure beyond what the frame
rate permits, and so on; the order below (format, geometry, exposure, gain, rate, trigger) is the
one in which each setting's limits no longer depend on a later one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from inspection.config.camera import FeatureValue, GenicamSourceConfig
from inspection.errors import CameraError

ACCESS = {0: "NI", 1: "NA", 2: "WO", 3: "RO", 4: "RW"}
INVISIBLE = 3
SKIPPED_TYPES = {"ICategory", "IEnumEntry", "IPort", "IRegister", "IValue", "IBase", "ISelector"}
TRIGGER_SOURCE = {"software": "Software"}

Node = Any  # genicam.genapi.I* proxies are untyped SWIG objects
NodeMap = Any


@dataclass(frozen=True, slots=True)
class FeatureInfo:
    name: str
    type: str
    access: str
    value: str
    allowed: str
    unit: str


def feature_requests(config: GenicamSourceConfig) -> list[tuple[str, FeatureValue]]:
    """The configured settings as node-map writes, in the order they must be applied."""
    requests: list[tuple[str, FeatureValue | None]] = [("PixelFormat", config.pixel_format)]
    if config.offset_x is not None or config.width is not None:
        requests.append(("OffsetX", 0))  # so that any width fits before the real offset is set
    if config.offset_y is not None or config.height is not None:
        requests.append(("OffsetY", 0))
    requests += [
        ("Width", config.width),
        ("Height", config.height),
        ("OffsetX", config.offset_x),
        ("OffsetY", config.offset_y),
        ("ExposureTime", config.exposure_us),
        ("Gain", config.gain_db),
        ("AcquisitionFrameRate", config.frame_rate_hz),
    ]
    trigger = config.trigger
    if trigger.mode != "free_run":
        requests += [("TriggerSelector", "FrameStart"), ("TriggerMode", "On")]
        requests.append(("TriggerSource", TRIGGER_SOURCE.get(trigger.mode, trigger.line)))
        if trigger.mode == "hardware":
            requests.append(("TriggerActivation", trigger.activation))
    requests += list(config.features.items())
    return [(name, value) for name, value in requests if value is not None]


def apply_features(node_map: NodeMap, config: GenicamSourceConfig) -> dict[str, str]:
    """Writes every configured feature and returns the values read back, for the trace record."""
    has_trigger = node_map.has_node("TriggerMode")
    if config.trigger.mode != "free_run" and not has_trigger:
        raise CameraError(
            f"camera.trigger.mode is {config.trigger.mode!r} but this camera has no trigger features "
            "(no TriggerMode node); use camera.trigger.mode = 'free_run'"
        )
    if config.trigger.mode == "free_run" and has_trigger and _writable(node_map.get_node("TriggerMode")):
        set_feature(node_map, "TriggerMode", "Off")
    applied: dict[str, str] = {}
    for name, value in feature_requests(config):
        if name in ("OffsetX", "OffsetY") and value == 0 and not node_map.has_node(name):
            continue  # the geometry reset is a courtesy; a camera without offsets needs none
        if name == "AcquisitionFrameRate" and node_map.has_node("AcquisitionFrameRateEnable"):
            set_feature(node_map, "AcquisitionFrameRateEnable", True)
        applied[name] = set_feature(node_map, name, value)
    return snapshot(node_map, [*applied, "PixelFormat", "Width", "Height", "AcquisitionFrameRate", "TriggerMode"])


def snapshot(node_map: NodeMap, names: list[str]) -> dict[str, str]:
    return {name: _value_text(node_map.get_node(name)) for name in dict.fromkeys(names) if _readable(node_map, name)}


def set_feature(node_map: NodeMap, name: str, value: FeatureValue) -> str:
    """Sets one feature, checking type, access and range first so that the error can say what is allowed."""
    if not node_map.has_node(name):
        raise CameraError(f"camera feature {name!r} does not exist on this camera{_similar(node_map, name)}")
    node = node_map.get_node(name)
    kind = type(node).__name__
    where = f"camera feature {name} = {value!r}"
    if not _writable(node):
        raise CameraError(f"{where}: the feature is not writable (access {_access(node)})")
    if kind == "ICommand":
        if value is not True:
            raise CameraError(f"{where}: {name} is a command; write true to execute it")
        node.execute()
        return "executed"
    problem = _check(node, kind, value)
    if problem:
        raise CameraError(f"{where}: {problem}")
    try:
        node.value = value
    except Exception as exc:
        raise CameraError(f"{where}: the camera refused it: {exc}") from exc
    return _value_text(node)


def _check(node: Node, kind: str, value: FeatureValue) -> str | None:
    match kind:
        case "IEnumeration":
            choices = [str(s) for s in node.symbolics]
            return None if value in choices else f"allowed values are {', '.join(choices)}"
        case "IInteger" | "IFloat":
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not numeric or (kind == "IInteger" and not isinstance(value, int)):
                return f"expected {'an integer' if kind == 'IInteger' else 'a number'}"
            if not node.min <= value <= node.max:
                return f"allowed range is {_range(node)}"
            if kind == "IInteger" and node.inc > 1 and (value - node.min) % node.inc:
                return f"allowed range is {_range(node)}; the value must be a step of {node.inc} from {node.min}"
        case "IBoolean":
            return None if isinstance(value, bool) else "expected true or false"
        case "IString":
            return None if isinstance(value, str) else "expected a string"
    return None


def describe_features(node_map: NodeMap, *, include_invisible: bool = False) -> list[FeatureInfo]:
    """Every feature node with its value and what may be written, for `inspection camera features`."""
    features = []
    for node in node_map.nodes:
        kind = type(node).__name__
        if kind in SKIPPED_TYPES or (node.node.visibility >= INVISIBLE and not include_invisible):
            continue
        features.append(
            FeatureInfo(
                name=node.node.name,
                type=kind.removeprefix("I"),
                access=_access(node),
                value=_value_text(node) if _access(node) in ("RO", "RW") and kind != "ICommand" else "",
                allowed=_allowed(node, kind),
                unit=str(getattr(node, "unit", "") or ""),
            )
        )
    return sorted(features, key=lambda f: f.name)


def _allowed(node: Node, kind: str) -> str:
    try:
        if kind == "IEnumeration":
            return ", ".join(str(s) for s in node.symbolics)
        if kind in ("IInteger", "IFloat"):
            return _range(node)
    except Exception:
        return ""
    return ""


def _range(node: Node) -> str:
    step = f" step {node.inc}" if type(node).__name__ == "IInteger" and node.inc > 1 else ""
    return f"{node.min}..{node.max}{step}"


def _value_text(node: Node) -> str:
    try:
        return str(node.value)
    except Exception:
        return "?"


def _access(node: Node) -> str:
    return ACCESS.get(int(node.node.get_access_mode()), "?")


def _writable(node: Node) -> bool:
    return _access(node) in ("WO", "RW")


def _readable(node_map: NodeMap, name: str) -> bool:
    return bool(node_map.has_node(name)) and _access(node_map.get_node(name)) in ("RO", "RW")


def _similar(node_map: NodeMap, name: str) -> str:
    names = [node.node.name for node in node_map.nodes if type(node).__name__ not in SKIPPED_TYPES]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else "; `inspection camera features` lists them all"
