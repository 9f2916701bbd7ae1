"""The supervisor HTML pages: history with its filter form, disagreements, and the KPI dashboard."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from review_ui.auth.pages import render
from review_ui.supervisor.api import MAX_HOURS
from review_ui.supervisor.charts import bar_chart, line_chart
from review_ui.supervisor.deps import Db, State, SupervisorPageUser
from review_ui.supervisor.disagreements import disagreements
from review_ui.supervisor.filters import HistoryQuery, ItemRange
from review_ui.supervisor.history import distinct_values, history_page
from review_ui.supervisor.kpis import compute_kpis
from review_ui.supervisor.schemas import Kpis

router = APIRouter(include_in_schema=False)


def page_link(query: HistoryQuery, offset: int) -> str:
    """The same filters at another offset; blank filters are left out of the link."""
    params = query.model_dump(by_alias=True, exclude_none=True, mode="json")
    params["offset"] = offset
    return "/history?" + urlencode(params)


@router.get("/history")
def history(request: Request, query: Annotated[HistoryQuery, Query()], user: SupervisorPageUser, db: Db) -> Response:
    with db.engine.connect() as connection:
        page = history_page(connection, query)
        choices = distinct_values(connection)
    previous = page_link(query, max(query.offset - query.limit, 0)) if query.offset > 0 else None
    following = page_link(query, query.offset + query.limit) if query.offset + query.limit < page.total else None
    return render(
        request,
        "supervisor_history.html",
        user,
        user.csrf_token,
        page=page,
        query=query,
        choices=choices,
        previous=previous,
        following=following,
    )


@router.get("/disagreements")
def disagreement_page(
    request: Request, query: Annotated[ItemRange, Query()], user: SupervisorPageUser, db: Db
) -> Response:
    with db.engine.connect() as connection:
        found = disagreements(connection, query)
        choices = distinct_values(connection)
    charts = {
        "inspectors": bar_chart([(c.key, c.disagreements) for c in found.by_inspector], "Disagreements per inspector"),
        "models": bar_chart([(c.key[:12], c.disagreements) for c in found.by_model], "Disagreements per model"),
    }
    return render(
        request,
        "supervisor_disagreements.html",
        user,
        user.csrf_token,
        found=found,
        query=query,
        choices=choices,
        charts=charts,
    )


@router.get("/dashboard")
def dashboard(
    request: Request,
    user: SupervisorPageUser,
    db: Db,
    state: State,
    hours: Annotated[float, Query(gt=0, le=MAX_HOURS)] = 8.0,
) -> Response:
    with db.engine.connect() as connection:
        kpis = compute_kpis(connection, state.now(), hours)
    return render(
        request,
        "supervisor_dashboard.html",
        user,
        user.csrf_token,
        kpis=kpis,
        hours=hours,
        charts=dashboard_charts(kpis),
    )


def dashboard_charts(kpis: Kpis) -> dict[str, object]:
    inspectors = [(row.inspector, float(row.reject + row.pass_ + row.escalate)) for row in kpis.by_inspector]
    stations = [(row.station_id, float(row.parts)) for row in kpis.by_station]
    return {
        "rate": line_chart(
            kpis.parts_per_minute, "Parts per minute", kpis.first_minute.replace("T", " "), kpis.until_utc[11:16]
        ),
        "inspectors": bar_chart(inspectors, "Verdicts per inspector"),
        "stations": bar_chart(stations, "Parts per station", colour="#2e7d32"),
    }
