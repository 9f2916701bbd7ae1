"""What a frame source yields: frames, and accounted-for absences of frames.

A source never drops a frame silently: a frame it cannot deliver becomes a `Gap` with a
reason, so that the station can fail-safe the parts concerned (DESIGN.md invariant 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame, copied out of any driver buffer and read-only, so it can be shared freely."""

    source_id: str
    frame_id: int  # the camera's counter, or the source's own sequence number
    host_ns: int  # time.monotonic_ns() when the frame reached the host
    pixel_format: str  # "Mono8", "Mono16", "BGR8" or "BGRa8" once converted
    image: np.ndarray
    device_timestamp_ns: int | None = None
    part_id: str | None = None
    truth: tuple[str, ...] | None = None  # defect kinds, where the source knows them (simulation)

    def __post_init__(self) -> None:
        if self.image.flags.writeable:
            self.image.flags.writeable = False


@dataclass(frozen=True, slots=True)
class Gap:
    """`count` frames from `first_frame_id` on that will never arrive, and why."""

    source_id: str
    first_frame_id: int
    count: int
    reason: str
    host_ns: int


@dataclass(frozen=True, slots=True)
class Fault:
    """The source stopped delivering (device gone, repeated errors); it may recover."""

    source_id: str
    reason: str
    host_ns: int


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """A finite source (a folder played once) has delivered everything."""

    source_id: str
    frames: int


SourceEvent = Frame | Gap | Fault | EndOfStream
