"""Image health beside the hot path: one frame in N is compared with the calibration reference.

The check runs in its own thread on a one-slot mailbox, so a slow check skips samples instead of
delaying parts. While the image fails, the station decides parts `failsafe`/`image_health` (or
only reports it, when configured): a blurred or dark camera must not let parts pass unseen.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading

import numpy as np

from calibration.health import HealthCheck, HealthReference, HealthStatus
from calibration.record import load_record
from inspection.config.calibration import HealthConfig

log = logging.getLogger(__name__)


class ImageHealthWatch:
    def __init__(self, check: HealthCheck, every_n: int, failsafe: bool) -> None:
        self.check = check
        self.every_n = every_n
        self.failsafe = failsafe  # False: a failing image is reported, parts are still decided
        self.status: HealthStatus | None = None
        self.checked = 0
        self._mailbox: queue.Queue[np.ndarray | None] = queue.Queue(1)
        self._thread = threading.Thread(target=self._loop, name="image-health", daemon=True)
        self._thread.start()

    def offer(self, seq: int, image: np.ndarray) -> None:
        """Called for every frame on the acquisition thread; never waits."""
        if seq % self.every_n:
            return
        with contextlib.suppress(queue.Full):  # the previous sample is still being checked; skip this one
            self._mailbox.put_nowait(image)

    @property
    def level(self) -> str:
        return "ok" if self.status is None else self.status.level

    @property
    def failing(self) -> bool:
        return self.level == "fail"

    def problem(self) -> str:
        """'ok', or the level and what drifted, for /healthz."""
        status = self.status
        if status is None or status.level == "ok":
            return "ok"
        return f"{status.level}: " + "; ".join(status.problems)

    def close(self) -> None:
        self._mailbox.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while (image := self._mailbox.get()) is not None:
            previous = self.level
            try:
                self.status = self.check.check(image)
            except Exception:  # a frame the check cannot read must not kill the watch
                log.exception("image-health check failed on a frame")
                continue
            self.checked += 1
            if self.status.level != previous:
                log.warning("image health %s -> %s: %s", previous, self.status.level, self.problem())


def start_watch(config: HealthConfig | None) -> ImageHealthWatch | None:
    if config is None:
        return None
    reference = load_record(config.reference, HealthReference)
    return ImageHealthWatch(
        HealthCheck(reference, config.limits), config.limits.every_n_frames, config.on_fail == "failsafe"
    )
