"""The image store: every non-pass part's frame and heatmap kept, 1 in N passes, under a disk cap.

Files are named by part sequence (`<verdict>/<seq>-frame.tiff`), so the oldest passes are the
first names in the pass folder and eviction needs no index. The format is a measured choice:
uncompressed TIFF is lossless and takes 0.11 ms per 800x600 frame here, PNG 4.4 ms (level 0) to
9.3 ms (level 1); at 50 non-pass parts/s PNG cost half of one of our two cores and pushed the
station into overload in `inspection bench`. (The review UI encodes PNG on demand for browsers.)
Writing happens on a thread behind a bounded queue: a part whose image cannot be queued is still
decided and recorded, and the miss is counted and shown in /healthz, never silent.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from inspection.config.station import RetentionConfig
from inspection.errors import ConfigError

log = logging.getLogger(__name__)
Item = tuple[int, str, np.ndarray, np.ndarray | None]
SUFFIX = ".tiff"


class ImageStore:
    def __init__(self, root: Path, policy: RetentionConfig) -> None:
        self.root = root
        self.policy = policy
        self.not_stored = 0  # images dropped because the writer was behind
        self.evicted = 0
        self.problem: str | None = None
        self._passes: deque[tuple[Path, int]] = deque()
        self.bytes_used = 0
        for folder in ("pass", "reject", "uncertain", "failsafe"):
            try:
                (root / folder).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"storage.data_dir: cannot create the image store {root}: {exc}") from exc
            for path in sorted((root / folder).glob(f"*{SUFFIX}")):
                size = path.stat().st_size
                self.bytes_used += size
                if folder == "pass":
                    self._passes.append((path, size))
        self._queue: queue.Queue[Item | None] = queue.Queue(policy.queue_images)
        self._thread = threading.Thread(target=self._write_loop, name="image-store", daemon=True)
        self._thread.start()

    def offer(
        self, seq: int, verdict: str, reason: str, image: np.ndarray, heatmap: np.ndarray | None
    ) -> tuple[Path, ...]:
        """Called on the hot path: decides whether to keep the picture and queues it, never waits.

        Returns the files that will hold the pictures (none when they are not kept).

        Parts shed for overload are not pictured: they were shed because the CPU is saturated,
        and writing their images measurably deepened the overload (inspection bench: 348 -> 206
        parts/s at full load). Their decisions are recorded like every other.
        """
        if (verdict == "pass" and seq % self.policy.keep_pass_every) or reason == "overload":
            return ()
        try:
            self._queue.put_nowait((seq, verdict, image, heatmap))
        except queue.Full:
            self.not_stored += 1
            self.problem = f"image writer behind: {self.not_stored} images not stored"
            return ()
        kinds = ("frame",) if heatmap is None else ("frame", "heatmap")
        return tuple(self.path(seq, verdict, kind) for kind in kinds)

    def path(self, seq: int, verdict: str, kind: str) -> Path:
        return self.root / verdict / f"{seq:012d}-{kind}{SUFFIX}"

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            seq, verdict, image, heatmap = item
            try:
                self._write(seq, verdict, image, heatmap)
                if self._queue.empty() and (self.problem or "").startswith("image writer behind"):
                    self.problem = None  # caught up; the count of images not stored stays
            except OSError as exc:
                self.not_stored += 1
                self.problem = f"cannot write images to {self.root}: {exc}"
                log.error(self.problem)

    def _write(self, seq: int, verdict: str, image: np.ndarray, heatmap: np.ndarray | None) -> None:
        pictures = [("frame", image)]
        if heatmap is not None:
            pictures.append(("heatmap", np.clip(heatmap * 255.0, 0, 255).astype(np.uint8)))
        for kind, picture in pictures:
            ok, encoded = cv2.imencode(SUFFIX, picture, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
            if not ok:
                raise OSError(f"encoding the {kind} of part {seq} failed")
            path = self.path(seq, verdict, kind)
            partial = path.with_suffix(".part")
            partial.write_bytes(encoded.data)  # the encoder's buffer itself: no 480 KB copy per frame
            partial.replace(path)  # a crash never leaves half an image under a real name
            self.bytes_used += len(encoded)
            if verdict == "pass":
                self._passes.append((path, len(encoded)))
        self._keep_within_limits()

    def _keep_within_limits(self) -> None:
        cap = self.policy.max_disk_mb * 2**20
        while self.bytes_used > cap and self._passes:
            path, size = self._passes.popleft()
            path.unlink(missing_ok=True)
            self.bytes_used -= size
            self.evicted += 1
        free_mb = shutil.disk_usage(self.root).free / 2**20
        if self.bytes_used > cap:
            self.problem = f"image store over its cap ({self.bytes_used / 2**20:.0f} MB) with no passes left to evict"
        elif free_mb < self.policy.low_disk_mb:
            self.problem = f"low disk: {free_mb:.0f} MB free under {self.root}"
        elif self.problem is not None and not self.problem.startswith("image writer behind"):
            self.problem = None
