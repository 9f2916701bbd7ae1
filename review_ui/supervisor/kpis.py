"""Line KPIs over a time window, aggregated in SQL on plain columns so a day of parts stays a handful of rows."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict

from sqlalchemy import ColumnElement, Connection, and_, func, literal_column, select

from review_ui.db import parse_utc, utc_text
from review_ui.items import items, verdicts
from review_ui.supervisor.schemas import InspectorCounts, Kpis, StationCounts

MINUTE_CHARS = 16  # "YYYY-MM-DDTHH:MM"


def minute_text(moment: dt.datetime) -> str:
    return utc_text(moment)[:MINUTE_CHARS]


def parse_minute(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M").replace(tzinfo=dt.UTC)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def compute_kpis(connection: Connection, now: dt.datetime, hours: float) -> Kpis:
    since = now - dt.timedelta(hours=hours)
    since_text, until_text = utc_text(since), utc_text(now)
    window = and_(items.c.captured_utc >= since_text, items.c.captured_utc <= until_text)
    stations, totals = _station_counts(connection, window)
    parts = totals["parts"]
    start = since.replace(second=0, microsecond=0)
    timed, late = _verdict_times(connection, since_text, until_text)
    backlog = connection.execute(
        select(func.count()).select_from(items).where(items.c.state.in_(("pending", "claimed", "awaiting_second")))
    ).scalar_one()
    return Kpis(
        since_utc=since_text,
        until_utc=until_text,
        parts=parts,
        first_minute=minute_text(start),
        parts_per_minute=_per_minute(connection, window, start, now),
        yield_=_share(totals["final_pass"], parts),
        reject_rate=_share(totals["reject"], parts),
        uncertain_rate=_share(totals["uncertain"], parts),
        failsafe_rate=_share(totals["failsafe"], parts),
        backlog=int(backlog),
        verdict_p50_s=percentile(timed, 0.5),
        verdict_p90_s=percentile(timed, 0.9),
        verdicts_timed=len(timed),
        late_verdicts=late,
        by_inspector=_inspector_counts(connection, since_text, until_text),
        by_station=stations,
    )


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def _per_minute(connection: Connection, window: ColumnElement[bool], start: dt.datetime, now: dt.datetime) -> list[int]:
    # Literal arguments, not bound ones: PostgreSQL must see the GROUP BY expression exactly as selected.
    minute = func.substr(items.c.captured_utc, literal_column("1"), literal_column(str(MINUTE_CHARS)))
    counts = [0] * (int((now - start).total_seconds() // 60) + 1)
    for bucket, count in connection.execute(select(minute, func.count()).where(window).group_by(minute)):
        index = int((parse_minute(bucket) - start).total_seconds() // 60)
        if 0 <= index < len(counts):
            counts[index] = int(count)
    return counts


def _station_counts(connection: Connection, window: ColumnElement[bool]) -> tuple[list[StationCounts], Counter[str]]:
    keys = (items.c.station_id, items.c.verdict, items.c.human_verdict, items.c.disposition_origin)
    rows = connection.execute(select(*keys, func.count()).where(window).group_by(*keys))
    per_station: dict[str, Counter[str]] = defaultdict(Counter)
    for station, verdict, human, origin, count in rows:
        tally = per_station[str(station)]
        tally["parts"] += count
        tally[verdict] += count
        if verdict != "failsafe" and origin == "failsafe":
            tally["failsafe"] += count
        if human == "pass" or (human is None and verdict == "pass"):
            tally["final_pass"] += count
    totals: Counter[str] = Counter()
    for tally in per_station.values():
        totals.update(tally)
    stations = [
        StationCounts(
            station_id=station,
            parts=tally["parts"],
            passed=tally["pass"],
            rejected=tally["reject"],
            uncertain=tally["uncertain"],
            failsafe=tally["failsafe"],
        )
        for station, tally in sorted(per_station.items())
    ]
    return stations, totals


def _verdict_times(connection: Connection, since_text: str, until_text: str) -> tuple[list[float], int]:
    """Seconds from the server receiving a part to its human verdict, for verdicts given in the window."""
    rows = connection.execute(
        select(items.c.received_utc, items.c.resolved_utc, items.c.late).where(
            items.c.human_verdict.is_not(None), items.c.resolved_utc >= since_text, items.c.resolved_utc <= until_text
        )
    ).all()
    seconds = [(parse_utc(resolved) - parse_utc(received)).total_seconds() for received, resolved, _ in rows]
    return seconds, sum(1 for *_, late in rows if late)


def _inspector_counts(connection: Connection, since_text: str, until_text: str) -> list[InspectorCounts]:
    keys = (verdicts.c.by, verdicts.c.verdict, verdicts.c.late)
    rows = connection.execute(
        select(*keys, func.count()).where(verdicts.c.utc >= since_text, verdicts.c.utc <= until_text).group_by(*keys)
    )
    per_user: dict[str, Counter[str]] = defaultdict(Counter)
    for user, verdict, late, count in rows:
        per_user[str(user)][str(verdict)] += count
        if late:
            per_user[str(user)]["late"] += count
    return [
        InspectorCounts(
            inspector=user, reject=tally["reject"], pass_=tally["pass"], escalate=tally["escalate"], late=tally["late"]
        )
        for user, tally in sorted(per_user.items())
    ]
