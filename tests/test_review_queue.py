"""The queue API reads its lines once per change: every change an event announces is in the next reload."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from review_ui.db import Database
from review_ui.queue.lines import QueueLines
from tests.test_auth import make_user
from tests.test_review_verdicts import add_pending, inspectors, review_app


def test_each_reload_after_an_event_shows_the_change_and_seen_stays_per_inspector(
    tmp_path: Path, database: Database
) -> None:
    make_user(database, "ann")
    make_user(database, "bob")
    first = add_pending(database, "s1-1")
    app = review_app(tmp_path, database)
    with inspectors(app, "ann", "bob") as [(ann, ah), (bob, _)]:

        def lines(client: TestClient) -> dict[str, dict[str, object]]:
            return {line["part_id"]: line for line in client.get("/api/queue").json()["items"]}

        assert list(lines(ann)) == [first]
        second = add_pending(database, "s1-2", window_s=90)  # stored as the link stores it, then announced
        app.state.hub.publish("item", {"part_id": second, "station_id": "s1"})
        assert list(lines(bob)) == [first, second]

        assert ann.post(f"/api/items/{first}/claim", headers=ah).status_code == 200
        ann_view, bob_view = lines(ann), lines(bob)
        assert (ann_view[first]["claimed_by"], ann_view[first]["seen"], ann_view[second]["seen"]) == (
            "ann",
            True,
            False,
        )
        assert (bob_view[first]["claimed_by"], bob_view[first]["seen"]) == ("ann", False)

        verdict = {"verdict": "reject", "reason": "scratch"}
        assert ann.post(f"/api/items/{first}/verdict", json=verdict, headers=ah).status_code == 200
        assert list(lines(bob)) == [second]


def test_lines_read_while_something_changed_are_not_kept() -> None:
    cache: QueueLines[int] = QueueLines()
    reads: list[int] = []

    def read_during_a_change() -> list[int]:
        reads.append(1)
        cache.invalidate()  # a commit announced while this read was under way
        return [len(reads)]

    assert cache.get(read_during_a_change) == [1]
    assert cache.get(lambda: [2]) == [2], "the lines read during the change were kept"
    assert cache.get(lambda: [3]) == [2], "unchanged lines are read again"
    cache.invalidate()
    assert cache.get(lambda: [4]) == [4]
