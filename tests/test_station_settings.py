"""Supervisors change a running station's thresholds and policy over the link: versioned, audited, applied."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from inspection.link.messages import SettingsMessage
from inspection.station.build import run_station
from review_ui import audit, items
from review_ui.app import create_app
from review_ui.db import Database
from review_ui.images import ImageFiles
from review_ui.link_server import LinkServer
from review_ui.stations import store
from tests.calibration_records import thresholds_file
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


def test_a_calibrated_thresholds_file_is_applied_only_intact_for_the_stations_model(
    tmp_path: Path, database_url: str
) -> None:
    database = Database(database_url)
    add_expired_item(database)  # line-z, running model 000...0
    make_user(database, "sue", role="supervisor")
    app = create_app(config(tmp_path), database, link=False)
    record = thresholds_file("0" * 64)
    body = {
        "pass_below": record.pass_below,
        "reject_above": record.reject_above,
        "reject": "auto",
        "uncertain": "review",
        "reason": "calibrated on the March archive",
        "thresholds_file": record.model_dump_json(),
    }
    with TestClient(app, base_url=BASE) as client:
        login(client, "sue")
        headers = csrf(client)

        def post(**changes: object) -> tuple[int, str]:
            response = client.post("/api/stations/line-z/settings", json={**body, **changes}, headers=headers)
            return response.status_code, response.text

        edited = record.model_dump_json().replace(f'"pass_below":{record.pass_below}', '"pass_below":0.001')
        assert edited != record.model_dump_json()
        status, text = post(thresholds_file=edited)
        assert status == 422 and "edited after it was made" in text
        other_model = thresholds_file("1" * 64).model_dump_json()
        status, text = post(thresholds_file=other_model)
        assert status == 422 and "calibrated for model 111111111111" in text
        status, text = post(pass_below=round(record.pass_below / 2, 4))
        assert status == 422 and "must use those values" in text
        assert post(thresholds_file="not json")[0] == 422
        status, text = post()
        assert status == 200, text
        made = SettingsMessage.model_validate_json(text)
    assert made.settings.version == f"line-z-supervisor-1:{record.id}"  # decisions trace back to the file
    assert (made.settings.pass_below, made.settings.reject_above) == (record.pass_below, record.reject_above)
    with database.engine.connect() as connection:
        (event,) = audit.history(connection, "station:line-z")
    assert event.after is not None and event.after["version"] == made.settings.version
    database.close()
