"""The login and logout flows, apart from HTTP: limit, verify, rotate the session, audit every outcome."""

from __future__ import annotations

from sqlalchemy import Engine

from review_ui import audit
from review_ui.auth.errors import AuthenticationError, AuthError
from review_ui.auth.sessions import Session, create_session, revoke_session, token_hash
from review_ui.auth.state import AuthState
from review_ui.auth.users import authenticate, normalise_username, subject

ANONYMOUS = "anonymous"


class LoginBlockedError(AuthError):
    status_code = 429

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many failed logins for this user or address: try again in {retry_after_s:.0f} s")


def log_in(
    engine: Engine, state: AuthState, *, username: str, password: str, address: str, old_token: str | None = None
) -> tuple[str, Session]:
    """The new session's cookie token and row; a blocked attempt is refused before the password is looked at."""
    name = normalise_username(username)[:64]
    now = state.clock()
    verdict = state.limiter.check(name, address, now.timestamp())
    if verdict.blocked:
        with engine.begin() as connection:
            audit.record(
                connection,
                actor=ANONYMOUS,
                action="login_blocked",
                subject=subject(name),
                after={"address": address},
                reason=f"more than {state.limiter.attempts} failed logins within {state.limiter.window_s:g} s",
            )
        raise LoginBlockedError(verdict.retry_after_s)
    try:
        with engine.begin() as connection:
            user = authenticate(connection, name, password)
            if old_token:  # a fresh token per login: a planted cookie never becomes a logged-in one
                revoke_session(connection, token_hash(old_token), now=now, reason="new login")
            token, session = create_session(connection, user.username, now=now, address=address)
            audit.record(
                connection,
                actor=user.username,
                action="login",
                subject=subject(user.username),
                after={"address": address, "role": user.role},
            )
    except AuthenticationError as exc:
        state.limiter.failure(name, address, now.timestamp())
        with engine.begin() as connection:
            audit.record(
                connection,
                actor=ANONYMOUS,
                action="login_failed",
                subject=subject(name),
                after={"address": address},
                reason=exc.reason,
            )
        raise
    state.limiter.success(name)
    return token, session


def log_out(engine: Engine, state: AuthState, *, username: str, session_hash: str, address: str) -> None:
    with engine.begin() as connection:
        if revoke_session(connection, session_hash, now=state.clock(), reason="logout"):
            audit.record(
                connection, actor=username, action="logout", subject=subject(username), after={"address": address}
            )
