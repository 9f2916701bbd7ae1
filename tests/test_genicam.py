"""The GenICam path against the real `viky.cti` producer through harvesters: no mocks.

viky offers three virtual cameras (serials 0, 1, 2; a red, a green and a blue bouncing ball),
Mono8 and RGBa8 up to 800x800 and up to 200 fps, and no trigger features.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil
import pytest

from camera.frames import Fault, Frame, Gap, SourceEvent
from camera.genicam.acquisition import Acquisition
from camera.genicam.discovery import ENV_PATH, bundled_producer, harvester, list_devices, producer_files, select_device
from camera.genicam.features import apply_features
from camera.genicam.ring import FAULT, FRAME, Ring, RingReader
from camera.genicam.source import GenicamSource
from inspection.config.camera import DeviceSelector, GenicamSourceConfig
from inspection.errors import CameraError

pytestmark = pytest.mark.genicam


def small(**changes: object) -> GenicamSourceConfig:
    settings: dict[str, object] = {"pixel_format": "Mono8", "width": 200, "height": 160, "frame_rate_hz": 100}
    return GenicamSourceConfig.model_validate(settings | changes)


def collect(source: GenicamSource, seconds: float, until: type | None = None) -> list[SourceEvent]:
    """Events for `seconds`, or up to and including the first of type `until`."""
    events: list[SourceEvent] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = source.read(0.2)
        if event is not None:
            events.append(event)
        if until is not None and isinstance(event, until):
            break
    return events


def frames_after(source: GenicamSource, first: type, seconds: float = 10.0) -> tuple[list[SourceEvent], list[Frame]]:
    """Events up to and including the first of type `first`, then the frames that follow it."""
    deadline = time.monotonic() + seconds
    before = collect(source, seconds, until=first)
    after: list[Frame] = []
    while not after and time.monotonic() < deadline:
        after = [e for e in collect(source, 0.5) if isinstance(e, Frame)]
    return before, after


def test_discovery_finds_the_three_viky_cameras_and_selects_them() -> None:
    with harvester(producer_files([])) as h:
        devices = list_devices(h)
    assert [d.serial for d in devices] == ["0", "1", "2"]
    assert {d.model for d in devices} == {"Viky"}
    assert all(Path(d.producer).name == "viky.cti" for d in devices)
    assert select_device(devices, DeviceSelector(serial="2")) == 2
    assert select_device(devices, DeviceSelector(model="Viky")) == 0
    assert select_device(devices, DeviceSelector(index=1)) == 1
    with pytest.raises(CameraError, match=r"no camera with serial '9'; cameras found: \[0\].*serial 0.*serial 2"):
        select_device(devices, DeviceSelector(serial="9"))
    with pytest.raises(CameraError, match="no camera with user_name 'left'"):
        select_device(devices, DeviceSelector(user_name="left"))


def test_producers_come_from_config_then_environment_then_the_bundled_one(tmp_path: Path) -> None:
    env_dir = tmp_path / "gentl"
    env_dir.mkdir()
    (env_dir / "vendor.cti").write_bytes(bundled_producer().read_bytes())
    found = producer_files([], {ENV_PATH: str(env_dir)})
    assert found == [(env_dir / "vendor.cti").resolve(), bundled_producer().resolve()]
    with pytest.raises(CameraError, match=r"missing\.cti does not exist; producers found on this machine: .*viky\.cti"):
        producer_files([tmp_path / "missing.cti"], {})


def test_features_are_applied_read_back_and_wrong_values_name_what_is_allowed() -> None:
    with harvester(producer_files([])) as h:
        acquirer = h.create(0)
        try:
            node_map = acquirer.remote_device.node_map
            applied = apply_features(node_map, small(width=640, height=480, frame_rate_hz=50.0))
            assert applied["Width"] == "640"
            assert applied["Height"] == "480"
            assert applied["PixelFormat"] == "Mono8"
            assert float(applied["AcquisitionFrameRate"]) == 50.0
            wrong = {
                "width": (5, "Width = 5: allowed range is 100..800"),
                "pixel_format": ("BayerRG8", "PixelFormat = 'BayerRG8': allowed values are RGBa8, Mono8"),
                "frame_rate_hz": (500.0, r"AcquisitionFrameRate = 500.0: allowed range is 1.0..200.0"),
                "exposure_us": (100.0, "'ExposureTime' does not exist on this camera"),
                "features": ({"AcquisitionMode": "SingleFrame"}, r"AcquisitionMode = 'SingleFrame'.*not writable"),
                "trigger": ({"mode": "software"}, "this camera has no trigger features"),
            }
            for field, (value, message) in wrong.items():
                with pytest.raises(CameraError, match=message):
                    apply_features(node_map, small(**{field: value}))
            with pytest.raises(CameraError, match=r"'BouncingBallSise' does not exist.*did you mean BouncingBallSize"):
                apply_features(node_map, small(features={"BouncingBallSise": 3}))
        finally:
            acquirer.destroy()


def test_mono8_frames_are_immutable_copies_with_ids_and_host_times() -> None:
    with GenicamSource(small(width=320, height=240), source_id="cam-a") as source:
        events = collect(source, 0.6)
        assert source.features["Width"] == "320"
        assert source.device is not None and source.device.serial == "0"
    frames = [e for e in events if isinstance(e, Frame)]
    assert len(frames) >= 20
    assert not [e for e in events if not isinstance(e, Frame)]
    first = frames[0]
    assert (first.image.shape, first.image.dtype, first.pixel_format) == ((240, 320), np.dtype(np.uint8), "Mono8")
    assert first.source_id == "cam-a"
    assert not first.image.flags.writeable
    assert [f.frame_id for f in frames] == list(range(frames[0].frame_id, frames[0].frame_id + len(frames)))
    assert all(b.host_ns > a.host_ns for a, b in itertools.pairwise(frames))
    assert first.device_timestamp_ns is None  # viky gives none; we never invent one
    assert len({f.image.tobytes() for f in frames[:10]}) > 1  # copies, not one reused buffer


@pytest.mark.parametrize(("serial", "brightest"), [("0", 2), ("2", 0)])
def test_rgba8_arrives_as_bgra_with_the_right_colour(serial: str, brightest: int) -> None:
    config = small(pixel_format="RGBa8", device={"serial": serial})
    with GenicamSource(config) as source:
        event = source.read(3.0)
    assert isinstance(event, Frame)
    assert (event.image.shape, event.pixel_format) == ((160, 200, 4), "BGRa8")
    channel_means = event.image[..., :3].reshape(-1, 3).mean(axis=0)
    assert int(np.argmax(channel_means)) == brightest  # camera 0 is red (BGR index 2), camera 2 blue


def test_start_stop_cycles_restart_the_frame_count_without_gaps() -> None:
    source = GenicamSource(small())
    source.open()
    try:
        for _ in range(3):
            source.start()
            events = collect(source, 0.3)
            source.stop()
            events += collect(source, 0.1)  # frames taken before the stop still arrive, in order
            frames = [e for e in events if isinstance(e, Frame)]
            assert frames, "no frames after start"
            assert not [e for e in events if isinstance(e, Gap | Fault)]
            ids = [f.frame_id for f in frames]
            assert ids == list(range(ids[0], ids[0] + len(ids)))
        assert source.read(0.3) is None  # stopped: nothing arrives
    finally:
        source.close()
    assert source.pid is None


def test_open_errors_say_what_is_there() -> None:
    with pytest.raises(CameraError, match=r"no camera with serial '42'; cameras found: .*Viky serial 1"):
        GenicamSource(small(device={"serial": "42"})).open()
    with pytest.raises(CameraError, match="PixelFormat = 'Mono12': allowed values are RGBa8, Mono8"):
        GenicamSource(small(pixel_format="Mono12")).open()


def test_a_killed_acquisition_process_is_a_fault_then_a_replacement_delivers() -> None:
    with GenicamSource(small()) as source:
        assert [e for e in collect(source, 0.3) if isinstance(e, Frame)]
        first_pid = source.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        before, after = frames_after(source, Fault)
        assert isinstance(before[-1], Fault)
        assert "exited with code -9" in before[-1].reason
        assert after, "no frames after the replacement started"
        assert source.pid != first_pid
        assert (source.stats.restarts, source.stats.faults) == (1, 1)


def test_a_hung_acquisition_process_is_killed_and_replaced() -> None:
    with GenicamSource(small(hang_timeout_s=0.5)) as source:
        assert source.read(2.0) is not None
        hung = source.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)  # as if harvesters never returned from native code
        before, after = frames_after(source, Fault)
        assert isinstance(before[-1], Fault)
        assert "silent for" in before[-1].reason
        assert after
        assert not psutil.pid_exists(hung) or psutil.Process(hung).status() == psutil.STATUS_ZOMBIE


def test_an_acquirer_destroyed_under_the_running_loop_is_a_fault_and_a_reconnect() -> None:
    """Drives the acquisition loop in this process, step by step, and pulls the acquirer from under it."""
    import multiprocessing  # noqa: PLC0415

    station_ctrl, ctrl = multiprocessing.Pipe()
    notify_read, notify = multiprocessing.Pipe(duplex=False)
    loop = Acquisition(small(backoff_s=(0.01, 0.05)), producer_files([]), ctrl, notify)
    assert loop.first_open(retry_open=False)
    kind, opened = station_ctrl.recv()
    assert kind == "ready"
    ring = Ring.create(opened.geometry, 16)
    reader = RingReader(ring)
    try:
        station_ctrl.send(("attach", str(ring.path), 16))
        station_ctrl.send(("start",))
        records = []

        def run_until(kind: int) -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                loop.step()
                while (record := reader.next()) is not None:
                    records.append(record)
                    if record.kind == kind:
                        return
            raise AssertionError(f"no record of kind {kind}")

        run_until(FRAME)
        loop.session._acquirer.destroy()  # the acquirer vanishes under the running loop
        run_until(FAULT)
        assert "fetching a frame failed" in records[-1].text
        run_until(FRAME)  # reconnected: rediscovered, features re-applied, started again
        assert loop.opened is not None and loop.opened.features["Width"] == "200"
    finally:
        loop.session.close()
        ring.unlink()
        ring.close()
        for conn in (station_ctrl, ctrl, notify_read, notify):
            conn.close()


@pytest.mark.slow
def test_open_start_stop_close_cycles_leak_neither_memory_nor_descriptors() -> None:
    """200 full cycles; RSS and open descriptors stay within 5% of where they were after 20."""
    me = psutil.Process()
    samples: list[tuple[int, int]] = []
    for cycle in range(200):
        with GenicamSource(small()) as source:
            assert isinstance(source.read(2.0), Frame)
        if cycle in (19, 199):
            samples.append((me.memory_info().rss, me.num_fds()))
    (rss_20, fds_20), (rss_200, fds_200) = samples
    assert rss_200 <= rss_20 * 1.05, f"RSS grew from {rss_20} to {rss_200} bytes"
    assert fds_200 <= fds_20 * 1.05, f"descriptors grew from {fds_20} to {fds_200}"
    assert not [p for p in Path("/dev/shm").glob("inspection-ring-*")]


def test_events_are_counted_by_kind_in_stats() -> None:
    with GenicamSource(small()) as source:
        events = collect(source, 0.3)
    counts = Counter(type(e).__name__ for e in events)
    assert counts["Frame"] == source.stats.frames > 0
    assert source.stats.frames_missing == 0


def test_a_replacement_that_cannot_start_is_a_fault_and_is_retried(tmp_path: Path) -> None:
    producer = tmp_path / "vendor.cti"
    producer.write_bytes(bundled_producer().read_bytes())
    with GenicamSource(small(producers=[producer], backoff_s=(0.1, 0.5))) as source:
        assert isinstance(source.read(3.0), Frame)
        hidden = producer.rename(tmp_path / "vendor.cti.away")  # the producer vanishes...
        pid = source.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # ...and the acquisition process with it
        faults = [e for e in collect(source, 1.0) if isinstance(e, Fault)]
        assert any("cannot start an acquisition process" in f.reason and "vendor.cti" in f.reason for f in faults)
        hidden.rename(producer)
        _, after = frames_after(source, Frame)
        assert after, "no frames once the producer was back"
