"""FastAPI dependencies: who is asking (from the session cookie), may they, and is the request really theirs.

Every state-changing request that authenticates also passes the CSRF check, because `current_user`
and `current_page_user` depend on `csrf_protect`: a route cannot forget it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from review_ui.auth.forms import form_fields
from review_ui.auth.sessions import lookup_session, revoke_session
from review_ui.auth.state import SESSION_COOKIE, auth_state
from review_ui.auth.users import ROLES, Role, get_user
from review_ui.db import Database

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
MAX_TOKEN = 128


@dataclass(frozen=True)
class SessionUser:
    """The logged-in user of this request; `csrf_token` goes into pages and API clients' headers."""

    username: str
    full_name: str
    role: Role
    csrf_token: str
    session_hash: str


class LoginRequiredError(Exception):
    """Raised for HTML pages; the app answers with a redirect to /login?next=..."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__(f"log in to see {next_path}")


def session_user(request: Request) -> SessionUser | None:
    """Sync so FastAPI runs the database work in its thread pool; cached once per request."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > MAX_TOKEN:
        return None
    state = auth_state(request)
    database: Database = request.app.state.db
    now = state.clock()
    with database.engine.begin() as connection:
        session = lookup_session(connection, token, now=now, timeouts=state.timeouts)
        if session is None:
            return None
        user = get_user(connection, session.username)
        if user is None or user.disabled:  # disabling revokes; this is the belt to those braces
            revoke_session(connection, session.token_hash, now=now, reason="user disabled")
            return None
    return SessionUser(user.username, user.full_name, user.role, session.csrf_token, session.token_hash)


def refuse_cross_site(request: Request) -> None:
    """Browsers say where a request comes from; a state change from another site is refused outright."""
    if request.method in UNSAFE_METHODS and request.headers.get("sec-fetch-site", "same-origin") not in (
        "same-origin",
        "none",
    ):
        raise HTTPException(403, "cross-site request refused: submit the form from the review server's own pages")


async def csrf_protect(request: Request, user: Annotated[SessionUser | None, Depends(session_user)]) -> None:
    """A state change must carry the session's CSRF token (header X-CSRF-Token or form field csrf_token)."""
    if request.method not in UNSAFE_METHODS:
        return
    refuse_cross_site(request)
    if user is None:
        return  # nothing to forge: the authentication dependency answers 401 or redirects
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        sent = (await form_fields(request)).get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise HTTPException(
            403, f"CSRF token missing or wrong: send the {CSRF_HEADER} header from /api/me, or reload the page"
        )


async def current_user(
    user: Annotated[SessionUser | None, Depends(session_user)], _csrf: Annotated[None, Depends(csrf_protect)]
) -> SessionUser:
    """For the JSON API: 401 without a live session."""
    if user is None:
        raise HTTPException(401, "not logged in or the session has ended: log in at /login")
    return user


async def current_page_user(
    request: Request,
    user: Annotated[SessionUser | None, Depends(session_user)],
    _csrf: Annotated[None, Depends(csrf_protect)],
) -> SessionUser:
    """For HTML pages: without a live session, a redirect to the login page that comes back here."""
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequiredError(path if request.method == "GET" else "/")
    return user


def require_role(*roles: Role, page: bool = False) -> Callable[..., Awaitable[SessionUser]]:
    """A dependency admitting only `roles` (403 otherwise); `page=True` redirects anonymous users to log in."""
    unknown = [role for role in roles if role not in ROLES]
    if not roles or unknown:
        raise ValueError(f"require_role needs roles from {ROLES}, got {roles}")
    base = current_page_user if page else current_user

    async def dependency(user: SessionUser) -> SessionUser:
        if user.role not in roles:
            raise HTTPException(403, f"role {user.role!r} may not do this: it needs {' or '.join(roles)}")
        return user

    # Set as an object: under `from __future__ import annotations` FastAPI could not resolve the local `base`.
    dependency.__annotations__["user"] = Annotated[SessionUser, Depends(base)]
    return dependency


CurrentUser = Annotated[SessionUser, Depends(current_user)]
PageUser = Annotated[SessionUser, Depends(current_page_user)]
AdminUser = Annotated[SessionUser, Depends(require_role("admin"))]
AdminPageUser = Annotated[SessionUser, Depends(require_role("admin", page=True))]
