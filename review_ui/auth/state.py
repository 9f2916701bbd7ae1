"""What the auth code keeps per app: the review settings, the login limiter and an injectable clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from inspection.config.review import ReviewConfig
from review_ui.auth.ratelimit import LoginRateLimiter
from review_ui.auth.sessions import Timeouts

Clock = Callable[[], dt.datetime]
SESSION_COOKIE = "__Host-session"
LOGIN_CSRF_COOKIE = "__Host-login-csrf"


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class AuthState:
    """Tests replace `clock` to age sessions and windows instead of sleeping."""

    review: ReviewConfig
    limiter: LoginRateLimiter
    clock: Clock = field(default=system_clock)

    @classmethod
    def from_review(cls, review: ReviewConfig, clock: Clock = system_clock) -> AuthState:
        return cls(review, LoginRateLimiter(review.login_attempts, review.login_window_s), clock)

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(
            idle=dt.timedelta(minutes=self.review.session_idle_minutes),
            absolute=dt.timedelta(hours=self.review.session_absolute_hours),
        )

    @property
    def tls(self) -> bool:
        return self.review.tls_cert is not None


def auth_state(where: HTTPConnection | FastAPI) -> AuthState:
    app = where if isinstance(where, FastAPI) else where.app
    state = getattr(app.state, "auth", None)
    if not isinstance(state, AuthState):
        raise RuntimeError("review_ui.auth.install(app) was not called: the app has no auth state")
    return state


def client_address(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"
