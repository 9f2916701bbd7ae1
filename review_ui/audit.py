"""The hash-chained, append-only audit trail (DESIGN.md invariant 4; 21 CFR Part 11, EU GMP Annex 11).

Each record's hash covers its predecessor's hash, so an edit, a deletion or a spliced-in row breaks
the chain; the one-row `audit_head` seals the tail, so deleting the newest rows is caught too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Engine,
    Integer,
    Row,
    String,
    Table,
    Text,
    event,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from inspection.contracts import AuditEvent
from inspection.errors import InspectionError
from review_ui.db import metadata, utc_now

GENESIS_HASH = "0" * 64
_HEAD_ID = 1
_SEQ = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid: no second index

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("utc", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False, index=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", _SEQ, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint(f"id = {_HEAD_ID}", name="audit_head_one_row"),
)


@event.listens_for(audit_head, "after_create")
def _insert_genesis(target: Table, connection: Connection, **kw: Any) -> None:
    """The head row exists from the start, so appenders only ever lock it and never race to create it."""
    connection.execute(audit_head.insert().values(id=_HEAD_ID, seq=0, hash=GENESIS_HASH))


class AuditError(InspectionError):
    """The audit trail cannot be written or read."""


ProblemKind = Literal["edited", "deleted", "inserted"]


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    kind: ProblemKind
    detail: str


@dataclass(frozen=True)
class AuditReport:
    """What `verify` found; `problems` holds the first `max_problems`, `problems_found` counts them all."""

    rows_checked: int
    head_seq: int | None
    problems: tuple[AuditProblem, ...]
    problems_found: int

    @property
    def intact(self) -> bool:
        return self.problems_found == 0


def canonical_json(state: Mapping[str, object] | None, what: str = "state") -> str | None:
    """One text per value (sorted keys, no spaces), so the same state always hashes the same."""
    if state is None:
        return None
    try:
        return json.dumps(dict(state), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AuditError(
            f"audit {what}: {exc}; pass only str, int, float (finite), bool, None, lists and dicts with str keys"
        ) from exc


def chain_hash(
    prev_hash: str,
    *,
    seq: int,
    utc: str,
    actor: str,
    action: str,
    subject: str,
    before: str | None,
    after: str | None,
    reason: str,
) -> str:
    """sha256 over the predecessor's hash and a JSON array of the fields; ASCII-escaped so it never fails to encode."""
    payload = json.dumps([seq, utc, actor, action, subject, before, after, reason], separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode("ascii")).hexdigest()


def record(
    connection: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Appends one record inside the caller's transaction: the audited change and its record commit together.

    Holds the head row's lock until the caller commits, so keep that transaction short.
    """
    before_text = canonical_json(before, f"{action} before")
    after_text = canonical_json(after, f"{action} after")
    last_seq, last_hash = _lock_head(connection)
    fields: dict[str, Any] = {
        "seq": last_seq + 1,
        "utc": utc_now(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "before": before_text,
        "after": after_text,
        "reason": reason,
    }
    digest = chain_hash(last_hash, **fields)
    connection.execute(audit_events.insert().values(**fields, prev_hash=last_hash, hash=digest))
    connection.execute(update(audit_head).where(audit_head.c.id == _HEAD_ID).values(seq=fields["seq"], hash=digest))
    return _event(fields, last_hash, digest)


def _lock_head(connection: Connection) -> tuple[int, str]:
    """Serialises appenders on the head row before reading it.

    pysqlite begins transactions lazily, so on SQLite a read first would run outside the write lock
    (stale head, or a read->write upgrade that fails as "database is locked"); a no-op UPDATE takes
    the write lock first. PostgreSQL gets a row lock from SELECT ... FOR UPDATE.
    """
    head = audit_head.c
    if connection.dialect.name == "sqlite":
        connection.execute(update(audit_head).where(head.id == _HEAD_ID).values(seq=head.seq))
    row = connection.execute(select(head.seq, head.hash).where(head.id == _HEAD_ID).with_for_update()).one_or_none()
    if row is None:
        raise AuditError(
            "audit_head has no row: the audit trail was tampered with or its tables were not created by "
            "review_ui.db.Database; run `inspection audit verify` and restore the database from a backup"
        )
    return int(row.seq), str(row.hash)


def _event(fields: Mapping[Any, Any], prev_hash: str, digest: str) -> AuditEvent:
    return AuditEvent(
        sequence=fields["seq"],
        utc=fields["utc"],
        actor=fields["actor"],
        action=fields["action"],
        subject=fields["subject"],
        before=None if fields["before"] is None else json.loads(fields["before"]),
        after=None if fields["after"] is None else json.loads(fields["after"]),
        reason=fields["reason"],
        prev_hash=prev_hash,
        hash=digest,
    )


def _row_event(row: Row[Any]) -> AuditEvent:
    return _event(row._mapping, row.prev_hash, row.hash)


def history(connection: Connection, subject: str) -> list[AuditEvent]:
    """Everything recorded about one subject, oldest first."""
    query = select(audit_events).where(audit_events.c.subject == subject).order_by(audit_events.c.seq)
    return [_row_event(row) for row in connection.execute(query)]


def recent(
    connection: Connection, limit: int, *, actor: str | None = None, action: str | None = None
) -> list[AuditEvent]:
    """The newest `limit` records, newest first, optionally only one actor's or one action's."""
    query = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
    if actor is not None:
        query = query.where(audit_events.c.actor == actor)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    return [_row_event(row) for row in connection.execute(query)]


@dataclass
class _ChainCheck:
    """Walks the rows in seq order keeping only the previous row, so memory stays flat for any length."""

    head_seq: int
    head_hash: str
    max_problems: int
    rows: int = 0
    prev_seq: int = 0
    prev_hash: str = GENESIS_HASH
    head_row_hash: str | None = None
    problems: list[AuditProblem] = field(default_factory=list)
    found: int = 0

    def add(self, seq: int, kind: ProblemKind, detail: str) -> None:
        self.found += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(AuditProblem(seq, kind, detail))

    def check(self, row: Row[Any]) -> None:
        self.rows += 1
        sealed = _recomputed(row) == row.hash
        if not sealed:
            self.add(row.seq, "edited", "its content does not match its hash")
        self._check_place(row, sealed)
        if row.seq == self.head_seq and sealed:
            self.head_row_hash = row.hash
        self.prev_seq, self.prev_hash = max(self.prev_seq, row.seq), row.hash

    def _check_place(self, row: Row[Any], sealed: bool) -> None:
        seq, prev = row.seq, self.prev_seq
        if seq <= prev:
            self.add(seq, "inserted", f"seq {seq} comes after seq {prev}: duplicated or out of order")
        elif seq > prev + 1:
            self.add(prev + 1, "deleted", f"{_span(prev + 1, seq - 1)} missing before seq {seq}")
        elif row.prev_hash != self.prev_hash and sealed:
            self.add(seq, "inserted", f"its prev_hash does not link to seq {prev}: one of the two is forged")

    def check_tail(self) -> None:
        """Rows deleted from the end leave no gap; only the head still knows how many there were."""
        if self.head_seq == 0 or self.prev_seq > self.head_seq:
            return
        if self.prev_seq < self.head_seq:
            missing = _span(self.prev_seq + 1, self.head_seq)
            self.add(
                self.prev_seq + 1, "deleted", f"{missing} missing at the end (audit_head sealed seq {self.head_seq})"
            )
        elif self.head_row_hash not in (None, self.head_hash):
            self.add(self.head_seq, "inserted", "it is not the record audit_head sealed (hash differs)")


def _span(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seq {first}..{last}"


def _recomputed(row: Row[Any]) -> str:
    return chain_hash(
        row.prev_hash,
        seq=row.seq,
        utc=row.utc,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        before=row.before,
        after=row.after,
        reason=row.reason,
    )


def verify(engine: Engine, *, batch_size: int = 1000, max_problems: int = 1000) -> AuditReport:
    """Checks every record's hash, link and place in the chain, streaming `batch_size` rows at a time.

    Safe while appenders run: the head is read before the rows (a sealed tail) and after them (rows
    past it were written without `record`).
    """
    try:
        with engine.connect() as connection:
            head = _read_head(connection)
            check = _ChainCheck(head[0], head[1], max_problems) if head else _ChainCheck(0, GENESIS_HASH, max_problems)
            rows = connection.execution_options(yield_per=batch_size).execute(
                select(audit_events).order_by(audit_events.c.seq)
            )
            for row in rows:
                check.check(row)
            final = _read_head(connection)
            _check_head(connection, check, head, final)
    except SQLAlchemyError as exc:
        shown = engine.url.render_as_string(hide_password=True)
        raise AuditError(
            f"audit trail at {shown}: cannot read it ({exc.__class__.__name__}: {exc}); "
            "check review.database_url and that the database is running"
        ) from exc
    return AuditReport(check.rows, final[0] if final else None, tuple(check.problems), check.found)


def _read_head(connection: Connection) -> tuple[int, str] | None:
    row = connection.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)).first()
    return None if row is None else (int(row.seq), str(row.hash))


def _check_head(
    connection: Connection, check: _ChainCheck, before: tuple[int, str] | None, after: tuple[int, str] | None
) -> None:
    if before is None or after is None:
        check.add(0, "deleted", "audit_head is missing, so deleted newest records cannot be ruled out")
        return
    check.check_tail()
    if check.prev_seq <= after[0]:
        return
    seqs = audit_events.c.seq
    beyond = select(seqs).where(seqs > after[0], seqs <= check.prev_seq).order_by(seqs)
    for seq in connection.execution_options(yield_per=1000).scalars(beyond):
        check.add(seq, "inserted", f"it lies beyond the sealed end of the chain (audit_head records seq {after[0]})")
