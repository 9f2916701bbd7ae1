"""The review server's FastAPI application, built by a factory so tests and the CLI get the same app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from inspection import __version__
from inspection.config import StationConfig
from inspection.config.review import database_url
from review_ui.auth import install
from review_ui.db import Database

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def create_app(config: StationConfig, database: Database | None = None) -> FastAPI:
    """`database` defaults to the configured one; the app closes only a database it opened."""
    owned = database is None
    db = database or Database(database_url(config.review, config.storage.data_dir))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                db.close()

    app = FastAPI(
        title="Inspection review server",
        version=__version__,
        description="Review queue, verdicts, audit trail and KPIs for inline inspection stations.",
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.review = config.review
    app.state.db = db
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    install(app)
    return app
