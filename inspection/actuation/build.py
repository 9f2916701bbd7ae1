"""Builds the gate scheduler and its driver from the `[actuator]` section (one `match` over the driver kinds)."""

from __future__ import annotations

import logging

from inspection.actuation.driver import GateDriver
from inspection.actuation.encoder import ModbusPosition, PositionSource, SimulatedPosition
from inspection.actuation.logging_driver import LoggingDriver
from inspection.actuation.scheduler import Alarm, GateScheduler, Record
from inspection.config.actuation import (
    ActuatorConfig,
    DriverConfig,
    GenicamDriverConfig,
    LoggingDriverConfig,
    ModbusCounterSource,
    ModbusDriverConfig,
    OpcUaDriverConfig,
    SimulatedCounterSource,
)
from inspection.config.station import PolicyConfig

log = logging.getLogger(__name__)


def log_alarm(kind: str, message: str) -> None:
    """The default alarm: an error in the log; the scheduler counts alarms for /metrics."""
    log.error("ALARM %s: %s", kind, message)


def build_driver(config: DriverConfig) -> GateDriver:
    """Each protocol stack is imported only when configured (asyncua alone takes a second to import)."""
    match config:
        case LoggingDriverConfig():
            return LoggingDriver()
        case ModbusDriverConfig():
            from inspection.actuation.modbus_driver import ModbusDriver  # noqa: PLC0415

            return ModbusDriver(config)
        case OpcUaDriverConfig():
            from inspection.actuation.opcua_driver import OpcUaDriver  # noqa: PLC0415

            return OpcUaDriver(config)
        case GenicamDriverConfig():
            from inspection.actuation.genicam_driver import GenicamDriver  # noqa: PLC0415

            return GenicamDriver(config)


def build_position(config: ActuatorConfig, driver: GateDriver) -> PositionSource | None:
    """The encoder's position source, when the line has one; a Modbus counter shares the gate's connection."""
    if (encoder := config.line.encoder) is None:
        return None
    match encoder.source:
        case SimulatedCounterSource():
            return SimulatedPosition(encoder.counts_per_mm, encoder.source.speed_mm_s, encoder.source.start_counts)
        case ModbusCounterSource():
            from inspection.actuation.modbus_driver import ModbusDriver  # noqa: PLC0415

            assert isinstance(driver, ModbusDriver)  # the config's validator requires the modbus driver
            return ModbusPosition(driver, encoder.source.address, encoder.source.word_order == "high_first")


def build_scheduler(config: ActuatorConfig, record: Record, alarm: Alarm = log_alarm) -> GateScheduler:
    driver = build_driver(config.driver)
    return GateScheduler(config, driver, record, alarm, position=build_position(config, driver)).start()


def gate_policy(actuator: ActuatorConfig, policy: PolicyConfig) -> PolicyConfig:
    """The policy with the gate delay the line geometry gives, when it is set."""
    return policy.model_copy(update={"gate_delay_ms": actuator.travel_ms(policy.gate_delay_ms)})


def drain_s(actuator: ActuatorConfig, policy: PolicyConfig) -> float:
    """How long a stopping station keeps firing for parts still on the belt; nothing to wait for without a gate."""
    if isinstance(actuator.driver, LoggingDriverConfig):
        return 0.0
    return actuator.travel_ms(policy.gate_delay_ms) / 1e3
