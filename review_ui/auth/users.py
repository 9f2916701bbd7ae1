"""Web users and their roles (DESIGN.md invariant 6); every change is audited, and a disable or role change
ends the user's sessions in the same transaction, so the next request already sees it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Boolean, Column, Connection, Row, String, Table, func, select, update
from sqlalchemy.exc import IntegrityError

from review_ui import audit
from review_ui.auth import passwords
from review_ui.auth.errors import (
    AuthenticationError,
    LastAdminError,
    PasswordPolicyError,
    UnknownUserError,
    UserExistsError,
)
from review_ui.auth.sessions import revoke_user_sessions
from review_ui.db import metadata, utc_text

Role = Literal["inspector", "supervisor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

users_table = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("full_name", String(200), nullable=False, default=""),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_utc", String(32), nullable=False),
)


@dataclass(frozen=True)
class User:
    """A user without the password hash, so it can go to templates, JSON and the audit trail as is."""

    username: str
    full_name: str
    role: Role
    disabled: bool
    created_utc: str

    def audit_view(self) -> dict[str, object]:
        return asdict(self)


def subject(username: str) -> str:
    return f"user:{username[:64]}"


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise PasswordPolicyError(
            f"username {username!r} is not allowed: use 1-64 lowercase letters, digits, '.', '_' or '-'"
        )
    return username


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise PasswordPolicyError(f"role {role!r} does not exist: use one of {', '.join(ROLES)}")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _user(row: Row[Any]) -> User:
    return User(row.username, row.full_name, check_role(row.role), bool(row.disabled), row.created_utc)


def get_user(connection: Connection, username: str) -> User | None:
    row = connection.execute(select(users_table).where(users_table.c.username == username)).one_or_none()
    return None if row is None else _user(row)


def require_user(connection: Connection, username: str) -> User:
    user = get_user(connection, username)
    if user is None:
        raise UnknownUserError(f"user {username!r} does not exist: check the name with `inspection users list`")
    return user


def list_users(connection: Connection) -> list[User]:
    return [_user(row) for row in connection.execute(select(users_table).order_by(users_table.c.username))]


def add_user(
    connection: Connection,
    *,
    actor: str,
    username: str,
    role: str,
    password: str,
    full_name: str = "",
    now: dt.datetime | None = None,
) -> User:
    name = check_username(normalise_username(username))
    checked_role = check_role(role)
    passwords.check_policy(name, password)
    if get_user(connection, name) is not None:
        raise UserExistsError(f"user {name!r} already exists: pick another name or change its role instead")
    user = User(name, full_name.strip()[:200], checked_role, False, utc_text(_now(now)))
    try:
        connection.execute(users_table.insert().values(**asdict(user), password_hash=passwords.hash_password(password)))
    except IntegrityError as exc:  # created between our check and the insert
        raise UserExistsError(f"user {name!r} already exists: pick another name or change its role instead") from exc
    audit.record(connection, actor=actor, action="user_created", subject=subject(name), after=user.audit_view())
    return user


def disable_user(
    connection: Connection, *, actor: str, username: str, reason: str = "", now: dt.datetime | None = None
) -> User:
    before = require_user(connection, username)
    if before.role == "admin" and not before.disabled:
        _keep_an_admin(connection, username, "disable")
    connection.execute(update(users_table).where(users_table.c.username == username).values(disabled=True))
    ended = revoke_user_sessions(connection, username, now=_now(now), reason="user disabled")
    after = require_user(connection, username)
    audit.record(
        connection,
        actor=actor,
        action="user_disabled",
        subject=subject(username),
        before=before.audit_view(),
        after={**after.audit_view(), "sessions_ended": ended},
        reason=reason,
    )
    return after


def set_role(
    connection: Connection, *, actor: str, username: str, role: str, reason: str = "", now: dt.datetime | None = None
) -> User:
    new_role = check_role(role)
    before = require_user(connection, username)
    if before.role == new_role:
        return before
    if before.role == "admin" and not before.disabled:
        _keep_an_admin(connection, username, "demote")
    connection.execute(update(users_table).where(users_table.c.username == username).values(role=new_role))
    ended = revoke_user_sessions(connection, username, now=_now(now), reason="role changed")
    after = require_user(connection, username)
    audit.record(
        connection,
        actor=actor,
        action="role_change",
        subject=subject(username),
        before=before.audit_view(),
        after={**after.audit_view(), "sessions_ended": ended},
        reason=reason,
    )
    return after


def change_password(
    connection: Connection,
    *,
    actor: str,
    username: str,
    password: str,
    keep_session: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Ends the user's other sessions: whoever knew the old password is logged out."""
    require_user(connection, username)
    passwords.check_policy(username, password)
    connection.execute(
        update(users_table)
        .where(users_table.c.username == username)
        .values(password_hash=passwords.hash_password(password))
    )
    ended = revoke_user_sessions(connection, username, now=_now(now), reason="password changed", keep=keep_session)
    audit.record(
        connection,
        actor=actor,
        action="password_change",
        subject=subject(username),
        after={"sessions_ended": ended},
    )


def authenticate(connection: Connection, username: str, password: str) -> User:
    """The active user with this password; upgrades an outdated hash. Not audited: the caller knows why it asks."""
    name = normalise_username(username)
    row = connection.execute(select(users_table).where(users_table.c.username == name)).one_or_none()
    if not passwords.verify_password(None if row is None else row.password_hash, password):
        raise AuthenticationError(name, "unknown user" if row is None else "wrong password")
    assert row is not None  # verify_password is False without a hash
    if row.disabled:
        raise AuthenticationError(name, "user disabled")
    if passwords.needs_rehash(row.password_hash):
        connection.execute(
            update(users_table)
            .where(users_table.c.username == name)
            .values(password_hash=passwords.hash_password(password))
        )
    return _user(row)


def _keep_an_admin(connection: Connection, username: str, verb: str) -> None:
    others = connection.execute(
        select(func.count())
        .select_from(users_table)
        .where(users_table.c.role == "admin", users_table.c.disabled.is_(False), users_table.c.username != username)
    ).scalar_one()
    if others == 0:
        raise LastAdminError(f"cannot {verb} {username!r}, the last active admin: make another user admin first")
