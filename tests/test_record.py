"""Recording frames losslessly with a sidecar, replaying a recording, and the `camera` commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from camera.frames import Fault, Frame, Gap, SourceEvent
from camera.record import SESSION, SIDECAR, Recorder, record
from camera.simulated import SimulatedLine
from inspection.cli import main


def sidecar(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / SIDECAR).read_text().splitlines()]


def simulated_frames(count: int) -> list[Frame]:
    line = SimulatedLine(60_000, defect_rate=0.5, seed=7_000_000, pool_size=3)
    with line:
        events = [line.read(1.0) for _ in range(count)]
    return [e for e in events if isinstance(e, Frame)]


def test_frames_are_recorded_bit_exact_with_their_metadata(tmp_path: Path) -> None:
    frames = simulated_frames(4)
    deep = Frame("cam", 99, 123, "Mono16", (np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 21))
    recorder = Recorder(tmp_path / "rec", "cam")
    events: list[SourceEvent] = [*frames[:2], Gap("cam", 2, 3, "lost on the wire", 5), Fault("cam", "cable", 6)]
    for event in [*events, *frames[2:], deep]:
        recorder.add(event)
    summary = recorder.close({"note": "test"})
    assert (summary.frames, summary.frames_missing, summary.faults, summary.not_recorded) == (5, 3, 1, 0)
    lines = sidecar(tmp_path / "rec")
    assert [line["event"] for line in lines] == ["frame", "frame", "gap", "fault", "frame", "frame", "frame"]
    recorded = [line for line in lines if line["event"] == "frame"]
    for line, frame in zip(recorded, [*frames, deep], strict=True):
        assert (line["frame_id"], line["host_ns"]) == (frame.frame_id, frame.host_ns)
        assert line["pixel_format"] == frame.pixel_format
        image = cv2.imread(str(tmp_path / "rec" / str(line["file"])), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(image, frame.image)
    assert lines[2] == {"event": "gap", "frame_id": 2, "count": 3, "reason": "lost on the wire"}
    session = json.loads((tmp_path / "rec" / SESSION).read_text())
    assert session["note"] == "test"
    assert session["summary"]["frames"] == 5


def test_frames_the_writer_cannot_take_are_listed_not_dropped(tmp_path: Path) -> None:
    frames = simulated_frames(3)
    recorder = Recorder(tmp_path, "cam", queue_frames=0)  # a disk that never keeps up
    for frame in frames:
        recorder.add(frame)
    summary = recorder.close({})
    assert (summary.frames, summary.not_recorded) == (0, 3)
    assert [(line["event"], line["frame_id"]) for line in sidecar(tmp_path)] == [
        ("not_recorded", f.frame_id) for f in frames
    ]


def test_a_recording_refuses_to_overwrite_another(tmp_path: Path) -> None:
    Recorder(tmp_path, "cam").close({})
    with pytest.raises(FileExistsError, match="already holds a recording"):
        Recorder(tmp_path, "cam")


def test_a_recorded_session_replays_frame_for_frame(tmp_path: Path) -> None:
    line = SimulatedLine(6_000, defect_rate=0.3, seed=7_100_000, pool_size=4)
    with line:
        summary = record(line, tmp_path / "rec", 0.25, {"camera": "simulated"})
    assert summary.frames >= 10
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["replay", str(tmp_path / "rec"), "--out", str(out), "--jobs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "decisions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(summary.files)
    assert {r["status"] for r in rows} == {"decided"}


@pytest.mark.genicam
def test_camera_commands_list_dump_and_record_the_viky_cameras(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["camera", "list"])
    assert listed.exit_code == 0, listed.output
    assert all(f"│ {serial} " in listed.output for serial in "012")
    dumped = runner.invoke(main, ["camera", "features", "--serial", "1"])
    assert dumped.exit_code == 0, dumped.output
    width_row = next(line for line in dumped.output.splitlines() if "│ Width " in line)
    assert "RW" in width_row and "100..800" in width_row
    missing = runner.invoke(main, ["camera", "features", "--serial", "5"])
    assert missing.exit_code == 2
    assert "no camera with serial '5'" in missing.output

    config = tmp_path / "station.toml"
    config.write_text(
        '[camera]\nkind = "genicam"\npixel_format = "Mono8"\nwidth = 320\nheight = 240\nframe_rate_hz = 50'
    )
    command = ["camera", "record", str(tmp_path / "rec"), "--seconds", "1", "--config", str(config)]
    recorded = runner.invoke(main, command)
    assert recorded.exit_code == 0, recorded.output
    session = json.loads((tmp_path / "rec" / SESSION).read_text())
    assert session["features"]["Width"] == "320"
    assert session["device"]["serial"] == "0"
    frames = [line for line in sidecar(tmp_path / "rec") if line["event"] == "frame"]
    assert 35 <= len(frames) <= 60  # 1 s at 50 fps
    assert session["summary"]["frames"] == len(frames)
    assert f"recorded {len(frames)} frames" in recorded.output
    image = cv2.imread(str(tmp_path / "rec" / str(frames[0]["file"])), cv2.IMREAD_UNCHANGED)
    assert image is not None
    assert image.shape == (240, 320)


def test_a_genicam_config_with_a_bad_field_names_it(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text('[camera]\nkind = "genicam"\nbufers = 8\n')
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert "camera.genicam.bufers" in result.output or "camera.bufers" in result.output
