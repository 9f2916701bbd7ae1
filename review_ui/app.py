"""The review server's FastAPI application, built by a factory so tests and the CLI get the same app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from inspection import __version__
from inspection.config import StationConfig
from inspection.config.review import database_url
from review_ui import audit, items, queue, stations, supervisor  # noqa: F401 - audit and items define tables
from review_ui.auth import install
from review_ui.db import Database
from review_ui.hub import Hub
from review_ui.images import ImageFiles
from review_ui.ingest import IngestProcess
from review_ui.queue.lines import QueueLines
from review_ui.queue.schemas import QueueEntry

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


def create_app(config: StationConfig, database: Database | None = None, *, link: bool = True) -> FastAPI:
    """`database` defaults to the configured one (the app closes only one it opened); `link=False`: no stations."""
    owned = database is None
    db = database or Database(database_url(config.review, config.storage.data_dir))
    lines: QueueLines[QueueEntry] = QueueLines()
    hub = Hub(on_change=lines.invalidate)
    images = ImageFiles(config.storage.data_dir / "review_images")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        server = None
        if link:
            keys_dir = config.review.keys_dir or config.storage.data_dir / "keys"
            url = db.url.render_as_string(hide_password=False)
            server = IngestProcess(config.review.link_bind, keys_dir, url, images.root, hub.publish)
            app.state.link = server
            log.info("stations connect to %s", server.endpoint)
        try:
            yield
        finally:
            if server is not None:
                server.close()
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
    app.state.hub = hub
    app.state.queue_lines = lines
    app.state.images = images
    app.state.link = None
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    install(app)
    supervisor.install(app)
    queue.install(app)
    stations.install(app)
    return app
