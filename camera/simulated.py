"""A simulated production line: rendered flanges arriving at a set rate, some defective."""

from __future__ import annotations

import time

import numpy as np

from camera.frames import Frame, SourceEvent
from camera.sim import RenderedPart, SceneParams, render_part
from camera.source import PacedSource


class SimulatedLine(PacedSource):
    """Parts `seed`, `seed + 1`, ... at `parts_per_minute`.

    Rendering takes ~40 ms a part, so for high rates a pool of `pool_size` parts is rendered at
    open and cycled (frame and part ids keep counting); `pool_size = 0` renders every part live.
    """

    def __init__(
        self,
        parts_per_minute: float,
        *,
        defect_rate: float = 0.1,
        seed: int = 2_000_000_000,
        pool_size: int = 64,
        params: SceneParams | None = None,
        source_id: str = "simulated",
    ) -> None:
        super().__init__(parts_per_minute / 60.0, source_id)
        self.defect_rate = defect_rate
        self.seed = seed
        self.pool_size = pool_size
        self.params = params or SceneParams()
        self._pool: list[RenderedPart] = []
        self._frame_id = 0

    def _render(self, n: int) -> RenderedPart:
        defective = bool(np.random.default_rng((self.seed, n)).random() < self.defect_rate)
        return render_part(self.seed + n, defective=defective, params=self.params)

    def open(self) -> None:
        self._pool = [self._render(n) for n in range(self.pool_size)]

    def read(self, timeout_s: float) -> SourceEvent | None:
        if not self.next_tick(timeout_s):
            return None
        n = self._frame_id
        self._frame_id += 1
        part = self._pool[n % self.pool_size] if self._pool else self._render(n)
        return Frame(
            source_id=self.source_id,
            frame_id=n,
            host_ns=time.monotonic_ns(),
            pixel_format="Mono8",
            image=part.image,
            part_id=f"{self.source_id}-{n:09d}",
            truth=part.defects,
        )

    def close(self) -> None:
        self._pool = []
