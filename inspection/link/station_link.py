"""The station's end of the review link: drains the outbox, receives verdicts, says it is alive.

One thread owns the ZeroMQ DEALER socket (CURVE client). Every outbox row is sent, and sent
again every `resend_s` until the server acknowledges its id; the server is idempotent by id,
so a resend after a lost ack or a restart of either side is harmless (at-least-once). A verdict
is acknowledged only once the store has committed it, so an acked verdict is never lost.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
from pydantic import ValidationError

from inspection.link.messages import AckMessage, HealthMessage, SettingsMessage, VerdictMessage, decode, encode
from inspection.station.store import DecisionStore

log = logging.getLogger(__name__)
POLL_MS = 20
HEARTBEAT_S = 1.0
SILENCE_S = 3.0  # no answer from the server this long: the link is down
MAX_IN_FLIGHT = 512
ATTACHMENT_WAIT_S = 2.0  # the image writer is behind: send without the picture after this long
SEEN_COMMANDS = 10_000


@dataclass(frozen=True, slots=True)
class LinkKeys:
    public: bytes
    secret: bytes
    server: bytes


class StationLink:
    def __init__(
        self,
        endpoint: str,
        station_id: str,
        keys: LinkKeys,
        *,
        store: DecisionStore,
        on_verdict: Callable[[VerdictMessage], int],
        on_settings: Callable[[SettingsMessage], int],
        health: Callable[[], HealthMessage],
        resend_s: float = 2.0,
    ) -> None:
        self.endpoint = endpoint
        self.station_id = station_id
        self.store = store
        self.sent = 0
        self.acked = 0
        self._keys = keys
        self._on_verdict = on_verdict
        self._on_settings = on_settings
        self._health = health
        self._resend_ns = round(resend_s * 1e9)
        self._in_flight: dict[str, tuple[int, int]] = {}  # id -> (outbox rowid, sent at)
        self._sent_through = 0
        self._waiting_since: dict[int, float] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._unacked: list[tuple[int, str]] = []
        self._last_heard = 0.0
        self._stop = threading.Event()
        self._flush_until = 0.0
        self._thread = threading.Thread(target=self._run, name="review-link", daemon=True)

    def start(self) -> StationLink:
        self._thread.start()
        return self

    def close(self, flush_s: float = 5.0) -> None:
        """Stops after the outbox is empty, or after `flush_s` (what is left is sent on the next start)."""
        self._flush_until = time.monotonic() + flush_s
        self._stop.set()
        self._thread.join()

    @property
    def problem(self) -> str | None:
        """None while the server answers; otherwise what /healthz should say."""
        if time.monotonic() - self._last_heard <= SILENCE_S:
            return None
        return f"review server at {self.endpoint} not answering (items are kept and sent when it is back)"

    def _run(self) -> None:
        context = zmq.Context()
        socket = context.socket(zmq.DEALER)
        socket.curve_publickey = self._keys.public
        socket.curve_secretkey = self._keys.secret
        socket.curve_serverkey = self._keys.server
        socket.setsockopt(zmq.IDENTITY, self.station_id.encode())
        socket.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing for a server that is not there: the outbox keeps it
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self.endpoint)
        outbox = sqlite3.connect(self.store.path, isolation_level=None)
        next_heartbeat = 0.0
        try:
            while not self._stop.is_set() or self._flushing(outbox):
                if socket.poll(POLL_MS):
                    self._receive(socket, outbox)
                self._ack_durable(socket)
                now = time.monotonic()
                if now >= next_heartbeat:
                    self._send(socket, [encode(self._health())])
                    next_heartbeat = now + HEARTBEAT_S
                self._send_outbox(socket, outbox)
        finally:
            outbox.close()
            socket.close(linger=0)
            context.term()

    def _flushing(self, outbox: sqlite3.Connection) -> bool:
        if time.monotonic() > self._flush_until or self.problem is not None:
            return False
        if not self.store.durable(self.store.queued):
            return True  # the last decisions are still on their way into the outbox
        return bool(outbox.execute("SELECT EXISTS (SELECT 1 FROM outbox)").fetchone()[0])

    def _receive(self, socket: zmq.Socket[bytes], outbox: sqlite3.Connection) -> None:
        while True:
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._last_heard = time.monotonic()
            try:
                message = decode(frames[0])
            except ValidationError as exc:
                log.error("review link: ignoring a malformed message from the server: %s", exc)
                continue
            if isinstance(message, AckMessage):
                self._acknowledged(message.ids, outbox)
            elif isinstance(message, VerdictMessage | SettingsMessage):
                self._command(message)

    def _acknowledged(self, ids: tuple[str, ...], outbox: sqlite3.Connection) -> None:
        done = [i for i in ids if self._in_flight.pop(i, None) is not None]
        if done:
            outbox.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in done])
            self.acked += len(done)

    def _command(self, message: VerdictMessage | SettingsMessage) -> None:
        """Applies a verdict or a settings change once, and acknowledges it when it is on disk."""
        if message.id in self._seen:
            self._unacked.append((0, message.id))  # a resend: its first copy is on disk, ack again
            return
        self._seen[message.id] = None
        if len(self._seen) > SEEN_COMMANDS:
            self._seen.popitem(last=False)
        mark = self._on_verdict(message) if isinstance(message, VerdictMessage) else self._on_settings(message)
        self._unacked.append((mark, message.id))

    def _ack_durable(self, socket: zmq.Socket[bytes]) -> None:
        durable = [vid for mark, vid in self._unacked if self.store.durable(mark)]
        if durable:
            self._unacked = [(m, v) for m, v in self._unacked if not self.store.durable(m)]
            self._send(socket, [encode(AckMessage(ids=tuple(durable)))])

    def _send_outbox(self, socket: zmq.Socket[bytes], outbox: sqlite3.Connection) -> None:
        if not socket.poll(0, zmq.POLLOUT):
            return  # no server connected (IMMEDIATE): reading rows and pictures now would be for nothing
        now = time.monotonic_ns()
        due = [rowid for rowid, sent_at in self._in_flight.values() if now - sent_at > self._resend_ns]
        room = MAX_IN_FLIGHT - len(self._in_flight) + len(due)
        rows: list[tuple[int, str, bytes, str]] = []
        if due:
            marks = ",".join("?" * len(due))
            rows += outbox.execute(f"SELECT rowid, id, body, attachments FROM outbox WHERE rowid IN ({marks})", due)
            gone = set(due) - {row[0] for row in rows}  # trimmed from a full backlog meanwhile
            self._in_flight = {i: v for i, v in self._in_flight.items() if v[0] not in gone}
        if room > len(due):
            rows += outbox.execute(
                "SELECT rowid, id, body, attachments FROM outbox WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (self._sent_through, room - len(due)),
            )
        for rowid, message_id, body, attachments in rows:
            frames = self._frames(rowid, bytes(body), json.loads(attachments))
            if frames is None:
                break  # keep order: wait for this row's pictures
            if not self._send(socket, frames):
                return
            self._in_flight[message_id] = (rowid, now)
            self._sent_through = max(self._sent_through, rowid)
            self.sent += 1

    def _frames(self, rowid: int, body: bytes, attachments: list[str]) -> list[bytes] | None:
        """The message with its pictures, or None while a picture is still being written."""
        frames = [body]
        missing = [p for p in attachments if not Path(p).exists()]
        if missing:
            first_seen = self._waiting_since.setdefault(rowid, time.monotonic())
            if time.monotonic() - first_seen < ATTACHMENT_WAIT_S:
                return None
            log.warning("review link: sending %s without %s (image not stored)", rowid, ", ".join(missing))
        self._waiting_since.pop(rowid, None)
        for path in attachments:
            if path not in missing:
                frames += [Path(path).stem.rsplit("-", 1)[-1].encode(), Path(path).read_bytes()]
        return frames

    def _send(self, socket: zmq.Socket[bytes], frames: list[bytes]) -> bool:
        try:
            socket.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            return False  # not connected, or the server is not reading: the outbox keeps it
        return True
