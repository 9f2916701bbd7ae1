"""`inspection actuator`: commissioning and start-of-shift checks of the reject path."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from inspection.actuation.build import build_driver
from inspection.actuation.driver import DriverError, Output
from inspection.actuation.self_test import divert_output, record, run_self_test
from inspection.actuation.self_test import pulse as pulse_output
from inspection.cli.common import config_option, exits_on_errors, station_config
from inspection.station.build import DATABASE


@click.group()
def actuator() -> None:
    """Check and commission the reject gate (driver from the config's [actuator] section)."""


@actuator.command()
@config_option
@click.option("--output", type=click.Choice(["gate", "divert", "line_stop"]), default="gate", show_default=True)
@click.option("--width-ms", type=click.FloatRange(min=1, max=10_000), help="Default: actuator.pulse_width_ms.")
@exits_on_errors
def pulse(config_file: Path | None, output: str, width_ms: float | None) -> None:
    """Pulse one output once, for commissioning (exit 1 when the output cannot be reached)."""
    config = station_config(config_file).actuator
    if output == "divert" and divert_output(config) is None:
        raise click.BadParameter(
            "actuator.driver.divert is not configured: a divert pulses the gate", param_hint="--output"
        )
    driver = build_driver(config.driver)
    try:
        driver.connect()
        pulse_output(driver, cast(Output, output), (width_ms or config.pulse_width_ms) / 1e3)
    except DriverError as exc:
        raise click.ClickException(f"{output}: {exc}") from exc
    finally:
        driver.close()
    click.echo(f"{output} pulsed for {width_ms or config.pulse_width_ms:.0f} ms")


@actuator.command("self-test")
@config_option
@exits_on_errors
def self_test(config_file: Path | None) -> None:
    """Outputs reachable, no bin/air fault, a test reject pulsed and confirmed; recorded in the station database.

    Exit 0 passed, 1 failed. A config with actuator.self_test_max_age_h refuses production without a recent pass.
    """
    config = station_config(config_file)
    result = run_self_test(config.actuator)
    record(config.storage.data_dir / DATABASE, result)
    for name, ok, seen in result.steps:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name}: {seen}")
    click.echo("self-test passed" if result.passed else "self-test FAILED: production must not start")
    if not result.passed:
        raise SystemExit(1)
