"""The stations' link in its own process: what it stores, what the web process hears, how it stops."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from inspection.errors import ConfigError
from inspection.station.build import run_station
from review_ui import items
from review_ui.db import Database
from review_ui.images import ImageFiles
from review_ui.ingest import IngestProcess
from review_ui.link_server import LinkServer
from tests.test_link import count, station_config, wait_for
from tests.test_link_restart import free_port

PARTS = 30


def test_the_link_process_stores_each_item_and_tells_the_web_process_of_it_and_of_the_station(
    tmp_path: Path,
) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    url = f"sqlite:///{tmp_path / 'review.db'}"
    database = Database(url)
    ingest = IngestProcess(
        "tcp://127.0.0.1:*", tmp_path / "keys", url, tmp_path / "images", lambda kind, data: events.append((kind, data))
    )
    try:
        counts = run_station(station_config(tmp_path, ingest.endpoint), threading.Event(), max_parts=PARTS)
        review = counts.decided["reject"] + counts.decided["uncertain"]
        assert review > 0
        wait_for(lambda: count(database, items.items.c.review) == review)  # committed by the child, read here
        wait_for(lambda: len([kind for kind, _ in events if kind == "item"]) == review)
        with database.engine.connect() as connection:
            stored = set(connection.execute(select(items.items.c.part_id).where(items.items.c.review)).scalars())
        assert {str(data["part_id"]) for kind, data in events if kind == "item"} == stored
        seen = ingest.stations["line-a"]
        assert seen.healthy and seen.problems == ()
        assert 0 <= time.monotonic() - seen.last_seen < 60
    finally:
        ingest.close()
        database.close()
    # stopped for good: the address it listened on is free again
    again = LinkServer(ingest.endpoint, tmp_path / "keys", database, ImageFiles(tmp_path / "images"), print).start()
    again.close()


def test_a_link_process_that_dies_is_started_again_on_the_same_address_and_stations_resend(tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    url = f"sqlite:///{tmp_path / 'review.db'}"
    database = Database(url)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ingest = IngestProcess(
        endpoint, tmp_path / "keys", url, tmp_path / "images", lambda kind, data: events.append((kind, data))
    )
    try:
        first = ingest.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: ingest.restarts == 1)
        assert ingest.pid != first and ingest.endpoint == endpoint
        counts = run_station(station_config(tmp_path, endpoint), threading.Event(), max_parts=PARTS)
        review = counts.decided["reject"] + counts.decided["uncertain"]
        wait_for(lambda: count(database, items.items.c.review) == review)
        wait_for(lambda: len([kind for kind, _ in events if kind == "item"]) == review)
    finally:
        ingest.close()
        database.close()


def test_an_address_the_link_process_cannot_bind_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'review.db'}"
    with pytest.raises(ConfigError, match=r"review\.link_bind: cannot serve stations on tcp://256\.1\.1\.1:5560"):
        IngestProcess("tcp://256.1.1.1:5560", tmp_path / "keys", url, tmp_path / "images", print)
