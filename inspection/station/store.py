"""Decisions on disk: SQLite in WAL mode, written in group commits by one thread beside the hot path.

`synchronous=FULL` makes each commit durable before it returns; batching many decisions into
one commit is what makes that affordable (DESIGN.md: ~180k rows/s in batches of 100). The part
sequence continues from the database after a restart, so numbering never collides.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path

from camera.frames import Frame
from inspection.contracts import ActuatorCommand, Decision
from inspection.errors import ConfigError

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
    camera_snapshot TEXT,
    latency_ms TEXT NOT NULL,
    action TEXT,
    action_origin TEXT,
    decided_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS decisions_verdict ON decisions (verdict);
"""
BATCH = 256
SCHEMA_VERSION = 1
RETRY_S = 0.5
log = logging.getLogger(__name__)
COLUMNS = (
    "seq, part_id, station_id, source_ref, frame_id, captured_ns, verdict, reason, detail, score, regions, "
    "model_id, thresholds_version, calibration_id, camera_snapshot, latency_ms, action, action_origin"
)
INSERT = f"INSERT INTO decisions ({COLUMNS}) VALUES ({', '.join('?' * 18)})"


class DecisionStore:
    """`put` never touches the disk; the writer thread commits whatever has queued, in one transaction."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            tables = self._db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'decisions'").fetchone()[0]
            if tables and version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"it holds schema version {version}, this station writes {SCHEMA_VERSION}; move it aside"
                )
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"storage.data_dir: cannot open the decision database {path}: {exc}") from exc
        self.path = path
        self.next_seq = int(self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM decisions").fetchone()[0])
        self.committed = 0
        self.problem: str | None = None  # why the last commit failed; None while commits succeed
        self._queue: queue.SimpleQueue[tuple[object, ...] | None] = queue.SimpleQueue()
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
    ) -> None:
        """Queues one decision; `frame` names where it came from (None for a part never delivered)."""
        self._queue.put(
            (
                seq,
                decision.part_id,
                decision.station_id,
                None if frame is None else frame.part_id,
                None if frame is None else frame.frame_id,
                captured_ns,
                decision.verdict,
                decision.reason,
                decision.detail,
                decision.score,
                json.dumps([r.model_dump() for r in decision.regions]),
                decision.model_id,
                decision.thresholds_version,
                decision.calibration_id,
                camera,
                json.dumps(decision.latency_ms),
                None if command is None else command.action,
                None if command is None else command.origin,
            )
        )

    def close(self) -> None:
        """Commits everything queued, then closes the database (its WAL checkpointed)."""
        self._queue.put(None)
        self._thread.join()
        self._db.close()

    def _commit(self, batch: list[tuple[object, ...]]) -> bool:
        try:
            self._db.execute("BEGIN")
            self._db.executemany(INSERT, batch)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self.problem = f"cannot commit {len(batch)} decisions to {self.path}: {exc}"
            log.error(self.problem)
            return False
        self.problem = None
        return True

    def _write_loop(self) -> None:
        done = False
        while not done:
            rows = [self._queue.get()]
            while len(rows) < BATCH:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = None in rows
            batch = [row for row in rows if row is not None]
            while batch and not self._commit(batch):
                time.sleep(RETRY_S)  # disk full or locked: keep the rows, say so, try again
            if batch:
                self.committed += len(batch)
