"""Supervisors change a running station's thresholds and policy over the link: versioned, audited, applied."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from inspection.station.build import run_station
from review_ui import audit, items
from review_ui.app import create_app
from review_ui.db import Database
from review_ui.images import ImageFiles
from review_ui.link_server import LinkServer
from review_ui.stations import store
from tests.test_auth import BASE, config, csrf, login, make_user
from tests.test_link import station_config, wait_for
from tests.test_review_browser import add_expired_item

REASON = "tighten after a customer complaint"
STRICT = {"pass_below": 0.0, "reject_above": 0.0, "reject": "auto", "uncertain": "auto"}  # every part rejected


def test_a_change_reaches_the_running_station_and_outlives_a_restart(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'review.db'}")
    link = LinkServer("tcp://127.0.0.1:*", tmp_path / "keys", database, ImageFiles(tmp_path / "images"), print).start()
    try:
        station = station_config(tmp_path, link.endpoint)
        stop = threading.Event()
        running = threading.Thread(target=run_station, args=(station, stop))
        running.start()
        wait_for(lambda: "line-a" in link.stations and link.stations["line-a"].settings is not None)
        before = link.stations["line-a"].settings
        with database.engine.begin() as connection:
            change = store.propose(
                connection,
                "line-a",
                STRICT,
                before,
                "sue",
                "tighten after a customer complaint",
                dt.datetime.now(dt.UTC),
            )
        version = change.settings.version
        wait_for(lambda: (s := link.stations["line-a"].settings) is not None and s.version == version)
        wait_for(lambda: decided_with(station.storage.data_dir, version) >= 5)
        stop.set()
        running.join()
        with database.engine.connect() as connection:
            assert [row["delivered"] for row in store.history(connection, "line-a")] == [True]
            [event] = audit.history(connection, "station:line-a")
        assert (event.actor, event.action, event.reason) == (
            "sue",
            "settings_change",
            "tighten after a customer complaint",
        )
        assert event.before is not None and before is not None and event.before["version"] == before.version
        db = sqlite3.connect(station.storage.data_dir / "station.db")
        after_change = db.execute("SELECT verdict FROM decisions WHERE thresholds_version = ?", (version,)).fetchall()
        assert after_change and {v for (v,) in after_change} <= {"reject", "failsafe"}  # reject_above 0: nothing passes
        # a restart keeps the supervisor's settings, not the config file's
        restarted = threading.Event()
        counts = run_station(
            station.model_copy(update={"link": station.link.model_copy(update={"server": None})}), restarted, 3
        )
        assert sum(counts.decided.values()) == 3
        assert decided_with(station.storage.data_dir, version) >= len(after_change) + 3
    finally:
        link.close()
        database.close()


def decided_with(data_dir: Path, version: str) -> int:
    db = sqlite3.connect(data_dir / "station.db")
    try:
        return int(db.execute("SELECT COUNT(*) FROM decisions WHERE thresholds_version = ?", (version,)).fetchone()[0])
    finally:
        db.close()


def test_only_supervisors_change_settings_and_only_with_a_reason(tmp_path: Path, database_url: str) -> None:
    database = Database(database_url)
    add_expired_item(database)  # the server knows station line-z from its decisions
    make_user(database, "ann")
    make_user(database, "sue", role="supervisor")
    app = create_app(config(tmp_path), database, link=False)
    body = {**STRICT, "pass_below": 0.2, "reject_above": 0.6, "reason": "new product batch"}
    with TestClient(app, base_url=BASE) as client:
        login(client, "ann")
        assert client.post("/api/stations/line-z/settings", json=body, headers=csrf(client)).status_code == 403
        client.post("/logout", headers=csrf(client))
        login(client, "sue")
        headers = csrf(client)
        assert (
            client.post("/api/stations/line-z/settings", json={**body, "reason": ""}, headers=headers).status_code
            == 422
        )
        crossed = {**body, "pass_below": 0.9}
        assert client.post("/api/stations/line-z/settings", json=crossed, headers=headers).status_code == 422
        assert client.post("/api/stations/nowhere/settings", json=body, headers=headers).status_code == 404
        made = client.post("/api/stations/line-z/settings", json=body, headers=headers)
        assert made.status_code == 200, made.text
        assert made.json()["settings"]["version"] == "line-z-supervisor-1"
        [view] = client.get("/api/stations").json()
        assert view["station_id"] == "line-z" and view["pending"][0]["reason"] == "new product batch"
        page = client.get("/settings")
        assert page.status_code == 200 and "line-z-supervisor-1" in page.text
    with database.engine.connect() as connection:
        assert [r["version"] for r in store.history(connection)] == ["line-z-supervisor-1"]
        assert connection.execute(select(items.items.c.part_id)).all()
    database.close()
