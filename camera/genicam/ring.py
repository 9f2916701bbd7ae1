"""A shared-memory ring of frame slots between the acquisition process and the station.

One writer (the acquisition process), one reader (the station). Records (frames, gaps, faults)
carry a sequence number; the writer never waits for the reader, so a reader that falls more than
`slots` records behind finds them overwritten and reports exactly how many it lost. The writer
pokes a pipe after each record so the reader can sleep in `select` instead of polling.

The backing file lives in /dev/shm and is unlinked as soon as both sides have mapped it, so a
killed process can never leave it behind.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME, GAP, FAULT = 1, 2, 3
ALIGN = 64
HEADER = np.dtype([("published", "<i8"), ("heartbeat_ns", "<i8")])
RECORD = np.dtype(
    [
        ("seq", "<i8"),
        ("kind", "<i4"),
        ("epoch", "<i4"),
        ("frame_id", "<i8"),
        ("count", "<i8"),
        ("host_ns", "<i8"),
        ("device_ns", "<i8"),  # -1: the device gives no timestamp
        ("text", "S240"),  # a gap's or fault's reason
    ]
)


@dataclass(frozen=True, slots=True)
class Geometry:
    """The converted frame every slot holds; fixed for a ring's lifetime."""

    shape: tuple[int, ...]
    dtype: str
    pixel_format: str

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    kind: int
    epoch: int
    frame_id: int
    count: int
    host_ns: int
    device_ns: int
    text: str
    image: np.ndarray | None


def _aligned(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


class Ring:
    """The mapped memory, seen through typed numpy views; both sides build the same views."""

    def __init__(self, path: Path, geometry: Geometry, slots: int, *, create: bool) -> None:
        self.path, self.geometry, self.slots = path, geometry, slots
        records_at = _aligned(HEADER.itemsize)
        data_at = records_at + _aligned(RECORD.itemsize * slots)
        slot_bytes = _aligned(geometry.nbytes)
        size = data_at + slot_bytes * slots
        fd = os.open(path, os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0), 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        buffer = memoryview(self._map)
        self.header = np.ndarray((), HEADER, buffer, 0)
        self.records = np.ndarray((slots,), RECORD, buffer, records_at)
        self.images = [
            np.ndarray(geometry.shape, geometry.dtype, buffer, data_at + i * slot_bytes) for i in range(slots)
        ]

    @classmethod
    def create(cls, geometry: Geometry, slots: int) -> Ring:
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()  # noqa: PTH112
        path = Path(tempfile.mktemp(prefix="inspection-ring-", dir=folder))
        ring = cls(path, geometry, slots, create=True)
        ring.header["heartbeat_ns"] = time.monotonic_ns()  # alive from the start, until the writer says more
        return ring

    def unlink(self) -> None:
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        # Views must go before the map; a reader's copies never point into it.
        del self.header, self.records, self.images
        self._map.close()


class RingWriter:
    """The acquisition side: fill `next_image()`, then publish; never blocks."""

    def __init__(self, ring: Ring, notify_fd: int) -> None:
        self.ring = ring
        self._notify_fd = notify_fd
        os.set_blocking(notify_fd, False)
        self._seq = int(ring.header["published"])

    def next_image(self) -> np.ndarray:
        return self.ring.images[self._seq % self.ring.slots]

    def publish(
        self,
        kind: int,
        epoch: int,
        frame_id: int,
        *,
        count: int = 1,
        host_ns: int,
        device_ns: int | None = None,
        text: str = "",
    ) -> None:
        record = self.ring.records[self._seq % self.ring.slots]
        record["seq"] = -1  # torn while being written; the reader re-checks after copying
        record["kind"], record["epoch"], record["frame_id"], record["count"] = kind, epoch, frame_id, count
        record["host_ns"], record["device_ns"] = host_ns, -1 if device_ns is None else device_ns
        record["text"] = text.encode()[:240]
        record["seq"] = self._seq
        self._seq += 1
        self.ring.header["published"] = self._seq
        with contextlib.suppress(BlockingIOError):  # a full pipe of pokes wakes the reader just the same
            os.write(self._notify_fd, b"\x01")

    def heartbeat(self, now_ns: int) -> None:
        self.ring.header["heartbeat_ns"] = now_ns


class RingReader:
    """The station side: copies each record out of its slot and detects being overtaken."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self._seq = int(ring.header["published"])
        self.lost = 0  # records overwritten before they were read, since the last `take_lost()`

    @property
    def heartbeat_ns(self) -> int:
        return int(self.ring.header["heartbeat_ns"])

    def next(self) -> Record | None:
        while True:
            published = int(self.ring.header["published"])
            if published == self._seq:
                return None
            if published - self._seq > self.ring.slots:
                self.lost += published - self.ring.slots - self._seq
                self._seq = published - self.ring.slots
            index = self._seq % self.ring.slots
            record = self.ring.records[index].copy()
            image = self.ring.images[index].copy() if record["kind"] == FRAME else None
            if int(self.ring.records[index]["seq"]) != self._seq or int(record["seq"]) != self._seq:
                self.lost += 1  # overwritten while we copied it
                self._seq += 1
                continue
            self._seq += 1
            return Record(
                seq=int(record["seq"]),
                kind=int(record["kind"]),
                epoch=int(record["epoch"]),
                frame_id=int(record["frame_id"]),
                count=int(record["count"]),
                host_ns=int(record["host_ns"]),
                device_ns=int(record["device_ns"]),
                text=bytes(record["text"]).decode(errors="replace"),
                image=image,
            )

    def take_lost(self) -> int:
        lost, self.lost = self.lost, 0
        return lost
