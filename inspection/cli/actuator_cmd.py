"""`inspection actuator`: commissioning and start-of-shift checks of the reject path."""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path
from typing import cast

import click

from inspection.actuation.build import build_driver
from inspection.actuation.driver import DriverError, Output
from inspection.actuation.reset import ResetRequestError, ask_station
from inspection.actuation.self_test import divert_output, record, run_self_test
from inspection.actuation.self_test import pulse as pulse_output
from inspection.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, config_option, exits_on_errors, station_config
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


@actuator.command()
@config_option
@click.option("--reason", required=True, help="What stopped the line and what was done about it (recorded).")
@click.option("--url", help="Station endpoint (default: the config's [monitoring] port on this machine).")
@exits_on_errors
def reset(config_file: Path | None, reason: str, url: str | None) -> None:
    """Clear a running station's 'cannot reject' and release the line stop, once the cause is gone.

    Refused (exit 1) while a bin-full, bin-open or low-air input is still active or the PLC cannot be
    reached; exit 2 when no station answers. Each attempt is recorded in the station database
    (gate_resets) with your OS user name, the time, the reason and the state before.
    """
    if not reason.strip():
        raise click.BadParameter("say why: the reason is recorded", param_hint="--reason")
    if url is None:
        monitoring = station_config(config_file).monitoring
        if not monitoring.port:
            raise click.UsageError("monitoring.port is not set (or 0, any port): pass the station's --url")
        host = "127.0.0.1" if monitoring.host in ("0.0.0.0", "::", "") else monitoring.host
        url = f"http://{host}:{monitoring.port}"
    try:
        user = pwd.getpwuid(os.getuid()).pw_name  # the account, not $USER (which can be set to anything)
        answer = ask_station(url, user, reason.strip())
    except ResetRequestError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        click.secho(f"error: no station answers at {url} ({exc}); is `inspection run` running?", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    before = answer.before or "the station could reject"
    if not answer.accepted:
        click.secho(f"reset refused: {answer.message} (state: {before})", fg="red")
        sys.exit(EXIT_FAILED)
    click.echo(f"reset: {answer.message} (was: {before})")
