"""`inspection calibrate scale`: mm per pixel on the conveyor plane, from a target or the board."""

from __future__ import annotations

from pathlib import Path

import click
import cv2
import numpy as np

from calibration.board import parse_board
from calibration.intrinsics import CameraCalibration, detect_corners
from calibration.record import CalibrationError, load_record, save_record
from calibration.scale import ScaleCalibration, TargetSpec, scale_from_board, scale_from_target
from calibration.undistort import Undistorter
from inspection.cli.common import exits_on_errors
from inspection.images import read_image

GREEN, WHITE, BLACK = (0, 200, 0), (255, 255, 255), (0, 0, 0)


def _display(image: np.ndarray) -> np.ndarray:
    """An 8-bit BGR copy to draw on, whatever the frame's depth and channels."""
    if image.dtype != np.uint8:
        image = ((image - image.min()) * (255 / max(float(np.ptp(image)), 1.0))).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if image.shape[2] == 4 else image.copy()


def _draw_target(canvas: np.ndarray, record: ScaleCalibration) -> None:
    """The measured outline (from the grey-level moments), so a misplaced target is seen at a glance."""
    if record.target is None or record.target_px is None:
        return
    box = (record.centre_px, record.target_px, record.target_angle_deg or 0.0)
    if record.target.shape == "disc":
        cv2.ellipse(canvas, (box[0], (box[1][0], box[1][1]), box[2]), GREEN, 1, cv2.LINE_AA)
    else:
        corners = cv2.boxPoints(box)
        cv2.polylines(canvas, [np.round(corners * 16).astype(np.int32)], True, GREEN, 1, cv2.LINE_AA, 4)


def _caption(canvas: np.ndarray, lines: list[str]) -> None:
    scale = max(canvas.shape[1] / 1200, 0.5)
    for i, line in enumerate(lines):
        origin = (10, round((i + 1) * 32 * scale))
        cv2.putText(canvas, line, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, BLACK, 4, cv2.LINE_AA)
        cv2.putText(canvas, line, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, 1, cv2.LINE_AA)


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise CalibrationError(f"cannot encode the overlay image {path}")
    path.write_bytes(encoded.tobytes())


@click.command("scale")
@click.argument("image_file", metavar="IMAGE", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--target", "target_text", help="Target of known size: disc:DIAMETER_MM or rect:WIDTHxHEIGHT (mm).")
@click.option("--board", "board_text", help="Board lying on the conveyor, e.g. checkerboard:10x7:20 (needs --camera).")
@click.option(
    "--camera",
    "camera_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Camera calibration JSON: the image is undistorted with it first, and the scale holds for undistorted images.",
)
@click.option("--serial", default="", help="Serial number of the camera that took IMAGE.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Folder for the files."
)
@click.option("--notes", default="", help="Free text kept in the file: who, which rig, why.")
@exits_on_errors
def scale(
    *,
    image_file: Path,
    target_text: str | None,
    board_text: str | None,
    camera_file: Path | None,
    serial: str,
    out_dir: Path,
    notes: str,
) -> None:
    """Measures mm per pixel on IMAGE and writes <id>.json with <id>-scale.png (the measurement drawn)."""
    if (target_text is None) == (board_text is None):
        raise CalibrationError("give exactly one of --target (e.g. disc:30) or --board (e.g. checkerboard:10x7:20)")
    if board_text is not None and camera_file is None:
        raise CalibrationError("--board needs --camera: the board's pose is solved with the camera calibration")
    image = read_image(image_file)
    if board_text is not None and camera_file is not None:
        record, canvas = _board_scale(image, board_text, camera_file, serial, notes)
    else:
        record, canvas = _target_scale(image, TargetSpec.parse(target_text or ""), camera_file, serial, notes)
    path = save_record(record, out_dir)
    stamped_id = path.stem
    unc = record.relative_uncertainty * 100
    _caption(canvas, [f"{record.mm_per_px:.5f} mm/px (+/- {unc:.2f} %)", stamped_id])
    overlay = out_dir / f"{stamped_id}-scale.png"
    _write_png(overlay, canvas)
    click.echo(f"scale: {record.mm_per_px:.6f} mm/px ({1 / record.mm_per_px:.4f} px/mm), uncertainty {unc:.2f} %")
    click.echo(f"wrote {path}")
    click.echo(f"wrote {overlay}")


def _target_scale(
    image: np.ndarray, target: TargetSpec, camera_file: Path | None, serial: str, notes: str
) -> tuple[ScaleCalibration, np.ndarray]:
    camera_id = None
    if camera_file is not None:  # measured where the station measures defects: in corrected frames
        camera = _camera(camera_file, serial)
        image, camera_id, serial = Undistorter(camera)(image), camera.id, serial or camera.camera_serial
    record = scale_from_target(image, target, camera_calibration_id=camera_id, camera_serial=serial, notes=notes)
    canvas = _display(image)
    _draw_target(canvas, record)
    return record, canvas


def _camera(camera_file: Path, serial: str) -> CameraCalibration:
    camera = load_record(camera_file, CameraCalibration)
    if serial and serial != camera.camera_serial:
        raise CalibrationError(
            f"camera calibration {camera_file} is for camera {camera.camera_serial}, not {serial}; "
            "use the calibration of the camera that took the image"
        )
    return camera


def _board_scale(
    image: np.ndarray, board_text: str, camera_file: Path, serial: str, notes: str
) -> tuple[ScaleCalibration, np.ndarray]:
    board, camera = parse_board(board_text), _camera(camera_file, serial)
    record = scale_from_board(image, board, camera, camera_serial=serial, notes=notes)
    undistorter = Undistorter(camera)
    canvas = _display(undistorter(image))
    corners = detect_corners(image, board)
    if corners is not None:  # drawn where they lie in the corrected frame the scale applies to
        k, d = camera.camera_matrix_array, camera.dist_coeffs_array
        points = cv2.undistortPoints(corners.image_points.reshape(-1, 1, 2), k, d, P=undistorter.camera_matrix)
        for x, y in np.asarray(points).reshape(-1, 2):
            cv2.circle(canvas, (round(x * 16), round(y * 16)), 3 * 16, GREEN, 1, cv2.LINE_AA, 4)
    return record, canvas
