"""Times that cross process and machine boundaries: UTC ISO-8601 text, sortable and hash-stable.

Inside a process, deadlines are `time.monotonic_ns()`; only when a time leaves the process is it
turned into wall-clock UTC (`utc_from_monotonic`).
"""

from __future__ import annotations

import datetime as dt
import time

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(FORMAT)


def utc_now_text() -> str:
    return utc_text(dt.datetime.now(dt.UTC))


def parse_utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, FORMAT).replace(tzinfo=dt.UTC)


def utc_from_monotonic(monotonic_ns: int) -> str:
    wall_ns = time.time_ns() + monotonic_ns - time.monotonic_ns()
    return utc_text(dt.datetime.fromtimestamp(wall_ns / 1e9, dt.UTC))
