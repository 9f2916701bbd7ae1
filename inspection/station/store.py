"""Decisions on disk: SQLite in WAL mode, written in group commits by one thread beside the hot path.

`synchronous=FULL` makes each commit durable before it returns; batching many writes into one
commit is what makes that affordable (DESIGN.md: ~180k rows/s in batches of 100). The part
sequence continues from the database after a restart, so numbering never collides.

The same database is the link's outbox: a message for the review server is inserted in the
transaction that records what it announces, so nothing is announced before it is durable and
nothing durable is left unannounced (DESIGN.md invariant 3). Rows leave the outbox when the
server acknowledges them. Plain decisions are kept for the server only up to `OUTBOX_BACKLOG`;
review items, dispositions and verdicts are never dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from camera.frames import Frame
from inspection.contracts import ActuatorCommand, ActuatorResult, Decision
from inspection.errors import ConfigError
from inspection.link.messages import (
    DispositionMessage,
    SettingsMessage,
    StationSettings,
    VerdictMessage,
    encode,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY,
    part_id TEXT NOT NULL UNIQUE,
    station_id TEXT NOT NULL,
    source_ref TEXT,
    frame_id INTEGER,
    captured_ns INTEGER,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    score REAL,
    regions TEXT NOT NULL,
    model_id TEXT NOT NULL,
    thresholds_version TEXT NOT NULL,
    calibration_id TEXT,
    camera_snapshot TEXT,  -- the id of a camera_snapshots row (version 2 databases kept the JSON itself)
    latency_ms TEXT NOT NULL,
    action TEXT,
    action_origin TEXT,
    decided_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS decisions_verdict ON decisions (verdict);
CREATE TABLE IF NOT EXISTS dispositions (
    part_id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    origin TEXT NOT NULL,
    verdict_id TEXT,
    reason TEXT NOT NULL,
    decided_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS actuations (
    part_id TEXT NOT NULL,
    action TEXT NOT NULL,
    origin TEXT NOT NULL,
    planned_ns INTEGER NOT NULL,
    fired_ns INTEGER,
    outcome TEXT NOT NULL,
    confirmed INTEGER,
    reason TEXT NOT NULL,
    recorded_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS actuations_part ON actuations (part_id);
CREATE TABLE IF NOT EXISTS verdicts (
    verdict_id TEXT PRIMARY KEY,
    part_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL,
    late INTEGER NOT NULL,
    received_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS settings (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    body TEXT NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS camera_snapshots (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    first_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS outbox (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the link sends in rowid order
    id TEXT NOT NULL UNIQUE,
    durable INTEGER NOT NULL,
    body BLOB NOT NULL,
    attachments TEXT NOT NULL
);
"""
BATCH = 256
# The writer waits this long after the first write of a batch for the rest of it. Without it the
# writer, always ready, woke for every row and committed batches of 1-3 rows; each fsync'd commit
# costs 0.2-0.9 ms of CPU here (more the more pages it touches): at 1000 parts/s the writer took
# ~27% of a core, and at 150 parts/s 0.59-0.69 ms of CPU per part, 0.30-0.33 with this linger
# (a decision, its outbox row and its gate record per part). Nothing on the hot path waits for a
# commit (the gate acts at the part's arrival, the link polls `durable` every 20 ms), so a row
# reaches the disk (and a review item the server) up to this much later, and that is all it costs.
COMMIT_LINGER_S = 0.02
SCHEMA_VERSION = 3
UPGRADABLE = {1, 2}  # versions 2 and 3 only added tables
RETRY_S = 0.5
OUTBOX_BACKLOG = 100_000
log = logging.getLogger(__name__)
COLUMNS = (
    "seq, part_id, station_id, source_ref, frame_id, captured_ns, verdict, reason, detail, score, regions, "
    "model_id, thresholds_version, calibration_id, camera_snapshot, latency_ms, action, action_origin"
)
INSERT = f"INSERT INTO decisions ({COLUMNS}) VALUES ({', '.join('?' * 18)})"
INSERT_OUTBOX = "INSERT OR IGNORE INTO outbox (id, durable, body, attachments) VALUES (?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: str
    durable: bool
    body: bytes
    attachments: tuple[Path, ...] = ()


Write = Callable[[sqlite3.Connection], None]
Announce = Callable[[], OutboxEntry]  # built on the writer thread, off the hot path


class DecisionStore:
    """`put*` never touches the disk; the writer thread commits whatever has queued, in one transaction."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            tables = self._db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'decisions'").fetchone()[0]
            if tables and version != SCHEMA_VERSION and version not in UPGRADABLE:
                raise sqlite3.DatabaseError(
                    f"it holds schema version {version}, this station writes {SCHEMA_VERSION}; move it aside"
                )
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"storage.data_dir: cannot open the decision database {path}: {exc}") from exc
        self.path = path
        self.next_seq = int(self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM decisions").fetchone()[0])
        self.committed = 0  # decisions
        self.problem: str | None = None  # why the last commit failed; None while commits succeed
        self.outbox_dropped = 0  # plain decisions the server never got because the backlog was full
        self._queued = 0
        self._written = 0  # writes committed, in queue order: `durable(mark)` tells when one is on disk
        self._count_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Write, bool] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, name="decision-store", daemon=True)
        self._thread.start()

    def put(  # noqa: PLR0917 - one row's columns
        self,
        seq: int,
        decision: Decision,
        frame: Frame | None,
        captured_ns: int,
        camera: str,
        command: ActuatorCommand | None = None,
        *,
        held: bool = False,
        announce: Announce | None = None,
    ) -> int:
        """Queues one decision (and its announcement); `frame` is None for a part never delivered.

        `held`: the gate action waits for a human (recorded as `review`; the disposition follows).
        """
        source_ref = None if frame is None else frame.part_id
        frame_id = None if frame is None else frame.frame_id
        action = "review" if held else None if command is None else command.action
        origin = None if held or command is None else command.origin

        def write(db: sqlite3.Connection) -> None:
            d = decision
            regions = json.dumps([r.model_dump() for r in d.regions])
            db.execute(
                INSERT,
                (
                    *(seq, d.part_id, d.station_id, source_ref, frame_id, captured_ns, d.verdict, d.reason, d.detail),
                    *(d.score, regions, d.model_id, d.thresholds_version, d.calibration_id, camera),
                    *(json.dumps(d.latency_ms), action, origin),
                ),
            )
            if announce is not None:
                _insert_outbox(db, announce())

        return self._put(write, counts_as_decision=True)

    def put_camera_snapshot(self, body: str) -> str:
        """Keeps the camera's applied features once and returns the id every decision records.

        A GenICam node-map read-back is a few hundred bytes of JSON; stored in every decision row it
        cost that much per part (gigabytes a day at line rate) for the same text.
        """
        snapshot_id = "camera-" + hashlib.sha256(body.encode()).hexdigest()[:16]

        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR IGNORE INTO camera_snapshots (id, body) VALUES (?, ?)", (snapshot_id, body))

        self._put(write)
        return snapshot_id

    def put_disposition(self, message: DispositionMessage) -> int:
        """Records what the gate did for a part that waited for a human, and announces it."""
        m = message

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO dispositions (part_id, action, origin, verdict_id, reason) VALUES (?,?,?,?,?)",
                (m.part_id, m.action, m.origin, m.verdict_id, m.reason),
            )
            _insert_outbox(db, OutboxEntry(m.id, durable=True, body=encode(m)))

        return self._put(write)

    def put_actuation(self, result: ActuatorResult) -> int:
        """Records what the gate did for one part (every part, passes included)."""
        r = result
        confirmed = None if r.confirmed is None else int(r.confirmed)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO actuations (part_id, action, origin, planned_ns, fired_ns, outcome, confirmed, reason) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (r.part_id, r.action, r.origin, r.planned_ns, r.fired_ns, r.outcome, confirmed, r.reason),
            )

        return self._put(write)

    def put_verdict(self, message: VerdictMessage, late: bool) -> int:
        m = message

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO verdicts (verdict_id, part_id, verdict, by, reason, late) VALUES (?,?,?,?,?,?)",
                (m.id, m.part_id, m.verdict, m.by, m.reason, int(late)),
            )

        return self._put(write)

    def put_settings(self, message: SettingsMessage) -> int:
        """Keeps a supervisor's change, so that a restarted station applies it again."""
        m = message

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO settings (id, version, body, by, reason) VALUES (?,?,?,?,?)",
                (m.id, m.settings.version, m.settings.model_dump_json(), m.by, m.reason),
            )

        return self._put(write)

    def latest_settings(self) -> StationSettings | None:
        row = self._db.execute("SELECT body FROM settings ORDER BY received_utc DESC, rowid DESC LIMIT 1").fetchone()
        return None if row is None else StationSettings.model_validate_json(row[0])

    @property
    def queued(self) -> int:
        """The mark of the last write queued so far."""
        return self._queued

    def durable(self, mark: int) -> bool:
        """Whether the write `put*` returned `mark` for has been committed."""
        return self._written >= mark

    def undisposed_reviews(self) -> list[str]:
        """Parts that waited for a human when the station last stopped and never got a gate action."""
        rows = self._db.execute(
            "SELECT part_id FROM decisions WHERE action = 'review' "
            "AND part_id NOT IN (SELECT part_id FROM dispositions) ORDER BY seq"
        ).fetchall()
        return [str(row[0]) for row in rows]

    def close(self) -> None:
        """Commits everything queued, then closes the database (its WAL checkpointed)."""
        self._queue.put(None)
        self._thread.join()
        self._db.close()

    def _put(self, write: Write, *, counts_as_decision: bool = False) -> int:
        with self._count_lock:
            self._queued += 1
            mark = self._queued
            self._queue.put((write, counts_as_decision))
        return mark

    def _commit(self, batch: list[tuple[Write, bool]]) -> bool:
        try:
            self._db.execute("BEGIN")
            for write, _ in batch:
                write(self._db)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self.problem = f"cannot commit {len(batch)} records to {self.path}: {exc}"
            log.error(self.problem)
            return False
        self.problem = None
        return True

    def _write_loop(self) -> None:
        done = False
        commits = 0
        while not done:
            items = [self._queue.get()]
            if items[0] is not None and self._queue.qsize() < BATCH:
                time.sleep(COMMIT_LINGER_S)
            while len(items) < BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = None in items
            batch = [item for item in items if item is not None]
            while batch and not self._commit(batch):
                time.sleep(RETRY_S)  # disk full or locked: keep the rows, say so, try again
            if batch:
                self.committed += sum(1 for _, decision in batch if decision)
                self._written += len(batch)
                commits += 1
                if commits % 64 == 0:
                    self._trim_outbox()

    def _trim_outbox(self) -> None:
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE durable = 0 AND rowid < (SELECT MAX(rowid) FROM outbox) - ?", (OUTBOX_BACKLOG,)
        )
        if cursor.rowcount > 0:
            self.outbox_dropped += cursor.rowcount
            log.warning("review link backlog full: %d plain decisions will not reach the server", cursor.rowcount)


def _insert_outbox(db: sqlite3.Connection, entry: OutboxEntry) -> None:
    paths = json.dumps([str(p) for p in entry.attachments])
    db.execute(INSERT_OUTBOX, (entry.id, int(entry.durable), entry.body, paths))
