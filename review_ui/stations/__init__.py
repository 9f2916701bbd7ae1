"""Stations as the review server sees them, and supervisors' threshold and policy changes to them."""

from __future__ import annotations

from fastapi import FastAPI

from review_ui.stations.routes import router


def install(app: FastAPI) -> None:
    app.include_router(router)
