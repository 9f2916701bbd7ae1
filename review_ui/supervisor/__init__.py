"""Supervisor views: decision history, human/model disagreements, line KPIs and training-data export.

Every route admits only the supervisor and admin roles; inspectors get 403.
"""

from __future__ import annotations

from fastapi import FastAPI

from review_ui.auth.state import Clock, system_clock
from review_ui.supervisor import api, pages
from review_ui.supervisor.deps import SupervisorState
from review_ui.supervisor.export import export_dataset
from review_ui.supervisor.schemas import ExportSummary

__all__ = ["ExportSummary", "SupervisorState", "export_dataset", "install"]


def install(app: FastAPI, *, clock: Clock = system_clock) -> None:
    """Needs `app.state.config` (for the data directory) and the auth install (for the role checks)."""
    app.state.supervisor = SupervisorState(clock=clock, data_dir=app.state.config.storage.data_dir)
    app.include_router(api.router)
    app.include_router(pages.router)
