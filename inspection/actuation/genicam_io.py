"""A camera's digital I/O lines through its GenICam node map (SFNC names), checked before the first part.

Used by whichever process owns the camera (see genicam_driver.py): the gate process for an I/O-only
camera, the acquisition process for the camera the station acquires from. Every check happens in
`configure`, so that a camera without the features, a line that cannot be an output or a user output
that does not exist is one error at start-up naming the camera, the feature and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping

from camera.genicam.features import ACCESS, Node, NodeMap, set_feature
from inspection.actuation.driver import INPUTS, DriverError, InputName
from inspection.config.actuation import GenicamDriverConfig, GenicamInput, GenicamOutput
from inspection.config.camera import FeatureValue
from inspection.errors import CameraError

OUTPUT_FEATURES = ("LineSelector", "LineMode", "LineSource", "UserOutputSelector", "UserOutputValue")
INPUT_FEATURES = ("LineSelector", "LineMode", "LineStatus")
OUTPUTS = ("gate", "line_stop")


class IoLines:
    """The configured output and input lines of one opened camera; one thread uses it at a time."""

    def __init__(self, node_map: NodeMap, config: GenicamDriverConfig, camera: str) -> None:
        self.node_map = node_map
        self.config = config
        self.camera = camera  # named in every error: a station may have several cameras
        wired = {name: getattr(config.inputs, name) for name in INPUTS}
        self.inputs: dict[InputName, GenicamInput] = {name: spec for name, spec in wired.items() if spec is not None}
        self.outputs: dict[str, GenicamOutput] = {
            name: out for name in OUTPUTS if (out := getattr(config, name)) is not None
        }
        self._nodes: dict[str, Node] = {}

    def configure(self) -> None:
        """Checks every node, sets each output line to its user output (off) and each input line to Input."""
        self._require_features()
        for name, output in self.outputs.items():
            key = f"actuator.driver.{name}"
            self._set(f"{key}.line", "LineSelector", output.line)
            self._set(f"{key}.line", "LineMode", "Output", hint=f"{output.line} cannot be an output on this camera")
            if output.inverted or self.node_map.has_node("LineInverter"):
                self._set(f"{key}.inverted", "LineInverter", output.inverted)
            self._set(f"{key}.user_output", "LineSource", output.user_output)
            self._set(f"{key}.user_output", "UserOutputSelector", output.user_output)
            self._set(f"{key}.user_output", "UserOutputValue", False)
        for name, spec in self.inputs.items():
            key = f"actuator.driver.inputs.{name}.line"
            self._set(key, "LineSelector", spec.line)
            self._set(key, "LineMode", "Input", hint=f"{spec.line} cannot be an input on this camera")
            if _access(self._node("LineStatus")) not in ("RO", "RW"):
                raise DriverError(f"camera {self.camera}: {key}: LineStatus of {spec.line} is not readable")

    def write(self, output: str, on: bool) -> None:
        """Two node writes: the selector, then the value (cameras share one UserOutputValue node)."""
        target = self.outputs.get(output)
        if target is None:
            return
        try:
            self._node("UserOutputSelector").value = target.user_output
            self._node("UserOutputValue").value = on
        except Exception as exc:
            raise DriverError(
                f"camera {self.camera}: writing {target.user_output} ({target.line}) {on}: {exc}"
            ) from exc

    def read_inputs(self) -> Mapping[InputName, bool]:
        values: dict[InputName, bool] = {}
        for name, spec in self.inputs.items():
            try:
                self._node("LineSelector").value = spec.line
                values[name] = bool(self._node("LineStatus").value) == spec.active_when
            except Exception as exc:
                raise DriverError(f"camera {self.camera}: reading LineStatus of {spec.line} ({name}): {exc}") from exc
        return values

    def _require_features(self) -> None:
        """All missing features in one error: a camera without digital I/O lacks several at once."""
        needed = list(OUTPUT_FEATURES)
        if any(out.inverted for out in self.outputs.values()):
            needed.append("LineInverter")
        if self.inputs:
            needed += INPUT_FEATURES
        missing = [name for name in dict.fromkeys(needed) if not self.node_map.has_node(name)]
        if missing:
            raise DriverError(
                f"camera {self.camera} has no {', '.join(missing)} feature{'s' if len(missing) > 1 else ''}: "
                "it cannot drive the gate through its node map (SFNC digital I/O); "
                "wire the gate to a PLC (actuator.driver.kind = 'modbus' or 'opcua') or choose a camera with "
                "UserOutput lines (`inspection camera features` lists a camera's features)"
            )

    def _set(self, key: str, feature: str, value: FeatureValue, hint: str = "") -> None:
        node = self._node(feature)
        if _access(node) == "RO" and _current(node) == value:
            return  # e.g. an input-only line already in LineMode=Input
        try:
            set_feature(self.node_map, feature, value)
        except CameraError as exc:
            raise DriverError(f"camera {self.camera}: {key}: {exc}{f' ({hint})' if hint else ''}") from exc

    def _node(self, name: str) -> Node:
        if (node := self._nodes.get(name)) is None:
            node = self._nodes[name] = self.node_map.get_node(name)
        return node


def _access(node: Node) -> str:
    return ACCESS.get(int(node.node.get_access_mode()), "?")


def _current(node: Node) -> object:
    try:
        return node.value
    except Exception:
        return None
