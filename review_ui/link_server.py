"""The review server's end of the station link: a CURVE-authenticated ROUTER in one thread.

Stations connect with their own key pair; only keys in `<keys>/stations/` are accepted, and a
station may speak only for the id its key file is named after. Messages that arrive together are
stored in one transaction and then acknowledged, so an ack always means "on disk". Verdicts go
back from the verdict outbox until the station acknowledges each id.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import zmq
import zmq.auth
from pydantic import ValidationError
from sqlalchemy import Connection
from zmq.auth.thread import ThreadAuthenticator

from inspection.link.keys import SERVER, STATIONS, ensure_keypair
from inspection.link.messages import (
    AckMessage,
    DecisionMessage,
    DispositionMessage,
    HealthMessage,
    SettingsMessage,
    StationSettings,
    VerdictMessage,
    decode,
    encode,
)
from review_ui import items
from review_ui.db import Database
from review_ui.images import ImageFiles
from review_ui.stations import store as station_store

log = logging.getLogger(__name__)
POLL_MS = 20
BATCH = 256
EXPIRE_EVERY_S = 0.2
RETRY_S = 0.5
RESEND_S = 2.0
Notify = Callable[[str, dict[str, object]], None]


@dataclass
class StationSeen:
    last_seen: float
    healthy: bool = True
    problems: tuple[str, ...] = ()
    counters: dict[str, float] = field(default_factory=dict)
    settings: StationSettings | None = None


class StationKeys:
    """Authorised station keys: a key is accepted while `<station>.key` in the folder holds it (re-read on change)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stamp = -1
        self._owners: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def owner(self, key: bytes) -> str | None:
        """The station a public key (Z85) belongs to, or None."""
        with self._lock:
            stamp = self.folder.stat().st_mtime_ns
            if stamp != self._stamp:
                self._stamp = stamp
                self._owners = {zmq.auth.load_certificate(p)[0]: p.stem for p in self.folder.glob("*.key")}
            return self._owners.get(key)

    def callback(self, domain: str, key: bytes) -> bool:
        """The ZAP check (called by the authenticator's thread)."""
        if self.owner(key) is None:
            log.warning("link: refused a station whose key is not in %s", self.folder)
            return False
        return True


class Decisions:
    """Decided parts of one received batch, inserted together (one statement) before anything refers to them."""

    def __init__(self, connection: Connection, events: list[tuple[str, dict[str, object]]]) -> None:
        self.connection = connection
        self.events = events
        self.waiting: list[items.Stored] = []

    def append(self, stored: items.Stored) -> None:
        self.waiting.append(stored)

    def flush(self) -> None:
        new = items.add_items(self.connection, self.waiting)
        self.events += [
            ("item", {"part_id": s.item.id, "station_id": s.item.station_id})
            for s in self.waiting
            if s.item.id in new and s.item.review
        ]
        self.waiting = []


class LinkServer:
    def __init__(
        self,
        bind: str,
        keys_dir: Path,
        database: Database,
        images: ImageFiles,
        notify: Notify,
        *,
        on_station: Callable[[str, StationSeen], None] | None = None,
    ) -> None:
        """`notify` hears what changed (for browsers); `on_station` each station's health report."""
        self.bind = bind
        self.keys_dir = keys_dir
        self.database = database
        self.images = images
        self.notify = notify
        self.on_station = on_station
        self.stations: dict[str, StationSeen] = {}
        self.endpoint = ""  # the bound address, with the port ZeroMQ picked for `:*`
        self.problem: str | None = None  # the last failure to store or send, while it lasts
        self._public, self._secret = ensure_keypair(keys_dir, SERVER)
        (keys_dir / STATIONS).mkdir(parents=True, exist_ok=True)
        self._sent: dict[str, float] = {}
        self._station_keys = StationKeys(keys_dir / STATIONS)
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="link-server", daemon=True)

    def start(self) -> LinkServer:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        context = zmq.Context()
        auth = ThreadAuthenticator(context)
        socket = context.socket(zmq.ROUTER)
        try:
            auth.start()
            auth.configure_curve_callback(domain="*", credentials_provider=self._station_keys)
            socket.curve_server = True
            socket.curve_publickey = self._public
            socket.curve_secretkey = self._secret
            socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
            socket.setsockopt(zmq.LINGER, 0)
            socket.bind(self.bind)
            self.endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
        except BaseException as exc:
            self._error = exc
            socket.close()
            auth.stop()
            context.term()
            self._ready.set()
            return
        self._ready.set()
        next_expire = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if socket.poll(POLL_MS):
                        self._receive(socket)
                    now = time.monotonic()
                    if now >= next_expire:
                        self._expire()
                        self._send_verdicts(socket)
                        next_expire = now + EXPIRE_EVERY_S
                    self.problem = None
                except Exception as exc:  # unacknowledged messages come again: keep serving, say why
                    self.problem = f"{type(exc).__name__}: {exc}"
                    log.exception("link: storing or sending failed; stations will resend")
                    self._stop.wait(RETRY_S)
        finally:
            socket.close(linger=0)
            auth.stop()
            context.term()

    # -- from stations ------------------------------------------------------------------------

    def _receive(self, socket: zmq.Socket[bytes]) -> None:
        batch: list[tuple[bytes, list[zmq.Frame]]] = []
        while len(batch) < BATCH:
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            batch.append((frames[0].bytes, frames[1:]))
        acks: dict[bytes, list[str]] = {}
        events: list[tuple[str, dict[str, object]]] = []
        with self.database.engine.begin() as connection:
            pending = Decisions(connection, events)
            for identity, frames in batch:
                acked = self._handle(connection, identity, frames, events, pending)
                if acked is not None:
                    acks.setdefault(identity, []).append(acked)
            pending.flush()
        for identity, ids in acks.items():
            self._send(socket, identity, encode(AckMessage(ids=tuple(ids))))
        for kind, data in events:
            self.notify(kind, data)

    def _handle(
        self,
        connection: Connection,
        identity: bytes,
        frames: list[zmq.Frame],
        events: list[tuple[str, dict[str, object]]],
        decisions: Decisions,
    ) -> str | None:
        """Stores one message; returns the id to acknowledge (None: refused, never acked)."""
        station = identity.decode(errors="replace")
        try:
            message = decode(frames[0].bytes)
        except ValidationError as exc:
            log.error("link: a malformed message from %s was refused: %s", station, exc.errors()[:1])
            return None
        if not isinstance(message, AckMessage | VerdictMessage) and message.station_id != station:
            log.error("link: %s sent a message as %s; refused", station, message.station_id)
            return None
        if not self._key_matches(station, frames[0]):
            log.error("link: %s is not the station whose key file is stations/%s.key; refused", station, station)
            return None
        match message:
            case DecisionMessage():
                attached = {frames[i].bytes.decode(): frames[i + 1].bytes for i in range(1, len(frames) - 1, 2)}
                frame, heatmap = attached.get("frame"), attached.get("heatmap")
                decisions.append(
                    items.Stored(
                        message,
                        None if frame is None else self.images.put(frame),
                        None if heatmap is None else self.images.put(heatmap),
                    )
                )
                return message.id  # acknowledged once the batch it arrived in is committed
            case DispositionMessage():
                decisions.flush()  # its part may have arrived in this very batch
                items.add_disposition(connection, message)
                events.append(("disposition", {"part_id": message.part_id, "action": message.action}))
                return message.id
            case HealthMessage():
                seen = StationSeen(
                    time.monotonic(), message.healthy, message.problems, message.counters, message.settings
                )
                self.stations[station] = seen
                if self.on_station is not None:
                    self.on_station(station, seen)
                return message.id
            case AckMessage():
                items.delivered(connection, message.ids)
                station_store.delivered(connection, message.ids)
                for verdict_id in message.ids:
                    self._sent.pop(verdict_id, None)
                return None
        return None

    def _key_matches(self, station: str, frame: zmq.Frame) -> bool:
        return self._station_keys.owner(str(frame.get("User-Id")).encode()) == station

    # -- to stations --------------------------------------------------------------------------

    def _expire(self) -> None:
        with self.database.engine.begin() as connection:
            expired = items.expire_due(connection, dt.datetime.now(dt.UTC))
        if expired:
            self.notify("expired", {"count": expired})

    def _send_verdicts(self, socket: zmq.Socket[bytes]) -> None:
        """Verdicts and settings changes, each resent every RESEND_S until its station acknowledges it."""
        with self.database.engine.connect() as connection:
            pending = items.undelivered(connection)
            changes = station_store.undelivered(connection)
        outgoing: list[tuple[str, SettingsMessage | VerdictMessage]] = [(c.station_id, c) for c in changes]
        outgoing += [
            (r["station_id"], VerdictMessage(**{k: r[k] for k in ("id", "part_id", "verdict", "by", "reason", "utc")}))
            for r in pending
        ]
        now = time.monotonic()
        for station, message in outgoing:
            if now - self._sent.get(message.id, -RESEND_S) >= RESEND_S and self._send(
                socket, station.encode(), encode(message)
            ):
                self._sent[message.id] = now

    def _send(self, socket: zmq.Socket[bytes], identity: bytes, body: bytes) -> bool:
        try:
            socket.send_multipart([identity, body], zmq.NOBLOCK)
        except zmq.ZMQError:
            return False  # that station is not connected now; the outbox keeps the verdict
        return True
