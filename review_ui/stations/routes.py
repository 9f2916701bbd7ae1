"""Supervisors see each station's health and settings, and change thresholds or policy with a reason."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from calibration.record import CalibrationError, parse_record
from calibration.thresholds import ThresholdsCalibration
from inspection.link.messages import SettingsMessage, StationSettings
from review_ui import items
from review_ui.auth.deps import SessionUser, require_role
from review_ui.auth.forms import form_fields
from review_ui.db import Database
from review_ui.hub import Hub
from review_ui.stations import store
from review_ui.templating import templates

if TYPE_CHECKING:
    from review_ui.ingest import IngestProcess  # the link imports this package's store

router = APIRouter(tags=["stations"])
Supervisor = Annotated[SessionUser, Depends(require_role("supervisor", "admin"))]
SupervisorPage = Annotated[SessionUser, Depends(require_role("supervisor", "admin", page=True))]
ONLINE_S = 5.0


class StationView(BaseModel):
    station_id: str
    online: bool = Field(description="heard from within the last few seconds")
    healthy: bool | None
    problems: list[str]
    settings: StationSettings | None = Field(description="thresholds and policy in force, as the station reports")
    pending: list[SettingsMessage] = Field(description="changes not yet acknowledged by the station")


class SettingsChange(BaseModel):
    pass_below: float = Field(ge=0.0, le=1.0, description="scores below this pass")
    reject_above: float = Field(ge=0.0, le=1.0, description="scores at or above this are rejected")
    reject: Literal["auto", "confirm"] = Field(description="rejects: automatic, or confirmed by a human")
    uncertain: Literal["review", "auto"] = Field(description="uncertain parts: reviewed by a human, or rejected")
    reason: str = Field(min_length=3, max_length=1000, description="why: mandatory, kept in the audit trail")
    thresholds_file: str | None = Field(
        default=None,
        max_length=100_000,
        description="JSON of a file from `inspection calibrate thresholds` for the station's model: its thresholds "
        "are applied (pass_below and reject_above must equal the file's) and its id goes into the version",
    )


def stations(request: Request) -> list[StationView]:
    database: Database = request.app.state.db
    link: IngestProcess | None = request.app.state.link
    seen = dict(link.stations) if link is not None else {}
    with database.engine.connect() as connection:
        known = {r[0] for r in connection.execute(select(items.items.c.station_id).distinct())}
        pending = store.undelivered(connection)
    now = time.monotonic()
    return [
        StationView(
            station_id=name,
            online=name in seen and now - seen[name].last_seen < ONLINE_S,
            healthy=seen[name].healthy if name in seen else None,
            problems=list(seen[name].problems) if name in seen else [],
            settings=seen[name].settings if name in seen else None,
            pending=[change for change in pending if change.station_id == name],
        )
        for name in sorted(known | set(seen))
    ]


@router.get("/api/stations", response_model=list[StationView], summary="Stations, their health and settings")
def list_stations(request: Request, user: Supervisor) -> list[StationView]:
    return stations(request)


@router.post(
    "/api/stations/{station_id}/settings",
    response_model=SettingsMessage,
    summary="Change a station's thresholds and policy (versioned, audited, sent over the link)",
)
def change_settings(request: Request, station_id: str, body: SettingsChange, user: Supervisor) -> SettingsMessage:
    return _change(request, station_id, body, user)


@router.get("/settings", response_class=HTMLResponse, include_in_schema=False)
def settings_page(request: Request, user: SupervisorPage, error: str = "") -> HTMLResponse:
    database: Database = request.app.state.db
    with database.engine.connect() as connection:
        history = store.history(connection)
    context = {"user": user, "csrf_token": user.csrf_token, "stations": stations(request), "history": history}
    return templates.TemplateResponse(request, "settings.html", {**context, "error": error})


@router.post("/settings/{station_id}", include_in_schema=False)
async def settings_form(request: Request, station_id: str, user: SupervisorPage) -> RedirectResponse:
    fields = await form_fields(request)
    try:
        body = SettingsChange.model_validate({k: v for k, v in fields.items() if k in SettingsChange.model_fields})
        _change(request, station_id, body, user)
    except (ValidationError, HTTPException) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else "; ".join(e["msg"] for e in exc.errors())
        return RedirectResponse(f"/settings?error={detail}", status_code=303)
    return RedirectResponse("/settings", status_code=303)


def _change(request: Request, station_id: str, body: SettingsChange, user: SessionUser) -> SettingsMessage:
    known = {view.station_id: view for view in stations(request)}
    if station_id not in known:
        raise HTTPException(404, f"no station {station_id!r} has connected or sent a decision")
    database: Database = request.app.state.db
    wanted = body.model_dump(exclude={"reason", "thresholds_file"})
    calibrated = None
    if body.thresholds_file is not None:
        calibrated = _calibrated(database, station_id, body).id
    try:
        with database.engine.begin() as connection:
            message = store.propose(
                connection,
                station_id,
                wanted,
                known[station_id].settings,
                user.username,
                body.reason,
                dt.datetime.now(dt.UTC),
                calibrated,
            )
    except ValidationError as exc:
        raise HTTPException(422, "; ".join(e["msg"] for e in exc.errors())) from exc
    hub: Hub = request.app.state.hub
    hub.publish("settings", {"station_id": station_id, "version": message.settings.version})
    return message


def _calibrated(database: Database, station_id: str, body: SettingsChange) -> ThresholdsCalibration:
    """The uploaded thresholds file, if it is intact, made for the station's model and matches the form."""
    assert body.thresholds_file is not None
    try:
        record = parse_record(body.thresholds_file, ThresholdsCalibration, "the thresholds file")
    except CalibrationError as exc:
        raise HTTPException(422, str(exc)) from None
    with database.engine.connect() as connection:
        model_id = connection.execute(
            select(items.items.c.model_id)
            .where(items.items.c.station_id == station_id)
            .order_by(items.items.c.seq.desc())
        ).first()
    if model_id is not None and model_id[0] != record.model_id:
        raise HTTPException(
            422,
            f"thresholds file {record.id} was calibrated for model {record.model_id[:12]}, but {station_id} runs "
            f"{model_id[0][:12]}; calibrate thresholds for that model",
        )
    if (body.pass_below, body.reject_above) != (record.pass_below, record.reject_above):
        raise HTTPException(
            422,
            f"thresholds file {record.id} sets pass_below {record.pass_below} and reject_above {record.reject_above}; "
            "the change must use those values",
        )
    return record
