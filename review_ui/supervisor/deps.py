"""What supervisor routes depend on: the role check, the clock, the database and the image store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from review_ui.auth.deps import SessionUser, require_role
from review_ui.auth.state import Clock
from review_ui.db import Database
from review_ui.images import ImageFiles

SupervisorUser = Annotated[SessionUser, Depends(require_role("supervisor", "admin"))]
SupervisorPageUser = Annotated[SessionUser, Depends(require_role("supervisor", "admin", page=True))]


@dataclass
class SupervisorState:
    """Held as `app.state.supervisor`; tests swap the clock to get a known KPI window."""

    clock: Clock
    data_dir: Path

    def now(self) -> dt.datetime:
        return self.clock()


def supervisor_state(request: Request) -> SupervisorState:
    state: SupervisorState = request.app.state.supervisor
    return state


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def image_files(request: Request) -> ImageFiles:
    """The app's image store when it has one, else the default folder under the data directory."""
    images: ImageFiles | None = getattr(request.app.state, "images", None)
    return images or ImageFiles(supervisor_state(request).data_dir / "review_images")


State = Annotated[SupervisorState, Depends(supervisor_state)]
Db = Annotated[Database, Depends(database)]
Images = Annotated[ImageFiles, Depends(image_files)]
