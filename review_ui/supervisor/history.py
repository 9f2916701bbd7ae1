"""History of decided parts for supervisors: filtered, paged, newest capture first."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from review_ui.items import items
from review_ui.supervisor.filters import HistoryQuery, history_conditions, origin_expr
from review_ui.supervisor.schemas import HistoryPage, HistoryRow

COLUMNS = (
    items.c.part_id,
    items.c.station_id,
    items.c.captured_utc,
    items.c.verdict,
    items.c.reason,
    items.c.score,
    items.c.model_id,
    items.c.state,
    items.c.human_verdict,
    items.c.resolved_by,
    items.c.resolved_utc,
    items.c.late,
    items.c.disposition,
    items.c.disposition_origin,
)


def history_page(connection: Connection, query: HistoryQuery) -> HistoryPage:
    where = history_conditions(query)
    total = connection.execute(select(func.count()).select_from(items).where(where)).scalar_one()
    rows = connection.execute(
        select(*COLUMNS, origin_expr().label("origin"))
        .where(where)
        .order_by(items.c.captured_utc.desc(), items.c.part_id.desc())  # part id breaks ties: stable pages
        .limit(query.limit)
        .offset(query.offset)
    ).mappings()
    return HistoryPage(
        total=int(total),
        limit=query.limit,
        offset=query.offset,
        items=[HistoryRow.model_validate(dict(row)) for row in rows],
    )


def distinct_values(connection: Connection) -> dict[str, list[str]]:
    """Choices for the filter form's drop-downs: stations, inspectors and models seen so far."""
    found: dict[str, list[str]] = {}
    for name, column in (
        ("stations", items.c.station_id),
        ("inspectors", items.c.resolved_by),
        ("models", items.c.model_id),
    ):
        query = select(column).where(column.is_not(None)).distinct().order_by(column).limit(200)
        found[name] = [str(value) for value in connection.execute(query).scalars()]
    return found
