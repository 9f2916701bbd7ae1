"""Live updates for browsers: the link thread publishes, every open event stream receives (SSE)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

QUEUE_EVENTS = 256


class Hub:
    """Thread-safe fan-out into asyncio queues; a client too slow to keep up loses events, never blocks others."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        """`on_change` runs on every publish, before any browser hears of it (it drops cached queue lines)."""
        self._on_change = on_change
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_EVENTS)
        with self._lock:
            self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        with self._lock:
            self._subscribers.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, data: dict[str, object]) -> None:
        """Callable from any thread."""
        self._on_change()
        if self._loop is None:
            return
        event = f"event: {kind}\ndata: {json.dumps(data)}\n\n"
        with self._lock:
            subscribers = list(self._subscribers)
        for queue in subscribers:
            self._loop.call_soon_threadsafe(_offer, queue, event)


def _offer(queue: asyncio.Queue[str], event: str) -> None:
    if not queue.full():
        queue.put_nowait(event)
