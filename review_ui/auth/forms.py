"""Reads HTML form fields without requiring python-multipart, which only file uploads would need."""

from __future__ import annotations

import functools
import importlib.util
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FORM_BYTES = 64 * 1024


@functools.cache
def _has_multipart() -> bool:
    return importlib.util.find_spec("python_multipart") is not None


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


async def form_fields(request: Request) -> dict[str, str]:
    """The form's text fields ({} for other bodies); with python-multipart present, Starlette's cached parse
    is used so that routes with `Form()` parameters and this function can both read the body."""
    kind = content_type(request)
    if kind not in (URLENCODED, MULTIPART):
        return {}
    if _has_multipart():
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}
    if kind == MULTIPART:
        return {}
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise HTTPException(413, f"form body must declare a Content-Length of at most {MAX_FORM_BYTES} bytes")
    body = await request.body()
    try:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=100))
    except ValueError as exc:
        raise HTTPException(400, f"form body cannot be read ({exc}): send at most 100 fields") from exc
