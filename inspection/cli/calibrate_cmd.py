"""`inspection calibrate camera | scale | health | thresholds`: one command per calibration file."""

from __future__ import annotations

import click

from inspection.cli.calibrate_camera import camera
from inspection.cli.calibrate_health import health
from inspection.cli.calibrate_scale import scale
from inspection.cli.calibrate_thresholds import thresholds


@click.group()
def calibrate() -> None:
    """Calibration files: camera geometry, mm per pixel, image health, thresholds (PNG plots beside them)."""


calibrate.add_command(camera)
calibrate.add_command(scale)
calibrate.add_command(health)
calibrate.add_command(thresholds)
