"""Image files played as a camera: once or looping, paced at a set rate."""

from __future__ import annotations

import time
from pathlib import Path

from camera.frames import EndOfStream, Frame, Gap, SourceEvent
from camera.pixel_format import pixel_format_of
from camera.source import PacedSource
from inspection.errors import ImageError
from inspection.images import read_image, walk_image_files


class FolderSource(PacedSource):
    """Each file is one part; an unreadable file is a `Gap` naming it, never a silent skip."""

    def __init__(
        self, folder: Path, rate_hz: float | None = None, loop: bool = False, source_id: str = "folder"
    ) -> None:
        super().__init__(rate_hz, source_id)
        self.folder = folder
        self.loop = loop
        self._files: list[Path] = []
        self._next = 0
        self._frame_id = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"image folder {self.folder} does not exist")
        self._files = list(walk_image_files(self.folder))
        if not self._files:
            raise FileNotFoundError(f"image folder {self.folder} holds no png, jpg, bmp or tif files")

    def read(self, timeout_s: float) -> SourceEvent | None:
        if not self._running:
            raise RuntimeError(f"source {self.source_id} is not started")
        if self._next == len(self._files):
            if not self.loop:
                return EndOfStream(self.source_id, self._frame_id)
            self._next = 0
        if not self.next_tick(timeout_s):
            return None
        path = self._files[self._next]
        self._next += 1
        frame_id, self._frame_id = self._frame_id, self._frame_id + 1
        try:
            image = read_image(path)
        except ImageError as exc:
            return Gap(self.source_id, frame_id, 1, f"unreadable file: {exc}", time.monotonic_ns())
        return Frame(
            source_id=self.source_id,
            frame_id=frame_id,
            host_ns=time.monotonic_ns(),
            pixel_format=pixel_format_of(image),
            image=image,
            part_id=path.relative_to(self.folder).as_posix(),
        )

    def close(self) -> None:
        self._files = []
