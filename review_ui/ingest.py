"""The stations' link in a process of its own, so that ingest never holds the web server's interpreter lock.

In the web process the link thread (decoding messages, hashing and writing ~70 MB/s of pictures at
50 items/s, committing) and the garbage it made shared the GIL with the event loop and the request
threads. Here a child (from the fork server, ended with the server) runs the `LinkServer` on its own
engine against the same database; every item is still committed before it is acknowledged. The web
process hears on a pipe what changed (for the browsers' event streams) and how each station is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import BaseModel

from inspection.errors import ConfigError
from inspection.lifetime import die_with_parent, process_context
from inspection.link.messages import StationSettings
from review_ui.link_server import Notify, StationSeen

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
RESTART_S = 1.0


class IngestProcess:
    """The link server's child process, seen from the web process; started again if it dies; `close()` it."""

    def __init__(self, bind: str, keys_dir: Path, database_url: str, images_root: Path, notify: Notify) -> None:
        self._notify = notify
        self._bind = bind
        self._args = (bind, str(keys_dir), database_url, str(images_root))
        self.stations: dict[str, StationSeen] = {}  # the last health report of each station, as the child got it
        self.restarts = 0
        self._lock = threading.Lock()  # one child at a time: starting one and closing never overlap
        self._closing = threading.Event()
        self.endpoint = self._start()  # the bound address, with the port ZeroMQ picked for `:*`
        self._receiver = threading.Thread(target=self._run, name="review-ingest-events", daemon=True)
        self._receiver.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def close(self) -> None:
        self._closing.set()
        with self._lock, contextlib.suppress(OSError):  # already gone: nothing to stop
            self._commands.send_bytes(b'["close"]')
        self._receiver.join(STOP_TIMEOUT_S)
        self._process.join(STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _start(self) -> str:
        context = process_context()
        commands_out, commands = context.Pipe(duplex=False)
        events, events_in = context.Pipe(duplex=False)
        process = context.Process(
            target=serve, args=(*self._args, commands_out, events_in, os.getpid()), name="review-ingest", daemon=True
        )
        process.start()
        commands_out.close()
        events_in.close()
        if not events.poll(START_TIMEOUT_S):
            process.kill()
            raise ConfigError(f"review.link_bind: the link process did not start within {START_TIMEOUT_S:.0f} s")
        kind, detail = json.loads(events.recv_bytes())
        if kind == "error":
            process.join()
            raise ConfigError(f"review.link_bind: cannot serve stations on {self._bind}: {detail}")
        self._process, self._commands, self._events = process, commands, events
        return str(detail)

    def _run(self) -> None:
        """Relays the child's news; a child that dies (killed, out of memory) is replaced: its stations resend."""
        while not self._receive() and not self._closing.is_set():
            self._process.join()
            self._events.close()
            self._commands.close()
            log.error("the link process ended (exit code %s); starting it again", self._process.exitcode)
            while not self._closing.wait(RESTART_S):
                with self._lock:
                    if self._closing.is_set():
                        return
                    try:
                        self.endpoint = self._start()
                    except ConfigError as exc:
                        log.error("%s; trying again in %.0f s", exc, RESTART_S)
                        continue
                    self.restarts += 1
                    break

    def _receive(self) -> bool:
        """Until the child closes (True) or ends without closing (False)."""
        while True:
            try:
                kind, *rest = json.loads(self._events.recv_bytes())
            except EOFError:
                return False
            match kind:
                case "event":
                    self._notify(rest[0], rest[1])
                case "station":
                    self.stations[rest[0]] = Report.model_validate_json(rest[1]).seen()
                case "closed":
                    return True


def serve(  # noqa: PLR0917 - the child's whole world, passed once
    bind: str,
    keys_dir: str,
    database_url: str,
    images_root: str,
    commands: Connection,
    events: Connection,
    parent_pid: int,
) -> None:
    """The child: a `LinkServer` on its own engine until the web process says `close` (or goes away)."""
    from review_ui.db import Database  # noqa: PLC0415 - imported in the child, not by the fork server
    from review_ui.images import ImageFiles  # noqa: PLC0415
    from review_ui.link_server import LinkServer  # noqa: PLC0415

    die_with_parent(parent_pid)
    lock = threading.Lock()

    def emit(message: list[object]) -> None:
        with lock:
            events.send_bytes(json.dumps(message).encode())

    try:
        database = Database(database_url)
        server = LinkServer(
            bind,
            Path(keys_dir),
            database,
            ImageFiles(Path(images_root)),
            lambda kind, data: emit(["event", kind, data]),
            on_station=lambda name, seen: emit(["station", name, Report.of(seen).model_dump_json()]),
        ).start()
    except Exception as exc:
        emit(["error", f"{type(exc).__name__}: {exc}"])
        return
    emit(["ready", server.endpoint])
    try:
        while json.loads(commands.recv_bytes()) != ["close"]:
            pass
    except EOFError:
        pass  # the web process is gone
    server.close()
    database.close()
    emit(["closed"])


class Report(BaseModel):
    """A station's health as the child heard it; `age_s`, not a time: two processes' monotonic clocks may differ."""

    age_s: float
    healthy: bool
    problems: tuple[str, ...]
    counters: dict[str, float]
    settings: StationSettings | None

    @classmethod
    def of(cls, seen: StationSeen) -> Report:
        age = time.monotonic() - seen.last_seen
        return cls(
            age_s=age, healthy=seen.healthy, problems=seen.problems, counters=seen.counters, settings=seen.settings
        )

    def seen(self) -> StationSeen:
        return StationSeen(time.monotonic() - self.age_s, self.healthy, self.problems, self.counters, self.settings)
