"""Rendering for the auth pages, over the same template directory as the app.

Its own Jinja2Templates because importing `review_ui.app.templates` here would be an import cycle
(app.py imports `install` from this package).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from review_ui.auth.deps import SessionUser

TEMPLATES = Path(__file__).parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES)


def safe_next(next_path: str | None) -> str:
    """Only a path on this site: never another host, scheme, or a protocol-relative '//host'."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        return "/"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in next_path):
        return "/"
    parts = urlsplit(next_path)
    return next_path if not parts.scheme and not parts.netloc else "/"


def render(
    request: Request, name: str, user: SessionUser | None, csrf_token: str, status_code: int = 200, **context: object
) -> Response:
    return templates.TemplateResponse(
        request, name, {"user": user, "csrf_token": csrf_token, **context}, status_code=status_code
    )
