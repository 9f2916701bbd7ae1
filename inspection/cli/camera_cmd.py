"""`inspection camera list|features|record`: what cameras there are, what they can do, and recording."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from camera.factory import build_source
from camera.genicam.discovery import harvester, list_devices, producer_files, select_device
from camera.genicam.features import describe_features
from camera.genicam.source import GenicamSource
from camera.record import record
from inspection.cli.common import config_option, exits_on_errors, station_config
from inspection.config.camera import DeviceSelector, GenicamSourceConfig
from inspection.errors import CameraError

producer_option = click.option(
    "--producer",
    "producers",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="GenTL producer (.cti) to load besides the config's, GENICAM_GENTL64_PATH and the bundled viky.cti.",
)


def genicam_config(config_file: Path | None, producers: tuple[Path, ...]) -> GenicamSourceConfig:
    """The config's camera section when it is a GenICam camera, else defaults; --producer adds producers."""
    camera = station_config(config_file).camera
    base = camera if isinstance(camera, GenicamSourceConfig) else GenicamSourceConfig()
    return base.model_copy(update={"producers": [*base.producers, *producers]})


@click.group()
def camera() -> None:
    """GenICam cameras and frame sources."""


@camera.command("list")
@config_option
@producer_option
@exits_on_errors
def list_cmd(config_file: Path | None, producers: tuple[Path, ...]) -> None:
    """Print producer, vendor, model and serial of every camera found."""
    files = producer_files(genicam_config(config_file, producers).producers)
    with harvester(files) as h:
        devices = list_devices(h)
    table = Table("#", "vendor", "model", "serial", "user name", "producer")
    for index, device in enumerate(devices):
        table.add_row(str(index), device.vendor, device.model, device.serial, device.user_name, device.producer)
    _print(table)
    if not devices:
        raise CameraError(f"no cameras found through {', '.join(map(str, files))}")


@camera.command()
@config_option
@producer_option
@click.option("--serial", help="Camera serial number (default: the config's camera, else the first found).")
@click.option("--all", "show_all", is_flag=True, help="Include features the camera marks invisible.")
@exits_on_errors
def features(config_file: Path | None, producers: tuple[Path, ...], serial: str | None, show_all: bool) -> None:
    """Dump the camera's node map: name, type, value, range or choices, access mode."""
    config = genicam_config(config_file, producers)
    selector = DeviceSelector(serial=serial) if serial else config.device
    with harvester(producer_files(config.producers)) as h:
        devices = list_devices(h)
        acquirer = h.create(select_device(devices, selector))
        try:
            rows = describe_features(acquirer.remote_device.node_map, include_invisible=show_all)
        finally:
            acquirer.destroy()
    table = Table("feature", "type", "access", "value", "unit", "range / choices")
    for row in rows:
        table.add_row(row.name, row.type, row.access, row.value, row.unit, row.allowed)
    _print(table)


@camera.command("record")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), required=True, help="How long to record.")
@config_option
@exits_on_errors
def record_cmd(folder: Path, seconds: float, config_file: Path | None) -> None:
    """Record the configured camera losslessly (TIFF + frames.jsonl sidecar) for a later replay."""
    config = station_config(config_file)
    source = build_source(config.camera, config.station_id)
    try:
        with source:
            device: dict[str, Any] = {}
            if isinstance(source, GenicamSource) and source.device is not None:
                device = {"device": asdict(source.device), "features": source.features}
            summary = record(source, folder, seconds, {"camera": config.camera.model_dump(mode="json"), **device})
    except FileExistsError as exc:
        raise CameraError(str(exc)) from exc
    click.echo(
        f"recorded {summary.frames} frames in {summary.seconds:.1f} s to {folder} "
        f"({summary.frames_missing} missing, {summary.not_recorded} not recorded, {summary.faults} faults)"
    )


def _print(table: Table) -> None:
    """Full width when piped, so no feature name or producer path gets cut."""
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(table)
