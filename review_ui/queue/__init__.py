"""The inspector's queue: items by deadline, claims, verdicts with signatures, live events."""

from __future__ import annotations

from fastapi import FastAPI

from review_ui.queue.api import router as api_router
from review_ui.queue.pages import router as page_router


def install(app: FastAPI) -> None:
    app.include_router(api_router)
    app.include_router(page_router)
