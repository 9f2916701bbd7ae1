"""`inspection calibrate camera IMAGES...`: lens intrinsics from board views, with plots to review them."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from calibration.board import BOARD_FORMS, Board, parse_board
from calibration.intrinsics import CameraCalibration, Corners, calibrate_detections, detect_corners
from calibration.plots import coverage_plot, view_errors_plot
from calibration.record import CalibrationError, save_record
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


def _detect(paths: list[Path], board: Board) -> tuple[list[tuple[str, Corners | None]], tuple[int, int]]:
    """Corners per readable image; unreadable images and images of another size are reported and skipped."""
    detections: list[tuple[str, Corners | None]] = []
    size: tuple[int, int] | None = None
    with progress("find board", len(paths)) as advance:
        for path in paths:
            try:
                image = read_image(path)
                shape = (image.shape[1], image.shape[0])
                if size is not None and shape != size:
                    raise ImageError(f"{path}: {shape[0]}x{shape[1]} px, but the first image is {size[0]}x{size[1]} px")
                size = shape
                detections.append((str(path), detect_corners(image, board)))
            except ImageError as exc:
                click.secho(f"skipped {exc}", fg="yellow", err=True)
            advance()
    if size is None:
        raise CalibrationError(f"none of the {len(paths)} images could be read; give PNG, JPEG, BMP or TIFF frames")
    return detections, size


def _summary(record: CameraCalibration, files: list[Path]) -> None:
    k = record.camera_matrix_array
    rejected = [v for v in record.views if v.error_px is not None and not v.used]
    missing = [v for v in record.views if v.error_px is None]
    click.echo(f"camera calibration {record.id} for camera {record.camera_serial}")
    click.echo(f"  reprojection RMS  {record.rms_px:.3f} px (views above {record.rejection_px:.2f} px rejected)")
    click.echo(f"  focal length      fx {k[0, 0]:.2f} px, fy {k[1, 1]:.2f} px")
    click.echo(
        f"  principal point   ({k[0, 2]:.2f}, {k[1, 2]:.2f}) px in {record.image_size[0]}x{record.image_size[1]}"
    )
    click.echo(f"  distortion        {', '.join(f'{c:.5f}' for c in record.dist_coeffs)}")
    click.echo(
        f"  views             {record.used_views} used, {len(rejected)} rejected, {len(missing)} without a board; "
        f"corners cover {record.coverage:.0%} of the image"
    )
    for view in rejected:
        click.echo(f"    rejected {view.name}: {view.error_px:.2f} px")
    for path in files:
        click.echo(f"wrote {path}")


@click.command("camera")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--board", "board_text", required=True, help=f"The printed board, counted in squares: {BOARD_FORMS}.")
@click.option("--serial", required=True, help="Serial number of the camera that took the images.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Folder.")
@click.option("--notes", default="", help="Free text kept in the file: who, which rig, why.")
@exits_on_errors
def camera(images: tuple[Path, ...], board_text: str, serial: str, out_dir: Path, notes: str) -> None:
    """Calibrate a camera's lens from IMAGES (files or folders) of a board.

    Writes OUT/<id>.json and, beside it, <id>-coverage.png (where corners were seen) and <id>-errors.png
    (per-view error and the rejection limit). Take 15-30 views: the whole board sharp and inside the frame,
    tilted 15-45 degrees in different directions, and together covering the whole image, corners included.
    """
    board = parse_board(board_text)
    paths = _image_paths(images)
    if not paths:
        raise CalibrationError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {', '.join(map(str, images))}")
    detections, size = _detect(paths, board)
    record = calibrate_detections(detections, board, serial, size, notes=notes).stamped()
    json_path = save_record(record, out_dir)
    corners = {name: np.asarray(c.image_points) for name, c in detections if c is not None}
    coverage = coverage_plot(record, corners, out_dir / f"{record.id}-coverage.png")
    errors = view_errors_plot(record, out_dir / f"{record.id}-errors.png")
    _summary(record, [json_path, coverage, errors])
