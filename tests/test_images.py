"""Image retention: non-pass parts always kept, 1 in N passes, a disk cap that evicts passes first."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import cv2
import numpy as np

from inspection.config import load_config
from inspection.config.station import RetentionConfig
from inspection.station.build import run_station
from inspection.station.images import ImageStore


def picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (60, 80), dtype=np.uint8)


def test_every_non_pass_image_is_kept_and_one_pass_in_n_losslessly(tmp_path: Path) -> None:
    store = ImageStore(tmp_path, RetentionConfig(keep_pass_every=5))
    heatmap = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    verdicts = ["pass"] * 20 + ["reject", "uncertain", "failsafe"]
    for seq, verdict in enumerate(verdicts, start=1):
        store.offer(
            seq,
            verdict,
            "model_error" if verdict == "failsafe" else "",
            picture(seq),
            None if verdict == "failsafe" else heatmap,
        )
    store.offer(24, "failsafe", "overload", picture(24), None)  # shed because the CPU is saturated: not pictured
    store.close()
    passes = sorted(p.name for p in (tmp_path / "pass").iterdir())
    assert passes == [f"{seq:012d}-{kind}.tiff" for seq in (5, 10, 15, 20) for kind in ("frame", "heatmap")]
    assert sorted(p.name for p in (tmp_path / "reject").iterdir()) == [
        "000000000021-frame.tiff",
        "000000000021-heatmap.tiff",
    ]
    assert [p.name for p in (tmp_path / "failsafe").iterdir()] == ["000000000023-frame.tiff"]
    frame = cv2.imread(str(tmp_path / "uncertain" / "000000000022-frame.tiff"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(frame, picture(22))
    assert not list(tmp_path.rglob("*.part"))
    assert store.problem is None


def test_the_cap_evicts_the_oldest_passes_and_never_a_reject(tmp_path: Path) -> None:
    one = len(cv2.imencode(".tiff", picture(0), [cv2.IMWRITE_TIFF_COMPRESSION, 1])[1])
    policy = RetentionConfig(keep_pass_every=1, max_disk_mb=5.5 * one / 2**20)
    store = ImageStore(tmp_path, policy)
    for seq in range(1, 9):
        store.offer(seq, "pass", "", picture(seq), None)
    for seq in range(9, 13):
        store.offer(seq, "reject", "", picture(seq), None)
    store.close()
    assert sorted(p.name[:12] for p in (tmp_path / "pass").iterdir()) == ["000000000008"]  # the newest pass
    assert store.evicted == 7
    assert store.problem is None
    store = ImageStore(tmp_path, policy)
    for seq in range(13, 15):
        store.offer(seq, "reject", "", picture(seq), None)
    store.close()
    assert not list((tmp_path / "pass").iterdir())
    assert len(list((tmp_path / "reject").iterdir())) == 6  # over the cap: rejects are still kept
    assert store.problem is not None and "no passes left to evict" in store.problem
    reopened = ImageStore(tmp_path, policy)  # the usage is found again after a restart
    reopened.close()
    assert reopened.bytes_used == store.bytes_used


def test_a_full_image_queue_is_counted_and_reported_not_waited_for(tmp_path: Path) -> None:
    store = ImageStore(tmp_path, RetentionConfig(queue_images=1))
    big = np.random.default_rng(1).integers(0, 256, (6000, 8000), dtype=np.uint8)  # ~50 MB a picture
    for seq in range(1, 30):
        store.offer(seq, "reject", "", big, None)
    assert store.not_stored > 0
    assert store.problem is not None and "image writer behind" in store.problem
    store.close()
    assert len(list((tmp_path / "reject").iterdir())) + store.not_stored == 29


def test_the_station_keeps_images_beside_its_decisions(tmp_path: Path) -> None:
    file = tmp_path / "station.toml"
    file.write_text(
        "[camera]\nparts_per_minute = 3000\npool_size = 6\ndefect_rate = 0.5\n[model]\nverify_golden = false\n"
        '[monitoring]\nport = 0\n[storage]\ndata_dir = "data"\n[storage.images]\nkeep_pass_every = 10\n'
    )
    run_station(load_config(file), threading.Event(), max_parts=40)
    db = sqlite3.connect(tmp_path / "data" / "station.db")
    rows = db.execute("SELECT seq, verdict FROM decisions").fetchall()
    db.close()
    images = tmp_path / "data" / "images"
    for seq, verdict in rows:
        kept = (images / verdict / f"{seq:012d}-frame.tiff").exists()
        assert kept == (verdict != "pass" or seq % 10 == 0), (seq, verdict)
