"""Calibration on the line: frames corrected, defects measured in mm², image health watched.

The defect-size test uses a tiny real ONNX "model" whose defect map is the image's darkness, so
the only thing measured is the station's geometry chain (ROI, resize, regions, scale), not a
model's accuracy.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from calibration.board import Board
from calibration.health import build_reference, save_health
from calibration.intrinsics import CameraCalibration, ViewResult
from calibration.record import CalibrationError, load_record, save_record
from calibration.scale import ScaleCalibration
from calibration.undistort import Undistorter
from camera.sim import render_part
from inspection.cli import main
from inspection.config import load_config
from inspection.factory import build_inspector
from inspection.model_card import InputSpec, ModelCard, SegmentationOutput, Thresholds, card_path_for, save_card
from inspection.runtime import file_sha256
from inspection.station.build import run_station

WIDTH, HEIGHT = 800, 600
MM_PER_PX = 0.2  # the truth the rendered images are drawn at
BRIGHT, DARK = 200, 40
SUPERSAMPLE = 8


def darkness_model(folder: Path) -> Path:
    """defect_map = sigmoid(40 * (0.5 - level)) at half the frame's resolution; score = its max."""
    h, w = HEIGHT // 2, WIDTH // 2
    inits = [
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("gain", TensorProto.FLOAT, [], [40.0]),
    ]
    nodes = [
        helper.make_node("Sub", ["half", "image"], ["below"]),
        helper.make_node("Mul", ["below", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["defect_map"]),
        helper.make_node("ReduceMax", ["defect_map"], ["score"], axes=[1, 2, 3], keepdims=0),
    ]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "darkness",
        [value("image", TensorProto.FLOAT, [1, 1, h, w])],
        [value("defect_map", TensorProto.FLOAT, [1, 1, h, w]), value("score", TensorProto.FLOAT, [1])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = folder / "darkness.onnx"
    onnx.save(model, str(path))
    spec = InputSpec(name="image", shape=(1, 1, h, w), layout="NCHW", colour="gray", mean=(0.0,), std=(1.0,))
    card = ModelCard(
        name="darkness",
        version="1",
        description="defect map = dark pixels; measures geometry, not a model",
        file=path.name,
        sha256=file_sha256(path),
        input=spec,
        output=SegmentationOutput(map="defect_map", score="score"),
        thresholds=Thresholds(version="t1", pass_below=0.3, reject_above=0.7, region_threshold=0.5),
    )
    save_card(card, card_path_for(path))
    return path


def drawn(shapes: list[tuple[str, tuple[float, float], tuple[float, float]]]) -> np.ndarray:
    """Dark discs/ellipses/rectangles (centre px, full size px) on a bright belt, anti-aliased by supersampling."""
    big = np.full((HEIGHT * SUPERSAMPLE, WIDTH * SUPERSAMPLE), BRIGHT, np.uint8)
    for kind, (cx, cy), (w, h) in shapes:
        c = (round(cx * SUPERSAMPLE), round(cy * SUPERSAMPLE))
        if kind == "ellipse":
            axes = (round(w * SUPERSAMPLE / 2), round(h * SUPERSAMPLE / 2))
            cv2.ellipse(big, c, axes, 0, 0, 360, DARK, -1)
        else:
            x0, y0 = round((cx - w / 2) * SUPERSAMPLE), round((cy - h / 2) * SUPERSAMPLE)
            cv2.rectangle(big, (x0, y0), (x0 + round(w * SUPERSAMPLE) - 1, y0 + round(h * SUPERSAMPLE) - 1), DARK, -1)
    return cv2.resize(big, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def config_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(
        f'[storage]\ndata_dir = "{(tmp_path / "data").as_posix()}"\n[monitoring]\nport = 0\n[link]\nserver = ""\n'
        + body,
        encoding="utf-8",
    )
    return path


def test_defect_areas_in_mm2_from_a_scale_calibrated_on_a_target(tmp_path: Path) -> None:
    target = tmp_path / "target.png"
    cv2.imwrite(str(target), drawn([("ellipse", (400, 300), (30 / MM_PER_PX, 30 / MM_PER_PX))]))  # a 30 mm disc
    result = CliRunner().invoke(
        main, ["calibrate", "scale", str(target), "--target", "disc:30", "--out", str(tmp_path / "cal")]
    )
    assert result.exit_code == 0, result.output
    (scale_file,) = (tmp_path / "cal").glob("scale-*.json")
    model = darkness_model(tmp_path)
    cfg = load_config(
        config_file(
            tmp_path,
            f'[model]\npath = "{model.as_posix()}"\nverify_golden = false\n'
            f'[calibration]\nscale = "{scale_file.as_posix()}"\n',
        )
    )
    # (kind, centre px, size mm) -> true area mm²: a pit, a chip, a scratch. Each is >= 10 map cells across:
    # the map's resolution bounds the precision (a 3 mm scratch, 7.5 cells wide, measures 5% large).
    defects = [
        ("ellipse", (200.0, 150.0), (10.0, 10.0), math.pi * 5 * 5),
        ("rect", (560.0, 180.0), (12.0, 5.0), 12 * 5),
        ("ellipse", (420.0, 450.0), (16.0, 4.0), math.pi * 8 * 2),
    ]
    image = drawn([(k, c, (w / MM_PER_PX, h / MM_PER_PX)) for k, c, (w, h), _ in defects])
    inspection = build_inspector(cfg).inspect(image, "part-1")
    decision = inspection.decision
    assert decision.calibration_id == load_record(scale_file, ScaleCalibration).id
    assert len(decision.regions) == len(defects)
    for kind, (cx, cy), (w_mm, h_mm), area in defects:
        (region,) = [
            r for r in decision.regions if abs(r.x + r.width / 2 - cx) < 10 and abs(r.y + r.height / 2 - cy) < 10
        ]
        assert region.area_mm2 is not None and region.width_mm is not None and region.height_mm is not None
        assert region.area_mm2 == pytest.approx(area, rel=0.05), kind
        assert region.width_mm == pytest.approx(w_mm, rel=0.1, abs=0.5), kind
        assert region.height_mm == pytest.approx(h_mm, rel=0.1, abs=0.5), kind


def camera_calibration(folder: Path) -> Path:
    """A barrel-distorted camera (the intrinsics fit itself is tested in test_calibration_intrinsics)."""
    record = CameraCalibration(
        camera_serial="cam-1",
        image_size=(WIDTH, HEIGHT),
        board=Board(kind="checkerboard", columns=10, rows=7, square_mm=20.0),
        camera_matrix=((700.0, 0.0, 400.0), (0.0, 700.0, 300.0), (0.0, 0.0, 1.0)),
        dist_coeffs=(-0.3, 0.1, 0.0, 0.0, 0.0),
        rms_px=0.1,
        rejection_px=1.0,
        coverage=0.8,
        views=(ViewResult(name="v", corners=54, error_px=0.1, used=True),),
    )
    return save_record(record, folder)


def test_the_line_decides_on_undistorted_frames_and_boxes_defects_where_they_are_after_correction(
    tmp_path: Path,
) -> None:
    camera_file = camera_calibration(tmp_path / "cal")
    model = darkness_model(tmp_path)
    cfg = load_config(
        config_file(
            tmp_path,
            f'[model]\npath = "{model.as_posix()}"\nverify_golden = false\n'
            f'[calibration]\ncamera = "{camera_file.as_posix()}"\n',
        )
    )
    raw = drawn([("ellipse", (700.0, 520.0), (40.0, 40.0))])  # near a corner, where distortion is strongest
    inspection = build_inspector(cfg).inspect(raw, "part-1")
    calibration = load_record(camera_file, CameraCalibration)
    corrected = Undistorter(calibration)(raw)
    np.testing.assert_array_equal(inspection.image, corrected)  # the picture kept is the one decided
    assert inspection.decision.calibration_id == calibration.id
    assert "correct" in inspection.decision.latency_ms
    (region,) = inspection.decision.regions
    moved = cv2.undistortPoints(
        np.array([[[700.0, 520.0]]]),
        calibration.camera_matrix_array,
        calibration.dist_coeffs_array,
        P=Undistorter(calibration).camera_matrix,
    )[0, 0]
    centre = (region.x + region.width / 2, region.y + region.height / 2)
    assert np.hypot(moved[0] - 700, moved[1] - 520) > 6  # the correction matters here...
    assert np.hypot(centre[0] - moved[0], centre[1] - moved[1]) < 3  # ...and the box follows it
    assert region.area_mm2 is None  # no scale: sizes stay in px


def test_a_scale_measured_without_the_stations_undistortion_is_refused(tmp_path: Path) -> None:
    camera_file = camera_calibration(tmp_path / "cal")
    scale = ScaleCalibration(
        mm_per_px=0.2,
        relative_uncertainty=0.001,
        method="board",
        camera_calibration_id=None,
        image_size=(WIDTH, HEIGHT),
        centre_px=(400.0, 300.0),
        square_mm=20.0,
        square_px=100.0,
    )
    scale_file = save_record(scale, tmp_path / "cal")
    cfg = load_config(
        config_file(
            tmp_path, f'[calibration]\ncamera = "{camera_file.as_posix()}"\nscale = "{scale_file.as_posix()}"\n'
        )
    )
    with pytest.raises(CalibrationError, match=r"measured on raw images.*--camera"):
        build_inspector(cfg)


def frames_folder(folder: Path, seeds: range, gain: float) -> Path:
    folder.mkdir(parents=True)
    for seed in seeds:
        image = render_part(seed).image.astype(np.float32) * gain
        cv2.imwrite(str(folder / f"{seed:08d}.png"), np.clip(image, 0, 255).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def health_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("health")
    reference, gain = build_reference([render_part(s).image for s in range(7_000_000, 7_000_012)], "sim", False)
    return save_health(reference, gain, folder)


@pytest.mark.parametrize(("gain", "expect_failsafe"), [(1.0, False), (0.4, True)])
def test_a_darkened_camera_fails_the_health_check_and_its_parts_are_failsafe(
    tmp_path: Path, health_reference: Path, gain: float, expect_failsafe: bool
) -> None:
    frames = frames_folder(tmp_path / "frames", range(7_100_000, 7_100_040), gain)
    cfg = load_config(
        config_file(
            tmp_path,
            f'[camera]\nkind = "folder"\npath = "{frames.as_posix()}"\nrate_hz = 80\n'
            f'[calibration.health]\nreference = "{health_reference.as_posix()}"\n'
            "[calibration.health.limits]\nevery_n_frames = 2\nconsecutive = 2\n",
        )
    )
    snapshot = run_station(cfg, threading.Event())
    assert snapshot.acquired == 40
    shed = snapshot.failsafe["image_health"]
    if expect_failsafe:
        assert 20 <= shed < 40  # the first parts are decided while the check confirms the drift
    else:
        assert shed == 0
