"""What the station tells the review server about a decided part, built on the store's writer thread."""

from __future__ import annotations

from pathlib import Path

from inspection.contracts import ActuatorCommand, Decision
from inspection.link.messages import DecisionMessage, encode
from inspection.station.store import Announce, OutboxEntry
from inspection.timebase import utc_from_monotonic


def announce_decision(  # noqa: PLR0917 - the facts of one part
    seq: int,
    decision: Decision,
    captured_ns: int,
    deadline_ns: int,
    review: bool,
    command: ActuatorCommand | None,
    attachments: tuple[Path, ...],
    heatmap_box: tuple[int, int, int, int] | None,
) -> Announce:
    """A review item is durable in the outbox; a plain decision is sent while the backlog allows."""

    def build() -> OutboxEntry:
        message = DecisionMessage(
            id=decision.part_id,
            station_id=decision.station_id,
            seq=seq,
            decision=decision,
            captured_utc=utc_from_monotonic(captured_ns),
            deadline_utc=utc_from_monotonic(deadline_ns),
            review=review,
            action=None if command is None else command.action,
            heatmap_box=heatmap_box,
        )
        return OutboxEntry(decision.part_id, durable=review, body=encode(message), attachments=attachments)

    return build
