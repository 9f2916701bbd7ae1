"""Users, roles, sessions, CSRF, login rate limit, security headers and e-signatures for the review server.

Routes elsewhere use the dependencies in `review_ui.auth.deps` (`CurrentUser`, `PageUser`,
`require_role`) and `review_ui.auth.signatures.sign`; `install` wires the rest into the app.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from review_ui.auth.deps import LoginRequiredError
from review_ui.auth.errors import AuthError, SignatureRefusedError
from review_ui.auth.headers import SecurityHeadersMiddleware
from review_ui.auth.login import LoginBlockedError
from review_ui.auth.routes import router
from review_ui.auth.signatures import audit_refusal
from review_ui.auth.state import AuthState, Clock, system_clock
from review_ui.db import Database

__all__ = ["AuthState", "install"]


def install(app: FastAPI, *, clock: Clock = system_clock) -> None:
    """Adds the security headers, the auth routes and the mapping of auth errors to HTTP answers."""
    app.state.auth = AuthState.from_review(app.state.review, clock)
    app.add_middleware(SecurityHeadersMiddleware, hsts=app.state.auth.tls)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(LoginRequiredError, _login_required)
    app.include_router(router)


async def _auth_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, AuthError):  # pragma: no cover - registered for AuthError only
        raise exc
    if isinstance(exc, SignatureRefusedError):
        # The route's transaction has rolled back by now, so the refusal gets a transaction of its own.
        await run_in_threadpool(_record_refusal, request.app.state.db, exc)
    headers = {"Retry-After": str(max(1, round(exc.retry_after_s)))} if isinstance(exc, LoginBlockedError) else None
    return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)


def _record_refusal(database: Database, exc: SignatureRefusedError) -> None:
    with database.engine.begin() as connection:
        audit_refusal(connection, exc)


async def _login_required(request: Request, exc: Exception) -> Response:
    next_path = exc.next_path if isinstance(exc, LoginRequiredError) else "/"
    return RedirectResponse(f"/login?next={quote(next_path, safe='/')}", status_code=303)
