"""Login, logout and the current user's own endpoints; the admin endpoints live in `admin.py`."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from review_ui.auth import admin
from review_ui.auth.deps import CurrentUser, PageUser, refuse_cross_site
from review_ui.auth.errors import AuthenticationError
from review_ui.auth.forms import URLENCODED, form_fields
from review_ui.auth.login import LoginBlockedError, log_in, log_out
from review_ui.auth.pages import render, safe_next
from review_ui.auth.schemas import MeOut, PasswordChange
from review_ui.auth.state import LOGIN_CSRF_COOKIE, SESSION_COOKIE, auth_state, client_address
from review_ui.auth.users import authenticate, change_password
from review_ui.db import Database

router = APIRouter(tags=["auth"])
router.include_router(admin.router)

LOGIN_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            URLENCODED: {
                "schema": {
                    "type": "object",
                    "required": ["username", "password", "csrf_token"],
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                        "csrf_token": {"type": "string", "description": "the login page's hidden field"},
                        "next": {"type": "string", "description": "same-site path to go to after login"},
                    },
                }
            }
        },
    }
}
LOGIN_FORM_MAX_AGE_S = 3600


def _cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """`__Host-` cookies: Secure, Path=/, no Domain; browsers treat http://127.0.0.1 as secure too."""
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def _drop_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


def _login_form(
    request: Request, next_path: str, *, error: str = "", username: str = "", status_code: int = 200
) -> Response:
    """Double-submit token against login CSRF: the form field must match a cookie only this site can set."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if len(token) != len(secrets.token_urlsafe(32)):
        token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", None, token, status_code, next=next_path, error=error, username=username[:64]
    )
    _cookie(response, LOGIN_CSRF_COOKIE, token, max_age=LOGIN_FORM_MAX_AGE_S)
    return response


@router.get("/login", response_class=HTMLResponse, summary="Login page")
def login_page(request: Request, next_path: Annotated[str, Query(alias="next")] = "/") -> Response:
    return _login_form(request, safe_next(next_path))


@router.post(
    "/login",
    response_class=RedirectResponse,
    status_code=status.HTTP_303_SEE_OTHER,
    summary="Log in with a form; sets the __Host-session cookie and redirects to `next`",
    openapi_extra=LOGIN_FORM_SCHEMA,
    responses={401: {"description": "wrong credentials"}, 403: {"description": "form expired"}, 429: {}},
)
async def login(request: Request) -> Response:
    refuse_cross_site(request)
    fields = await form_fields(request)
    next_path = safe_next(fields.get("next"))
    username = fields.get("username", "")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = fields.get("csrf_token", "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        error = "The login form expired or came from elsewhere: enter your password again."
        return _login_form(request, next_path, error=error, username=username, status_code=403)
    database: Database = request.app.state.db
    try:
        token, _ = await run_in_threadpool(
            lambda: log_in(
                database.engine,
                auth_state(request),
                username=username,
                password=fields.get("password", ""),
                address=client_address(request),
                old_token=request.cookies.get(SESSION_COOKIE),
            )
        )
    except LoginBlockedError as exc:
        response = _login_form(request, next_path, error=str(exc), username=username, status_code=429)
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        return response
    except AuthenticationError as exc:
        return _login_form(request, next_path, error=str(exc), username=username, status_code=401)
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
    _cookie(response, SESSION_COOKIE, token)
    _drop_cookie(response, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", status_code=status.HTTP_303_SEE_OTHER, summary="End this session")
def logout(request: Request, user: PageUser) -> Response:
    log_out(
        request.app.state.db.engine,
        auth_state(request),
        username=user.username,
        session_hash=user.session_hash,
        address=client_address(request),
    )
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    _drop_cookie(response, SESSION_COOKIE)
    return response


@router.get("/api/me", summary="Who is logged in, and the CSRF token for API calls")
def me(user: CurrentUser) -> MeOut:
    return MeOut(username=user.username, full_name=user.full_name, role=user.role, csrf_token=user.csrf_token)


@router.post(
    "/api/me/password", status_code=status.HTTP_204_NO_CONTENT, summary="Change your password; ends other sessions"
)
def change_own_password(request: Request, body: PasswordChange, user: CurrentUser) -> None:
    state = auth_state(request)
    address = client_address(request)
    now = state.clock().timestamp()
    verdict = state.limiter.check(user.username, address, now)
    if verdict.blocked:
        raise LoginBlockedError(verdict.retry_after_s)
    with request.app.state.db.engine.begin() as connection:
        try:
            authenticate(connection, user.username, body.current_password)
        except AuthenticationError as exc:
            state.limiter.failure(user.username, address, now)
            raise HTTPException(403, "current password is wrong: enter the password you logged in with") from exc
        change_password(
            connection,
            actor=user.username,
            username=user.username,
            password=body.new_password,
            keep_session=user.session_hash,
        )
