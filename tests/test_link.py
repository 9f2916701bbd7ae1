"""The station <-> review server link: CURVE identities, at-least-once delivery, verdicts back to the gate."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ColumnElement, func, select

from inspection.config import StationConfig
from inspection.errors import ConfigError
from inspection.link.keys import STATIONS
from inspection.station.build import run_station
from review_ui import items
from review_ui.db import Database
from review_ui.images import ImageFiles
from review_ui.link_server import LinkServer
from review_ui.queue import lines as queue_lines

PARTS = 60


def station_config(tmp_path: Path, endpoint: str, name: str = "line-a", **policy: object) -> StationConfig:
    return StationConfig.model_validate(
        {
            "station_id": name,
            "camera": {"parts_per_minute": 1200, "defect_rate": 0.5, "seed": 7, "pool_size": 8},
            "model": {"verify_golden": False},
            "monitoring": {"port": None},
            "storage": {"data_dir": str(tmp_path / name)},
            "policy": {"gate_delay_ms": 3000, "reject": "confirm", **policy},
            "link": {"server": endpoint, "keys_dir": str(tmp_path / "keys"), "resend_s": 0.5},
        }
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LinkServer, list[tuple[str, dict[str, object]]]]]:
    events: list[tuple[str, dict[str, object]]] = []
    database = Database(f"sqlite:///{tmp_path / 'review.db'}")
    link = LinkServer(
        "tcp://127.0.0.1:*",
        tmp_path / "keys",
        database,
        ImageFiles(tmp_path / "images"),
        lambda k, d: events.append((k, d)),
    ).start()
    yield link, events
    link.close()
    database.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def count(database: Database, *where: ColumnElement[bool]) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(items.items).where(*where)).scalar_one())


def test_every_decision_reaches_the_server_once_with_pictures_and_verdicts_drive_the_gate(
    tmp_path: Path, server: tuple[LinkServer, list[tuple[str, dict[str, object]]]]
) -> None:
    link, events = server
    config = station_config(tmp_path, link.endpoint)
    stop = threading.Event()
    answered: list[str] = []

    def inspector() -> None:
        """Answers the first few review items at once: reject, pass, reject..."""
        while not stop.is_set():
            with link.database.engine.begin() as connection:
                waiting = [row for row in queue_lines.queue(connection, "ann") if row["state"] == "pending"]
                for row in waiting[:1]:
                    choice: items.Choice = "pass" if len(answered) % 2 else "reject"
                    items.resolve(
                        connection, row["part_id"], "ann", choice, "seen", dt.datetime.now(dt.UTC), uuid.uuid4().hex
                    )
                    answered.append(row["part_id"])
            if len(answered) >= 4:
                return
            time.sleep(0.05)

    helper = threading.Thread(target=inspector)
    helper.start()
    counts = run_station(config, stop, max_parts=PARTS)
    stop.set()
    helper.join()
    database = link.database
    wait_for(lambda: count(database) == PARTS)
    wait_for(
        lambda: (
            count(database, items.items.c.review, items.items.c.disposition.is_not(None))
            == count(database, items.items.c.review)
        )
    )
    assert count(database, items.items.c.review) == counts.decided["reject"] + counts.decided["uncertain"]
    assert (
        count(database, items.items.c.verdict != "pass", items.items.c.frame_sha.is_(None)) == 0
    )  # pictures came along
    station_db = sqlite3.connect(tmp_path / "line-a" / "station.db")
    dispositions = dict(station_db.execute("SELECT part_id, origin || ':' || action FROM dispositions").fetchall())
    human = [dispositions[part] for part in answered if dispositions.get(part, "").startswith("human")]
    assert human and all(d in ("human:reject", "human:pass") for d in human)
    assert station_db.execute("SELECT COUNT(*) FROM outbox WHERE durable = 1").fetchone()[0] == 0  # all acked
    assert ("item", {"part_id": answered[0], "station_id": "line-a"}) in events


def test_a_station_without_an_authorised_key_is_refused(
    tmp_path: Path, server: tuple[LinkServer, list[tuple[str, dict[str, object]]]]
) -> None:
    link, _ = server
    config = station_config(tmp_path, link.endpoint, name="intruder")
    stop = threading.Event()
    original = Path(tmp_path / "keys" / STATIONS / "intruder.key")
    # the station authorises itself in a shared keys folder; an intruder elsewhere has no such file
    elsewhere = {"keys_dir": tmp_path / "elsewhere", "server_key": tmp_path / "keys" / "review-server.key"}
    config = config.model_copy(update={"link": config.link.model_copy(update=elsewhere)})
    run_station(config, stop, max_parts=20)
    assert not original.exists()
    assert count(link.database) == 0


def test_two_stations_feed_one_review_server_on_each_database(tmp_path: Path, database_url: str) -> None:
    """The plant-wide case: one server (SQLite, or PostgreSQL when CI gives the URL), two lines at once."""
    database = Database(database_url)
    link = LinkServer("tcp://127.0.0.1:*", tmp_path / "keys", database, ImageFiles(tmp_path / "images"), print).start()
    try:
        stop = threading.Event()
        configs = [station_config(tmp_path, link.endpoint, name=name) for name in ("line-a", "line-b")]
        threads = [threading.Thread(target=run_station, args=(config, stop, 30)) for config in configs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(lambda: count(database) == 60)
        with database.engine.connect() as connection:
            per_station: dict[str, int] = dict(
                connection.execute(
                    select(items.items.c.station_id, func.count()).group_by(items.items.c.station_id)
                ).all()
            )
        assert per_station == {"line-a": 30, "line-b": 30}
        assert set(link.stations) == {"line-a", "line-b"}
    finally:
        link.close()
        database.close()


def test_a_review_database_from_an_older_schema_is_refused_by_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'review.db'}"
    Database(url).close()
    old = sqlite3.connect(tmp_path / "review.db")
    old.execute("ALTER TABLE review_verdicts DROP COLUMN second_by")
    old.commit()
    old.close()
    with pytest.raises(ConfigError, match=r"older version \(table review_verdicts lacks second_by\).*move it aside"):
        Database(url)


def test_the_link_server_keeps_serving_when_storing_fails(
    tmp_path: Path, server: tuple[LinkServer, list[tuple[str, dict[str, object]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed batch is not acknowledged, so the station sends it again; the server must not die meanwhile."""
    link, _ = server
    real = items.add_items
    failures = [1]

    def flaky(connection: Any, batch: list[items.Stored]) -> set[str]:
        if failures and batch:
            failures.pop()
            raise RuntimeError("disk full")
        return real(connection, batch)

    monkeypatch.setattr(items, "add_items", flaky)
    stop = threading.Event()
    station = threading.Thread(target=run_station, args=(station_config(tmp_path, link.endpoint), stop))
    station.start()
    try:
        wait_for(lambda: not failures and count(link.database) >= 10)  # the failed batch came again and was stored
        wait_for(lambda: link.problem is None)
    finally:
        stop.set()
        station.join()
