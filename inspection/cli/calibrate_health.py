"""`inspection calibrate health FRAMES...`: the image-health reference and the flat-field gain map."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from calibration.health import GAIN_RANGE, build_reference, save_health
from calibration.health_plots import health_plot, reference_lines
from calibration.record import CalibrationError
from inspection.cli.common import exits_on_errors
from inspection.errors import ImageError
from inspection.images import IMAGE_SUFFIXES, read_image, walk_image_files
from inspection.progress import progress


def _image_paths(arguments: tuple[Path, ...]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted)."""
    paths: list[Path] = []
    for argument in arguments:
        paths.extend(walk_image_files(argument) if argument.is_dir() else [argument])
    return paths


def _read(label: str, arguments: tuple[Path, ...]) -> list[np.ndarray]:
    """The readable frames; unreadable files are reported and skipped, and none at all is an error."""
    paths = _image_paths(arguments)
    if not paths:
        raise CalibrationError(
            f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {', '.join(map(str, arguments))}"
        )
    frames: list[np.ndarray] = []
    with progress(label, len(paths)) as advance:
        for path in paths:
            try:
                frames.append(read_image(path))
            except ImageError as exc:
                click.secho(f"skipped {exc}", fg="yellow", err=True)
            advance()
    if not frames:
        raise CalibrationError(f"none of the {len(paths)} {label} could be read; give PNG, JPEG, BMP or TIFF frames")
    return frames


@click.command("health")
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--serial", required=True, help="Serial number of the camera that took the frames.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Folder.")
@click.option(
    "--flat-field/--no-flat-field",
    default=False,
    show_default=True,
    help="Also make the flat-field gain map, from --flat-frames or else from FRAMES.",
)
@click.option(
    "--flat-frames",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="Frames (files or folders) of a uniform target or the empty belt for the gain map; implies --flat-field.",
)
@click.option("--notes", default="", help="Free text kept in the file: who, which rig, why.")
@exits_on_errors
def health(  # noqa: PLR0917 -- click passes options positionally by name
    frames: tuple[Path, ...], serial: str, out_dir: Path, flat_field: bool, flat_frames: tuple[Path, ...], notes: str
) -> None:
    """Record what healthy images look like, from FRAMES (files or folders) of good parts under production light.

    Writes OUT/<id>.json, the gain map beside it (health-flat-field-<hash>.npy) when asked, and <id>-health.png.
    Take 20 or more frames as the line runs, so the reference holds the normal spread between parts. The gain
    map needs a uniform target or the empty belt: give those with --flat-frames when FRAMES show parts.
    """
    images = _read("reference frames", frames)
    flats = _read("flat-field frames", flat_frames) if flat_frames else []
    reference, gain = build_reference(images, serial, flat_field or bool(flats), flat_frames=flats, notes=notes)
    reference = reference.stamped()
    json_path = save_health(reference, gain, out_dir)
    plot = health_plot(reference, gain, out_dir / f"{reference.id}-health.png")
    click.echo(f"health reference {reference.id}")
    for line in reference_lines(reference):
        click.echo(f"  {line}")
    if gain is not None:
        click.echo(f"  flat-field gain {gain.min():.3f}..{gain.max():.3f}")
        clipped = float(np.mean((gain <= GAIN_RANGE[0]) | (gain >= GAIN_RANGE[1])))
        if clipped > 0.001:  # a smooth fall-off never reaches the limits; parts or a broken light do
            click.secho(
                f"warning: {clipped:.1%} of the gain map is clipped at {GAIN_RANGE[0]} or {GAIN_RANGE[1]}: were the "
                "flat-field frames of a uniform target or the empty belt, with every light working?",
                fg="yellow",
                err=True,
            )
    for path in (json_path, *([out_dir / reference.flat_field_file] if reference.flat_field_file else []), plot):
        click.echo(f"wrote {path}")
