"""Where inspectors overrule the model: the labels that say most about where the model is wrong.

A human pass on a model reject or uncertain (or a human reject on a model pass) is a disagreement;
a human reject on a model uncertain agrees with caution and is counted apart as "model unsure".
Fail-safe verdicts carry no model opinion and are left out.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, and_, func, or_, select

from review_ui.items import items
from review_ui.supervisor.filters import ItemRange, range_conditions
from review_ui.supervisor.schemas import DisagreementCount, DisagreementKind, DisagreementRow, Disagreements

UNSURE: DisagreementKind = "model_unsure"
KINDS: dict[tuple[str, str], DisagreementKind] = {
    ("reject", "pass"): "model_reject_human_pass",
    ("uncertain", "pass"): "model_uncertain_human_pass",
    ("pass", "reject"): "model_pass_human_reject",
    ("uncertain", "reject"): UNSURE,
}
ROW_LIMIT = 200


def disagreements(connection: Connection, query: ItemRange) -> Disagreements:
    """Counts grouped on plain columns and classified here: no CASE in GROUP BY, which PostgreSQL rejects."""
    reviewed = and_(items.c.human_verdict.is_not(None), items.c.verdict != "failsafe", *range_conditions(query))
    groups = connection.execute(
        select(items.c.verdict, items.c.human_verdict, items.c.resolved_by, items.c.model_id, func.count())
        .where(reviewed)
        .group_by(items.c.verdict, items.c.human_verdict, items.c.resolved_by, items.c.model_id)
    ).all()
    by_kind: Counter[str] = Counter()
    inspectors: dict[str, Counter[str]] = {}
    models: dict[str, Counter[str]] = {}
    for verdict, human, inspector, model_id, count in groups:
        kind = KINDS.get((verdict, human), "agree")
        by_kind[kind] += count
        for table, key in ((inspectors, str(inspector)), (models, str(model_id))):
            tally = table.setdefault(key, Counter())
            tally["reviewed"] += count
            tally[kind] += count
    pairs = or_(*(and_(items.c.verdict == model, items.c.human_verdict == human) for model, human in KINDS))
    rows = connection.execute(
        select(items)
        .where(reviewed, pairs)
        .order_by(items.c.captured_utc.desc(), items.c.part_id.desc())
        .limit(ROW_LIMIT)
    ).mappings()
    return Disagreements(
        reviewed=sum(by_kind.values()),
        disagreements=_disagreeing(by_kind),
        model_unsure=by_kind[UNSURE],
        by_kind={kind: by_kind[kind] for kind in KINDS.values() if kind != UNSURE},
        by_inspector=_counts(inspectors),
        by_model=_counts(models),
        items=[
            DisagreementRow(
                part_id=row["part_id"],
                station_id=row["station_id"],
                captured_utc=row["captured_utc"],
                model_verdict=row["verdict"],
                human_verdict=row["human_verdict"],
                kind=KINDS[(row["verdict"], row["human_verdict"])],
                inspector=row["resolved_by"] or "",
                model_id=row["model_id"],
                score=row["score"],
            )
            for row in rows
        ],
    )


def _disagreeing(tally: Counter[str]) -> int:
    return sum(tally[kind] for kind in KINDS.values() if kind != UNSURE)


def _counts(table: dict[str, Counter[str]]) -> list[DisagreementCount]:
    return [
        DisagreementCount(
            key=key, reviewed=tally["reviewed"], disagreements=_disagreeing(tally), model_unsure=tally[UNSURE]
        )
        for key, tally in sorted(table.items())
    ]
