"""The filters supervisors narrow history by, as one query model and the SQL conditions it stands for.

Blank form fields mean "any", so the plain GET form of the history page and the JSON API share it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticUseDefault
from sqlalchemy import ColumnElement, and_, case, or_, true

from review_ui.items import items

OriginFilter = Literal["auto", "human", "failsafe"]
VerdictFilter = Literal["pass", "reject", "uncertain", "failsafe"]
MAX_OFFSET = 2**31 - 1  # far past any history; larger ones overflow the databases' 64-bit integers (a 500)


class ItemRange(BaseModel):
    """Which parts: by capture date (UTC, both ends inclusive) and station."""

    start: dt.date | None = Field(default=None, alias="from", description="first UTC capture date, YYYY-MM-DD")
    end: dt.date | None = Field(default=None, alias="to", description="last UTC capture date, inclusive")
    station: str | None = Field(default=None, description="station id")

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_any(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault
        return value.strip() if isinstance(value, str) else value


class HistoryQuery(ItemRange):
    verdict: VerdictFilter | None = Field(default=None, description="the model's verdict")
    origin: OriginFilter | None = Field(
        default=None,
        description="auto: decided by the model with no human; human: has a human verdict; "
        "failsafe: failsafe verdict or the fail-safe acted at the gate",
    )
    inspector: str | None = Field(default=None, description="user name of the inspector who gave the verdict")
    model_id: str | None = Field(default=None, description="sha256 of the ONNX model")
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


def failsafe_expr() -> ColumnElement[bool]:
    return or_(items.c.verdict == "failsafe", items.c.disposition_origin == "failsafe")


def human_expr() -> ColumnElement[bool]:
    return items.c.human_verdict.is_not(None)


def auto_expr() -> ColumnElement[bool]:
    """The model decided and nobody waited for a human (a reviewed item is human, failsafe or still open)."""
    return and_(
        items.c.review.is_(False),
        items.c.human_verdict.is_(None),
        items.c.verdict != "failsafe",
        or_(items.c.disposition_origin.is_(None), items.c.disposition_origin != "failsafe"),
    )


def origin_expr() -> ColumnElement[str]:
    """One origin per row for display; the filters may overlap (a late human verdict on a fail-safed part)."""
    return case(
        (human_expr(), "human"),
        (failsafe_expr(), "failsafe"),
        (auto_expr(), "auto"),
        else_="pending",
    )


def range_conditions(query: ItemRange) -> list[ColumnElement[bool]]:
    """ISO text sorts like time, so a date prefix bounds a day on both engines."""
    found: list[ColumnElement[bool]] = []
    if query.start is not None:
        found.append(items.c.captured_utc >= query.start.isoformat())
    if query.end is not None and query.end < dt.date.max:  # the day after 9999-12-31 is no date: no bound needed
        found.append(items.c.captured_utc < (query.end + dt.timedelta(days=1)).isoformat())
    if query.station is not None:
        found.append(items.c.station_id == query.station)
    return found


def history_conditions(query: HistoryQuery) -> ColumnElement[bool]:
    found = range_conditions(query)
    if query.verdict is not None:
        found.append(items.c.verdict == query.verdict)
    if query.inspector is not None:
        found.append(items.c.resolved_by == query.inspector)
    if query.model_id is not None:
        found.append(items.c.model_id == query.model_id)
    match query.origin:
        case "auto":
            found.append(auto_expr())
        case "human":
            found.append(human_expr())
        case "failsafe":
            found.append(failsafe_expr())
        case None:
            pass
    return and_(*found) if found else true()
