"""Electronic signatures: a named person re-enters their password to give a record a stated meaning.

The signature keeps the printed name, UTC time and meaning with the record id (the manifestation an
auditor expects), and the password is checked again even inside a live session, because the session
alone does not prove who is at the keyboard.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy import Column, Connection, Index, Integer, String, Table, select

from review_ui import audit
from review_ui.auth.errors import AuthenticationError, SignatureRefusedError
from review_ui.auth.users import authenticate, normalise_username
from review_ui.db import metadata, utc_text

MAX_MEANING = 200

signatures_table = Table(
    "signatures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("full_name", String(200), nullable=False),
    Column("utc", String(32), nullable=False),
    Column("meaning", String(MAX_MEANING), nullable=False),
    Column("record_id", String(200), nullable=False),
    Index("ix_signatures_record_id", "record_id"),
)


@dataclass(frozen=True)
class Signature:
    id: int
    username: str
    full_name: str
    utc: str
    meaning: str
    record_id: str


def sign(
    connection: Connection,
    username: str,
    password: str,
    meaning: str,
    record_id: str,
    *,
    now: dt.datetime | None = None,
) -> Signature:
    """Stores and audits a signature in the caller's transaction; raises SignatureRefusedError on a wrong password.

    The refusal is audited by the app's exception handler once the caller's transaction has rolled back;
    a caller that catches the error itself should audit it with `audit_refusal`.
    """
    name = normalise_username(username)
    meaning = meaning.strip()
    if not meaning or len(meaning) > MAX_MEANING:
        raise SignatureRefusedError(
            name, meaning[:MAX_MEANING], record_id, f"meaning must be 1-{MAX_MEANING} characters"
        )
    if not record_id:
        raise SignatureRefusedError(name, meaning, record_id, "no record to sign")
    try:
        user = authenticate(connection, name, password)
    except AuthenticationError as exc:
        raise SignatureRefusedError(name, meaning, record_id, _why(exc.reason)) from exc
    utc = utc_text(now or dt.datetime.now(dt.UTC))
    values = {"username": user.username, "full_name": user.full_name, "utc": utc, "meaning": meaning}
    new_id = connection.execute(signatures_table.insert().values(**values, record_id=record_id)).inserted_primary_key
    assert new_id is not None
    signature = Signature(id=int(new_id[0]), record_id=record_id, **values)
    audit.record(
        connection,
        actor=user.username,
        action="signature",
        subject=f"record:{record_id}",
        after=asdict(signature),
        reason=meaning,
    )
    return signature


def audit_refusal(connection: Connection, error: SignatureRefusedError) -> None:
    audit.record(
        connection,
        actor=error.username[:64],
        action="signature_refused",
        subject=f"record:{error.record_id}",
        after={"username": error.username[:64], "meaning": error.meaning},
        reason=error.reason,
    )


def signatures_for(connection: Connection, record_id: str) -> list[Signature]:
    rows = connection.execute(
        select(signatures_table).where(signatures_table.c.record_id == record_id).order_by(signatures_table.c.id)
    )
    return [Signature(r.id, r.username, r.full_name, r.utc, r.meaning, r.record_id) for r in rows]


def _why(reason: str) -> str:
    # "unknown user" and "wrong password" read the same to the signer, as at login.
    return "account disabled" if reason == "user disabled" else "wrong username or password"
