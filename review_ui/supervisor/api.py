"""The supervisor JSON API: history, disagreements, KPIs and dataset export (supervisor and admin only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query

from review_ui import audit
from review_ui.supervisor.deps import Db, Images, State, SupervisorState, SupervisorUser
from review_ui.supervisor.disagreements import disagreements
from review_ui.supervisor.export import export_dataset
from review_ui.supervisor.filters import HistoryQuery, ItemRange
from review_ui.supervisor.history import history_page
from review_ui.supervisor.kpis import compute_kpis
from review_ui.supervisor.schemas import Disagreements, ExportSummary, HistoryPage, Kpis

router = APIRouter(prefix="/api", tags=["supervisor"])
MAX_HOURS = 168.0


@router.get("/history", response_model=HistoryPage)
def get_history(query: Annotated[HistoryQuery, Query()], user: SupervisorUser, db: Db) -> HistoryPage:
    """Decided parts matching the filters, newest capture first."""
    with db.engine.connect() as connection:
        return history_page(connection, query)


@router.get("/disagreements", response_model=Disagreements)
def get_disagreements(query: Annotated[ItemRange, Query()], user: SupervisorUser, db: Db) -> Disagreements:
    """Human verdicts that overrule the model, counted per inspector and per model."""
    with db.engine.connect() as connection:
        return disagreements(connection, query)


@router.get("/kpis", response_model=Kpis)
def get_kpis(
    user: SupervisorUser,
    db: Db,
    state: State,
    hours: Annotated[float, Query(gt=0, le=MAX_HOURS, description="window length, ending now")] = 8.0,
) -> Kpis:
    with db.engine.connect() as connection:
        return compute_kpis(connection, state.now(), hours)


@router.post("/export", response_model=ExportSummary)
def post_export(body: ItemRange, user: SupervisorUser, db: Db, state: State, images: Images) -> ExportSummary:
    """Writes human-verified parts to <data_dir>/exports/<UTC time>/ and audits who exported what.

    The export reads on its own connection; the audit record gets a short transaction afterwards,
    because `audit.record` holds the chain's head lock until commit.
    """
    out_dir = _fresh_dir(state)
    with db.engine.connect() as connection:
        summary = export_dataset(connection, images, out_dir, body)
    with db.engine.begin() as connection:
        audit.record(
            connection,
            actor=user.username,
            action="dataset_export",
            subject=f"export:{out_dir.name}",
            after={
                "from": None if body.start is None else body.start.isoformat(),
                "to": None if body.end is None else body.end.isoformat(),
                "station": body.station,
                "good": summary.good,
                "defect": summary.defect,
                "heatmaps": summary.heatmaps,
                "skipped": len(summary.skipped),
            },
            reason="training data export",
        )
    return summary


def _fresh_dir(state: SupervisorState) -> Path:
    """A folder named by the UTC time; a second export in the same second gets a suffix, never a merge."""
    root = state.data_dir / "exports"
    stamp = state.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1, 1000):
        candidate = root / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"cannot make a fresh export folder under {root}")
