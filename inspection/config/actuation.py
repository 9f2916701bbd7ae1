"""The `[actuator]` section: gate type, line timing, and the driver that moves the gate (a union by `kind`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from inspection.config.camera import DeviceSelector
from inspection.config.kinds import kind_or
from inspection.config.paths import ConfigPath
from inspection.strict import StrictModel


class ModbusCounterSource(StrictModel):
    """A 32-bit encoder counter in two input registers, read through the configured Modbus driver."""

    kind: Literal["modbus"] = "modbus"
    address: int = Field(ge=0, le=65534, description="0-based address of the first of the two input registers")
    word_order: Literal["high_first", "low_first"] = Field(
        default="high_first", description="which register holds the counter's high 16 bits"
    )


class SimulatedCounterSource(StrictModel):
    """A belt that advances at a set speed (tests and the demo can pause it or change its speed)."""

    kind: Literal["simulated"] = "simulated"
    speed_mm_s: float = Field(default=200.0, ge=0, description="belt speed at start")
    start_counts: int = Field(
        default=0, ge=0, lt=2**32, description="the counter's first value (near 2**32 to exercise wrap-around)"
    )


class EncoderConfig(StrictModel):
    """Tracking by belt position: a part's gate position is its position at capture + distance_mm."""

    counts_per_mm: float = Field(gt=0, description="encoder counts per mm of belt travel")
    distance_mm: float = Field(gt=0, description="camera's field of view to the reject gate")
    max_speed_mm_s: float = Field(
        gt=0, description="fastest belt speed: distance_mm at this speed is the time the station has to decide"
    )
    poll_ms: float = Field(default=5.0, gt=0, le=100, description="how often the scheduler reads the position")
    stopped_below_mm_s: float = Field(
        default=1.0, gt=0, description="slower than this the belt counts as stopped: pending parts are held"
    )
    source: Annotated[ModbusCounterSource | SimulatedCounterSource, Field(discriminator="kind")] = Field(
        description="where the position comes from"
    )

    def travel_ms(self) -> float:
        return self.distance_mm / self.max_speed_mm_s * 1e3


class LineGeometry(StrictModel):
    """Camera to gate at constant belt speed, or by encoder; unset, `policy.gate_delay_ms` is the travel time."""

    distance_mm: float | None = Field(default=None, gt=0, description="camera's field of view to the reject gate")
    belt_speed_mm_s: float | None = Field(default=None, gt=0, description="belt speed")
    encoder: EncoderConfig | None = Field(
        default=None, description="track parts by belt position (a belt that stops or changes speed)"
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> LineGeometry:
        if (self.distance_mm is None) != (self.belt_speed_mm_s is None):
            raise ValueError("set both distance_mm and belt_speed_mm_s, or neither")
        if self.encoder is not None and self.distance_mm is not None:
            raise ValueError("with an encoder, set the distance in [actuator.line.encoder] only")
        return self

    def travel_ms(self) -> float | None:
        """With an encoder: the shortest travel (at max speed), the decision deadline the station works to."""
        if self.encoder is not None:
            return self.encoder.travel_ms()
        if self.distance_mm is None or self.belt_speed_mm_s is None:
            return None
        return self.distance_mm / self.belt_speed_mm_s * 1e3


class ModbusOutput(StrictModel):
    """One output: a coil, or a holding register written with `on_value` (0 is off)."""

    table: Literal["coil", "holding_register"] = Field(default="coil", description="where the output lives")
    address: int = Field(ge=0, le=65535, description="0-based address in that table")
    on_value: int = Field(default=1, ge=1, le=65535, description="value written to a holding register for 'on'")


class ModbusInput(StrictModel):
    table: Literal["discrete_input", "coil"] = Field(default="discrete_input", description="where the input lives")
    address: int = Field(ge=0, le=65535, description="0-based address in that table")
    active_when: bool = Field(default=True, description="the value that means 'seen' / 'fault present'")


class ModbusInputs(StrictModel):
    """Optional plant inputs, polled by the scheduler between pulses."""

    reject_confirmation: ModbusInput | None = Field(default=None, description="a rejected part entered the bin")
    bin_full: ModbusInput | None = Field(default=None, description="reject bin full")
    bin_open: ModbusInput | None = Field(default=None, description="reject bin open or removed")
    low_air: ModbusInput | None = Field(default=None, description="air pressure too low to move the gate")


class LoggingDriverConfig(StrictModel):
    """No hardware: every output change is logged (the demo default)."""

    kind: Literal["logging"] = "logging"


class ModbusDriverConfig(StrictModel):
    """A PLC or remote I/O over Modbus TCP."""

    kind: Literal["modbus"] = "modbus"
    host: str = Field(description="PLC / I/O module address")
    port: int = Field(default=502, ge=1, le=65535, description="Modbus TCP port")
    unit_id: int = Field(default=1, ge=0, le=255, description="Modbus unit (device) id")
    gate: ModbusOutput = Field(description="the reject output (pulse_to_reject) or accept output (pulse_to_accept)")
    line_stop: ModbusOutput | None = Field(default=None, description="set (latched) when the station cannot reject")
    divert: ModbusOutput | None = Field(
        default=None, description="pulsed for divert actions; unset, a divert pulses the gate as a reject does"
    )
    inputs: ModbusInputs = Field(default_factory=ModbusInputs, description="confirmation and plant-fault inputs")
    output_mode: Literal["set_reset", "pulse"] = Field(
        default="set_reset",
        description="set_reset: the station sets the gate (or divert) and resets it after pulse_width_ms; "
        "pulse: the station writes 'on' once and the device times the pulse",
    )
    timeout_s: float = Field(default=0.05, gt=0, le=5, description="longest wait for one request's answer")
    backoff_s: tuple[float, float] = Field(
        default=(0.2, 5.0), description="first and longest wait between reconnect attempts"
    )
    poll_ms: float = Field(default=10.0, gt=0, le=1_000, description="how often inputs are read")

    @model_validator(mode="after")
    def _outputs_apart(self) -> ModbusDriverConfig:
        wired = [(name, (o.table, o.address)) for name in ("gate", "divert", "line_stop") if (o := getattr(self, name))]
        _distinct(wired)
        return self


def _distinct(outputs: Iterable[tuple[str, object]]) -> None:
    """Two outputs on one address would move together: a divert would also reject, a line stop also pulse."""
    seen: dict[object, str] = {}
    for name, where in outputs:
        if where in seen:
            raise ValueError(f"{name} and {seen[where]} are the same output: give each its own address")
        seen[where] = name


# ns=<index>; then i= (numeric), s= (string), g= (GUID) or b= (base64): the form UaExpert and PLC tools show.
_NODE_ID = re.compile(r"(ns=\d+;)?(i=\d+|s=.+|g=[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|b=.+)", re.DOTALL)


def _node_id(value: str) -> str:
    """Checked here so a typo is a config error with its key path, not an alarm at the first reject."""
    if not _NODE_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not an OPC UA node id: expected e.g. 'ns=2;s=Line1.Reject' or 'ns=3;i=1012'")
    return value


def _endpoint(value: str) -> str:
    """opc.tcp with host and port; credentials in the URL would put the password in the config file."""
    parts = urlsplit(value)
    if parts.scheme != "opc.tcp" or not parts.hostname or parts.port is None:
        raise ValueError(f"{value!r}: expected 'opc.tcp://<host>:<port>' (e.g. opc.tcp://192.168.0.10:4840)")
    if "@" in parts.netloc:
        raise ValueError("no user name or password in the endpoint URL: set username and password_env")
    return value


NodeId = Annotated[str, AfterValidator(_node_id)]


class OpcUaInput(StrictModel):
    node: NodeId = Field(description="a Boolean variable, e.g. 'ns=2;s=Line1.BinFull'")
    active_when: bool = Field(default=True, description="the value that means 'seen' / 'fault present'")


class OpcUaInputs(StrictModel):
    """Optional plant inputs, polled by the scheduler between pulses (all in one Read request)."""

    reject_confirmation: OpcUaInput | None = Field(default=None, description="a rejected part entered the bin")
    bin_full: OpcUaInput | None = Field(default=None, description="reject bin full")
    bin_open: OpcUaInput | None = Field(default=None, description="reject bin open or removed")
    low_air: OpcUaInput | None = Field(default=None, description="air pressure too low to move the gate")


class OpcUaDriverConfig(StrictModel):
    """A PLC's OPC UA server: the gate and line stop are Boolean variables the station writes."""

    kind: Literal["opcua"] = "opcua"
    endpoint: Annotated[str, AfterValidator(_endpoint)] = Field(
        description="server endpoint, e.g. 'opc.tcp://192.168.0.10:4840'"
    )
    gate: NodeId = Field(description="Boolean variable: the reject output (pulse_to_reject) or accept output")
    line_stop: NodeId | None = Field(default=None, description="Boolean variable set when the station cannot reject")
    divert: NodeId | None = Field(
        default=None, description="Boolean variable pulsed for divert actions; unset, a divert pulses the gate"
    )
    inputs: OpcUaInputs = Field(default_factory=OpcUaInputs, description="confirmation and plant-fault inputs")
    output_mode: Literal["set_reset", "pulse"] = Field(
        default="set_reset",
        description="set_reset: the station writes true, then false after pulse_width_ms; "
        "pulse: the station writes true once and the PLC resets the variable after its own pulse time",
    )
    security_policy: Literal["None", "Basic256Sha256"] = Field(
        default="None", description="secure channel policy; anything but None needs certificate and private_key"
    )
    security_mode: Literal["Sign", "SignAndEncrypt"] = Field(
        default="SignAndEncrypt", description="message security with a policy other than None"
    )
    certificate: ConfigPath | None = Field(
        default=None,
        description="the station's application certificate (PEM or DER); the server must trust it. "
        "Its URI SubjectAltName is sent as the application URI",
    )
    private_key: ConfigPath | None = Field(default=None, description="the certificate's private key (PEM, unencrypted)")
    server_certificate: ConfigPath | None = Field(
        default=None,
        description="pin the server's certificate; unset, it is taken from the server's endpoint list at each connect",
    )
    username: str | None = Field(default=None, description="user name; unset: anonymous")
    password_env: str | None = Field(
        default=None, description="name of the environment variable holding the password (never the password itself)"
    )
    backoff_s: tuple[float, float] = Field(
        default=(0.2, 5.0), description="first and longest wait between reconnect attempts"
    )
    poll_ms: float = Field(default=10.0, gt=0, le=1_000, description="how often inputs are read")
    timeout_s: float = Field(default=0.1, gt=0, le=5, description="longest wait for one read or write")
    connect_timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="longest a whole (re)connect may take: channel, session and checking the configured nodes",
    )

    @model_validator(mode="after")
    def _outputs_apart(self) -> OpcUaDriverConfig:
        _distinct([(name, node) for name in ("gate", "divert", "line_stop") if (node := getattr(self, name))])
        return self

    @model_validator(mode="after")
    def _security_needs_keys(self) -> OpcUaDriverConfig:
        if self.security_policy != "None" and (self.certificate is None or self.private_key is None):
            raise ValueError(f"security_policy = '{self.security_policy}' needs certificate and private_key")
        return self

    @model_validator(mode="after")
    def _user_needs_password(self) -> OpcUaDriverConfig:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("set both username and password_env (the variable holding the password), or neither")
        return self


class GenicamOutput(StrictModel):
    """A camera output line driven by one user output: LineMode=Output, LineSource=<user_output>."""

    line: str = Field(description="the LineSelector entry of the output line, e.g. 'Line1'")
    user_output: str = Field(description="the UserOutputSelector entry that drives it, e.g. 'UserOutput1'")
    inverted: bool = Field(default=False, description="set LineInverter (the wiring is active low)")


class GenicamInput(StrictModel):
    line: str = Field(description="the LineSelector entry of the input line (set to LineMode=Input), e.g. 'Line0'")
    active_when: bool = Field(default=True, description="the LineStatus that means 'seen' / 'fault present'")


class GenicamInputs(StrictModel):
    """Optional plant inputs on camera input lines (LineStatus), polled by the scheduler between pulses."""

    reject_confirmation: GenicamInput | None = Field(default=None, description="a rejected part entered the bin")
    bin_full: GenicamInput | None = Field(default=None, description="reject bin full")
    bin_open: GenicamInput | None = Field(default=None, description="reject bin open or removed")
    low_air: GenicamInput | None = Field(default=None, description="air pressure too low to move the gate")


class GenicamDriverConfig(StrictModel):
    """A camera's digital output lines through its GenICam node map (SFNC UserOutput / LineSource)."""

    kind: Literal["genicam"] = "genicam"
    producers: list[ConfigPath] = Field(
        default_factory=list,
        description="GenTL producer (.cti) files; GENICAM_GENTL64_PATH and the bundled viky.cti are added",
    )
    device: DeviceSelector = Field(default_factory=DeviceSelector, description="which camera (as in [camera.device])")
    owner: Literal["acquisition", "gate"] = Field(
        default="acquisition",
        description="acquisition: the camera the station acquires from, whose acquisition process makes the "
        "writes (a camera grants control to one process); gate: an I/O-only camera the gate process opens itself",
    )
    gate: GenicamOutput = Field(description="the reject output (pulse_to_reject); the station times the pulse")
    line_stop: GenicamOutput | None = Field(default=None, description="set (latched) when the station cannot reject")
    inputs: GenicamInputs = Field(default_factory=GenicamInputs, description="confirmation and plant-fault inputs")
    timeout_s: float = Field(default=0.05, gt=0, le=5, description="longest wait for one write or read")

    @model_validator(mode="after")
    def _lines_apart(self) -> GenicamDriverConfig:
        """One line or user output shared by two signals would move both: a line stop would also reject."""
        outputs = [(name, out) for name in ("gate", "line_stop") if (out := getattr(self, name)) is not None]
        inputs = [(f"inputs.{name}", spec.line) for name, spec in self.inputs if spec is not None]
        _apart("line", [(name, out.line) for name, out in outputs] + inputs)
        _apart("user_output", [(name, out.user_output) for name, out in outputs])
        return self


def _apart(what: str, used: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for name, value in used:
        if value in seen:
            raise ValueError(f"{name} and {seen[value]} use the same {what} {value!r}: give each its own")
        seen[value] = name


DriverConfig = Annotated[
    Annotated[LoggingDriverConfig, Tag("logging")]
    | Annotated[ModbusDriverConfig, Tag("modbus")]
    | Annotated[OpcUaDriverConfig, Tag("opcua")]
    | Annotated[GenicamDriverConfig, Tag("genicam")],
    Discriminator(
        kind_or("logging"),  # an [actuator.driver] section without `kind` is the logging driver
        custom_error_type="driver_kind",
        custom_error_message="actuator.driver.kind must be 'logging' (the default), 'modbus', 'opcua' or 'genicam'",
    ),
]


class ActuatorConfig(StrictModel):
    """How a part's decision becomes a gate movement at the right moment."""

    gate: Literal["pulse_to_reject", "pulse_to_accept"] = Field(
        default="pulse_to_reject",
        description="pulse_to_reject: a pulse removes the part; pulse_to_accept: a pulse lets it through "
        "(a dead station then rejects everything)",
    )
    line: LineGeometry = Field(default_factory=LineGeometry, description="camera-to-gate travel")
    lead_ms: float = Field(default=10.0, ge=0, le=10_000, description="fire this long before the part reaches the gate")
    pulse_width_ms: float = Field(default=50.0, gt=0, le=10_000, description="how long the gate output stays on")
    late_tolerance_ms: float = Field(
        default=5.0, ge=0, le=1_000, description="a command that cannot fire within this of its time is 'missed'"
    )
    confirmation_window_ms: float = Field(
        default=500.0, gt=0, le=60_000, description="after a reject, the confirmation input must be seen within this"
    )
    driver: DriverConfig = Field(default_factory=LoggingDriverConfig, description="what moves the gate")
    self_test_max_age_h: float | None = Field(
        default=None,
        gt=0,
        description="production needs a passed `inspection actuator self-test` this recent (e.g. 12 for a shift); "
        "none: not required",
    )

    @model_validator(mode="after")
    def _modbus_encoder_needs_modbus(self) -> ActuatorConfig:
        encoder = self.line.encoder
        if encoder is not None and encoder.source.kind == "modbus" and not isinstance(self.driver, ModbusDriverConfig):
            raise ValueError("an encoder with source.kind = 'modbus' is read through driver.kind = 'modbus'")
        return self

    @model_validator(mode="after")
    def _accept_needs_device_pulse(self) -> ActuatorConfig:
        driver = self.driver
        device_timed = isinstance(driver, ModbusDriverConfig | OpcUaDriverConfig) and driver.output_mode == "pulse"
        if self.gate == "pulse_to_accept" and isinstance(driver, GenicamDriverConfig):
            raise ValueError(
                "gate = 'pulse_to_accept' needs a device-timed pulse, and a camera's user output is timed by the "
                "station (one that dies mid-pulse would leave the gate open): use a PLC with output_mode = 'pulse'"
            )
        if self.gate == "pulse_to_accept" and not isinstance(driver, LoggingDriverConfig) and not device_timed:
            raise ValueError(
                "gate = 'pulse_to_accept' needs driver.output_mode = 'pulse' (the device times the pulse): "
                "a station that dies inside a set_reset pulse would leave the gate open"
            )
        return self

    def travel_ms(self, gate_delay_ms: float) -> float:
        """Capture to gate: from the line geometry when it is set, else the policy's gate delay."""
        return self.line.travel_ms() or gate_delay_ms
