"""Frame sources behind one interface: image folders and the simulated line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camera.factory import build_source
from camera.folder import FolderSource
from camera.frames import EndOfStream, Frame, Gap
from camera.simulated import SimulatedLine
from inspection.config import StationConfig, load_config
from inspection.config.camera import FolderSourceConfig, SimulatedSourceConfig
from inspection.config.loader import ConfigFileError
from tests.replay_folders import write_broken, write_valid


def frames_until_end(source: FolderSource, limit: int = 100) -> list[Frame | Gap]:
    events: list[Frame | Gap] = []
    for _ in range(limit):
        event = source.read(timeout_s=1.0)
        if isinstance(event, EndOfStream):
            return events
        assert isinstance(event, Frame | Gap), event
        events.append(event)
    raise AssertionError("no EndOfStream")


def test_folder_source_plays_every_file_once_in_order(tmp_path: Path) -> None:
    paths = write_valid(tmp_path, 6, distinct=6)
    with FolderSource(tmp_path, source_id="cam1") as source:
        assert isinstance(source, FolderSource)
        events = frames_until_end(source)
    frames = [e for e in events if isinstance(e, Frame)]
    assert [f.frame_id for f in frames] == list(range(6))
    assert sorted(f.part_id or "" for f in frames) == sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    formats = {f.part_id.split("-", 1)[1].split(".")[0]: f.pixel_format for f in frames if f.part_id}
    assert formats == {
        "mono8": "Mono8",
        "mono16": "Mono16",
        "bgra": "BGRa8",
        "bgr_jpg": "BGR8",
        "bmp": "Mono8",
        "tif16": "Mono16",
    }
    assert all(not f.image.flags.writeable and f.source_id == "cam1" for f in frames)


def test_unreadable_file_is_a_gap_with_its_reason_not_a_skip(tmp_path: Path) -> None:
    write_valid(tmp_path / "a", 2, distinct=2)
    write_broken(tmp_path / "b", "truncated", 0)
    write_valid(tmp_path / "c", 1, distinct=1)
    with FolderSource(tmp_path) as source:
        assert isinstance(source, FolderSource)
        events = frames_until_end(source)
    assert [type(e).__name__ for e in events] == ["Frame", "Frame", "Gap", "Frame"]
    gap = events[2]
    assert isinstance(gap, Gap)
    assert (gap.first_frame_id, gap.count) == (2, 1)
    assert "truncated-0.png" in gap.reason and "not a decodable image" in gap.reason
    assert events[3].frame_id == 3 if isinstance(events[3], Frame) else False


def test_looping_folder_keeps_counting_frames(tmp_path: Path) -> None:
    write_valid(tmp_path, 3, distinct=3)
    with FolderSource(tmp_path, loop=True) as source:
        ids = [e.frame_id for e in (source.read(1.0) for _ in range(7)) if isinstance(e, Frame)]
    assert ids == list(range(7))


def test_paced_source_returns_none_before_the_next_frame_is_due(tmp_path: Path) -> None:
    write_valid(tmp_path, 3, distinct=3)
    with FolderSource(tmp_path, rate_hz=2.0) as source:
        assert isinstance(source.read(1.0), Frame)  # the first tick is due at start
        assert source.read(0.01) is None  # the next is 500 ms away
        assert isinstance(source.read(1.0), Frame)


def test_folder_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        FolderSource(tmp_path / "nowhere").open()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty holds no png"):
        FolderSource(tmp_path / "empty").open()


def test_reading_a_source_that_is_not_started_is_an_error(tmp_path: Path) -> None:
    write_valid(tmp_path, 1, distinct=1)
    source = FolderSource(tmp_path)
    source.open()
    with pytest.raises(RuntimeError, match="not started"):
        source.read(0.1)


def test_simulated_line_is_deterministic_and_knows_the_truth() -> None:
    def run(pool_size: int) -> list[Frame]:
        with SimulatedLine(60_000, defect_rate=0.5, seed=7, pool_size=pool_size) as line:
            events = [line.read(1.0) for _ in range(12)]
        return [e for e in events if isinstance(e, Frame)]

    live, again = run(0), run(0)
    assert [f.frame_id for f in live] == list(range(12))
    assert len({f.part_id for f in live}) == 12
    for a, b in zip(live, again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        assert a.truth == b.truth
    assert any(f.truth for f in live) and any(not f.truth for f in live)
    pooled = run(4)
    np.testing.assert_array_equal(pooled[0].image, pooled[4].image)  # the pool cycles
    assert pooled[0].part_id != pooled[4].part_id  # while parts stay distinct
    np.testing.assert_array_equal(pooled[1].image, live[1].image)  # the same renders either way


def test_defect_rate_is_respected_over_many_parts() -> None:
    with SimulatedLine(600_000, defect_rate=0.2, seed=11, pool_size=120) as line:
        frames = [line.read(1.0) for _ in range(120)]
    share = np.mean([bool(f.truth) for f in frames if isinstance(f, Frame)])
    assert 0.12 <= share <= 0.28


def test_config_chooses_the_source_by_kind(tmp_path: Path) -> None:
    assert isinstance(StationConfig().camera, SimulatedSourceConfig)
    assert isinstance(build_source(StationConfig().camera, "line1"), SimulatedLine)
    write_valid(tmp_path / "frames", 1, distinct=1)
    file = tmp_path / "station.toml"
    file.write_text('[camera]\nkind = "folder"\npath = "frames"\nrate_hz = 5\n')
    config = load_config(file)
    assert isinstance(config.camera, FolderSourceConfig)
    assert config.camera.path == tmp_path / "frames"
    source = build_source(config.camera, "cam")
    assert isinstance(source, FolderSource) and source.source_id == "cam"


def test_unknown_source_kind_names_the_field(tmp_path: Path) -> None:
    file = tmp_path / "station.toml"
    file.write_text('[camera]\nkind = "webcam"\n')
    with pytest.raises(ConfigFileError) as caught:
        load_config(file)
    (issue,) = caught.value.issues
    assert issue.path == "camera" and issue.line == 1
    assert "'simulated' (the default), 'folder' or 'genicam'" in issue.message
