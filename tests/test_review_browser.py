"""The review UI in real headless Chromium, fed by a real station over the link (issue: human in the loop)."""

from __future__ import annotations

import datetime as dt
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from calibration.record import save_record
from calibration.scale import ScaleCalibration, TargetSpec
from inspection.config import StationConfig
from inspection.contracts import Decision
from inspection.link.messages import DecisionMessage
from inspection.model_card import card_path_for, load_card
from inspection.paths import BUNDLED_MODEL
from inspection.station.build import run_station
from review_ui import items
from review_ui.app import create_app
from review_ui.auth.signatures import signatures_table
from review_ui.auth.users import add_user
from review_ui.db import Database, utc_text
from tests.calibration_records import thresholds_file

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
PASSWORD = "correct horse battery"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make setup)"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


@dataclass
class Line:
    url: str
    app: FastAPI
    database: Database
    station_db: Path
    stop: threading.Event
    thread: threading.Thread


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    """A review server with three users, and a simulated station whose uncertain and reject parts wait 30 s."""
    scale = ScaleCalibration(
        mm_per_px=0.1,
        relative_uncertainty=0.001,
        method="target",
        camera_calibration_id=None,
        image_size=(800, 600),
        centre_px=(400.0, 300.0),
        target=TargetSpec(shape="disc", width_mm=30.0, height_mm=30.0),
        target_px=(300.0, 300.0),
    )
    config = StationConfig.model_validate(
        {
            "station_id": "line-a",
            "camera": {"parts_per_minute": 60, "defect_rate": 0.6, "seed": 11, "pool_size": 6},
            "model": {"verify_golden": False},
            "monitoring": {"port": None},
            "storage": {"data_dir": str(tmp_path)},
            "policy": {"gate_delay_ms": 30_000, "reject": "confirm"},
            "link": {"resend_s": 0.5},
            "review": {"link_bind": "tcp://127.0.0.1:*", "port": free_port()},
            "calibration": {"scale": str(save_record(scale, tmp_path / "cal"))},
        }
    )
    database = Database(f"sqlite:///{tmp_path / 'review.db'}")
    with database.engine.begin() as connection:
        for name, role in (("ann", "inspector"), ("bob", "inspector"), ("sue", "supervisor")):
            add_user(connection, actor="test", username=name, role=role, password=PASSWORD, full_name=name.title())
    app = create_app(config, database)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=config.review.port, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    wait_for(lambda: server.started)
    station_config = config.model_copy(
        update={"link": config.link.model_copy(update={"server": app.state.link.endpoint})}
    )
    stop = threading.Event()
    station = threading.Thread(target=run_station, args=(station_config, stop))
    yield Line(f"http://127.0.0.1:{config.review.port}", app, database, tmp_path / "station.db", stop, station)
    stop.set()
    if station.is_alive():
        station.join()
    server.should_exit = True
    serving.join()
    database.close()


def log_in(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def disposition(line: Line, part_id: str) -> str | None:
    db = sqlite3.connect(line.station_db)
    try:
        row = db.execute("SELECT origin || ':' || action FROM dispositions WHERE part_id = ?", (part_id,)).fetchone()
    finally:
        db.close()
    return None if row is None else str(row[0])


def add_expired_item(database: Database) -> str:
    now = dt.datetime.now(dt.UTC)
    decision = Decision(
        part_id="line-z-1",
        station_id="line-z",
        verdict="uncertain",
        reason="",
        detail="",
        score=0.5,
        model_id="0" * 64,
        thresholds_version="t1",
    )
    message = DecisionMessage(
        id="line-z-1",
        station_id="line-z",
        seq=1,
        decision=decision,
        captured_utc=utc_text(now),
        deadline_utc=utc_text(now - dt.timedelta(seconds=50)),
        review=True,
        action="reject",
    )
    with database.engine.begin() as connection:
        items.add_item(connection, items.Stored(message, None, None))
        items.expire_due(connection, now)
    return message.id


def test_inspectors_review_live_items_in_chromium(line: Line) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    expired = add_expired_item(line.database)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            ann = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            errors: list[str] = []
            ann.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            ann.on("pageerror", lambda e: errors.append(str(e)))
            log_in(ann, line.url, "ann")
            line.thread.start()  # the station starts after the page is open: items must arrive live
            ann.wait_for_selector("#queue li:not(.expired)", timeout=60_000)
            ann.screenshot(path=str(ARTIFACTS / "review-queue.png"))

            # approve the first item with the keyboard alone
            ann.keyboard.press("j")
            ann.wait_for_selector("#detail:not([hidden])")
            first = ann.get_attribute("#queue li.selected", "data-id")
            assert first is not None
            wait_for(lambda: ann.evaluate("() => document.getElementById('d-frame').naturalWidth > 0"))
            ann.screenshot(path=str(ARTIFACTS / "review-item.png"))
            facts = ann.inner_text("#d-facts")
            assert "scale-" in facts  # the calibration the station decided with
            if "Regions\n0" not in facts:  # defect sizes on the part, from the scale calibration
                assert "mm²" in facts and "mm²" in ann.inner_text("#d-boxes")
            ann.keyboard.press("r")
            ann.wait_for_selector("#d-message:has-text('Sent to the station')")
            assert wait_for(lambda: disposition(line, first)) == "human:reject"

            # release another as good: reason, then the signature dialog
            second = wait_for(lambda: next_waiting(line.database, exclude={first}))
            ann.goto(f"{line.url}/items/{second}")
            ann.wait_for_selector("#detail:not([hidden])")
            ann.select_option("#d-reason", label="reflection or dust, not a defect")
            ann.click("#b-pass")
            ann.fill("#sign-password", PASSWORD)
            ann.click("#sign-ok")
            ann.wait_for_selector("#d-message:has-text('Sent to the station')")
            assert wait_for(lambda: disposition(line, second)) == "human:pass"
            with line.database.engine.connect() as connection:
                signed = connection.execute(select(signatures_table)).mappings().all()
            assert [(s["username"], s["meaning"]) for s in signed] == [("ann", "released as good")]

            # two inspectors race for one item: exactly one verdict is recorded
            third = wait_for(lambda: next_waiting(line.database, exclude={first, second}))
            bob = browser.new_context().new_page()
            log_in(bob, line.url, "bob")
            answers = race(ann, bob, third)
            assert sorted(answers) == [200, 409], answers
            with line.database.engine.connect() as connection:
                assert len(items.history(connection, third)) == 1

            # an expired item shows the fail-safe and still takes a late verdict
            ann.goto(f"{line.url}/items/{expired}")
            ann.wait_for_selector("#d-banner:not([hidden])")
            assert "fail-safe" in ann.inner_text("#d-banner")
            ann.keyboard.press("r")
            ann.wait_for_selector("#d-message:has-text('late')")

            assert not errors, errors
            # an inspector may not see supervisor pages or change thresholds
            assert ann.goto(f"{line.url}/dashboard").status == 403
            assert ann.goto(f"{line.url}/history").status == 403
            assert ann.goto(f"{line.url}/settings").status == 403
            assert ann.goto(f"{line.url}/api/stations").status == 403  # nor the threshold API
            sue = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            sue_errors: list[str] = []
            sue.on("console", lambda m: sue_errors.append(m.text) if m.type == "error" else None)
            sue.on("pageerror", lambda e: sue_errors.append(str(e)))
            log_in(sue, line.url, "sue")
            assert sue.goto(f"{line.url}/dashboard").status == 200
            sue.screenshot(path=str(ARTIFACTS / "review-dashboard.png"), full_page=True)

            # a supervisor applies a calibrated thresholds file, with a reason
            record = thresholds_file(load_card(card_path_for(BUNDLED_MODEL)).sha256)
            calibrated = line.station_db.parent / "thresholds.json"
            calibrated.write_text(record.model_dump_json(), encoding="utf-8")
            sue.goto(f"{line.url}/settings")
            sue.set_input_files("section.station .thresholds-file", str(calibrated))
            sue.wait_for_selector(f".thresholds-summary:has-text('{record.id}')")
            assert sue.input_value("section.station input[name=pass_below]") == str(record.pass_below)
            sue.fill("section.station input[name=reason]", "calibrated on the March archive")
            sue.click("section.station button[type=submit]")
            sue.wait_for_selector(f"text=line-a-supervisor-1:{record.id}")
            sue.screenshot(path=str(ARTIFACTS / "review-settings.png"), full_page=True)
            assert not sue_errors, sue_errors
        finally:
            browser.close()


def next_waiting(database: Database, exclude: set[str]) -> str | None:
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(items.items.c.part_id).where(items.items.c.state == "pending").order_by(items.items.c.deadline_utc)
        ).all()
    return next((row[0] for row in rows if row[0] not in exclude), None)


def race(ann: Any, bob: Any, part_id: str) -> list[int]:
    """Both inspectors send a verdict for the same item from their own sessions, one right after the other."""
    script = """async ([id, verdict]) => {
        const me = await (await fetch('/api/me')).json();
        const r = await fetch(`/api/items/${id}/verdict`, {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': me.csrf_token}, body: JSON.stringify({verdict, reason: 'defect confirmed'})});
        return r.status;
    }"""
    return [int(page.evaluate(script, [part_id, "reject"])) for page in (ann, bob)]
