"""Supervisor views: history filters, disagreements, KPIs, dataset export, and that only supervisors get in.

One small known dataset (`seed`) backs every test, so each expected number below is counted by hand
from the table in its docstring.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from inspection.contracts import Decision
from inspection.link.messages import DecisionMessage, DispositionMessage
from review_ui.app import create_app
from review_ui.db import Database, utc_text
from review_ui.images import ImageFiles
from review_ui.items import Stored, add_disposition, add_item, items, resolve
from review_ui.supervisor import export_dataset
from review_ui.supervisor.filters import ItemRange
from review_ui.supervisor.kpis import percentile
from tests.test_auth import BASE, FakeClock, config, csrf, events, login, make_user

MODEL_A = "a" * 64
MODEL_B = "b" * 64
DAY = "2030-01-01"
NOW = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)

# part, station, model verdict, captured (UTC), waits for a human, model
PARTS: list[tuple[str, str, str, str, bool, str]] = [
    ("p1", "s1", "pass", f"{DAY}T07:10:05", False, MODEL_A),
    ("p2", "s1", "pass", f"{DAY}T07:10:30", False, MODEL_A),
    ("p3", "s1", "reject", f"{DAY}T07:11:00", True, MODEL_A),
    ("p4", "s2", "uncertain", f"{DAY}T07:12:00", True, MODEL_B),
    ("p5", "s2", "uncertain", f"{DAY}T07:12:30", True, MODEL_B),
    ("p6", "s2", "failsafe", f"{DAY}T07:13:00", False, MODEL_B),
    ("p7", "s1", "uncertain", f"{DAY}T07:14:00", True, MODEL_A),
    ("p8", "s1", "reject", f"{DAY}T07:15:00", True, MODEL_A),
    ("p9", "s1", "reject", "2029-12-31T23:00:00", True, MODEL_A),
    ("p10", "s2", "pass", f"{DAY}T07:20:00", False, MODEL_B),
]
# part, inspector, choice, at (UTC); deadlines are 30 s after capture, so only p5's verdict is late
VERDICTS = [
    ("p3", "alice", "pass", f"{DAY}T07:11:11"),
    ("p4", "bob", "reject", f"{DAY}T07:12:21"),
    ("p5", "alice", "pass", f"{DAY}T07:13:11"),
    ("p7", "carol", "escalate", f"{DAY}T07:14:10"),
    ("p9", "bob", "reject", "2029-12-31T23:00:10"),
]
NEWEST_FIRST = ["p10", "p8", "p7", "p6", "p5", "p4", "p3", "p2", "p1", "p9"]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def message(part: tuple[str, str, str, str, bool, str], frame_sha: str | None, heat_sha: str | None) -> Stored:
    part_id, station, verdict, captured, review, model = part
    decision = Decision(
        part_id=part_id,
        station_id=station,
        verdict=verdict,
        reason="test",
        detail="",
        score=0.5,
        model_id=model,
        thresholds_version="t1",
    )
    deadline = at(captured) + dt.timedelta(seconds=30)
    item = DecisionMessage(
        id=part_id,
        station_id=station,
        seq=int(part_id[1:]),
        decision=decision,
        captured_utc=utc_text(at(captured)),
        deadline_utc=utc_text(deadline),
        review=review,
        action="reject" if verdict != "pass" else None,
    )
    return Stored(item, frame_sha, heat_sha)


def tiff(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".tiff", image)
    assert ok
    return data.tobytes()


def seed(database: Database, images: ImageFiles) -> None:
    """The table above; frames for p3, p4 and p9, a heatmap for p4 only; p8 fail-safed at the gate."""
    frame = images.put(tiff(np.full((8, 12), 128, np.uint8)))
    heat = images.put(tiff(np.full((8, 12), 200, np.uint8)))
    with database.engine.begin() as connection:
        for part in PARTS:
            has_frame = part[0] in ("p3", "p4", "p9")
            add_item(connection, message(part, frame if has_frame else None, heat if part[0] == "p4" else None))
            received = utc_text(at(part[3]) + dt.timedelta(seconds=1))  # add_item stamps the real clock
            connection.execute(update(items).where(items.c.part_id == part[0]).values(received_utc=received))
        for number, (part_id, user, choice, when) in enumerate(VERDICTS):
            resolve(connection, part_id, user, choice, "test", at(when), f"v{number}")  # type: ignore[arg-type]
        add_disposition(
            connection,
            DispositionMessage(
                id="d8", station_id="s1", part_id="p8", action="reject", origin="failsafe", reason="late", utc=DAY
            ),
        )


@pytest.fixture
def clock() -> FakeClock:
    found = FakeClock()
    found.now = NOW
    return found


@pytest.fixture
def app(tmp_path: Path, database: Database, clock: FakeClock) -> FastAPI:
    app = create_app(config(tmp_path), database, link=False)
    app.state.auth.clock = clock
    app.state.supervisor.clock = clock
    seed(database, app.state.images)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


@pytest.fixture
def supervisor(client: TestClient, database: Database) -> TestClient:
    make_user(database, "sam", role="supervisor")
    assert login(client, "sam").status_code == 303
    return client


def history_ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/api/history", params=params)
    assert response.status_code == 200, response.text
    return [row["part_id"] for row in response.json()["items"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, NEWEST_FIRST),
        ({"station": "s2"}, ["p10", "p6", "p5", "p4"]),
        ({"verdict": "reject"}, ["p8", "p3", "p9"]),
        ({"origin": "auto"}, ["p10", "p2", "p1"]),
        ({"origin": "human"}, ["p5", "p4", "p3", "p9"]),
        ({"origin": "failsafe"}, ["p8", "p6"]),
        ({"from": DAY, "to": DAY}, NEWEST_FIRST[:-1]),
        ({"from": "2029-12-31", "to": "2029-12-31"}, ["p9"]),
        ({"to": "2029-12-31"}, ["p9"]),
        ({"inspector": "alice"}, ["p5", "p3"]),
        ({"model_id": MODEL_B}, ["p10", "p6", "p5", "p4"]),
        ({"station": "s1", "origin": "human"}, ["p3", "p9"]),
        ({"station": "", "verdict": "", "from": ""}, NEWEST_FIRST),  # blank form fields mean "any"
    ],
)
def test_history_filters_return_exactly_the_matching_rows(
    supervisor: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    assert history_ids(supervisor, **params) == expected


def test_history_pages_and_counts_all_matches(supervisor: TestClient) -> None:
    page = supervisor.get("/api/history", params={"limit": 3, "offset": 3}).json()
    assert (page["total"], page["limit"], page["offset"]) == (10, 3, 3)
    assert [row["part_id"] for row in page["items"]] == ["p6", "p5", "p4"]
    rows = {row["part_id"]: row for row in supervisor.get("/api/history").json()["items"]}
    assert {part: rows[part]["origin"] for part in ("p1", "p5", "p6", "p7", "p8")} == {
        "p1": "auto",
        "p5": "human",
        "p6": "failsafe",
        "p7": "pending",
        "p8": "failsafe",
    }
    assert (rows["p5"]["late"], rows["p5"]["resolved_by"], rows["p8"]["disposition"]) == (True, "alice", "reject")


def test_history_rejects_bad_filters(supervisor: TestClient) -> None:
    assert supervisor.get("/api/history", params={"verdict": "maybe"}).status_code == 422
    assert supervisor.get("/api/history", params={"from": "2030-13-01"}).status_code == 422
    assert supervisor.get("/api/history", params={"limit": 0}).status_code == 422


def test_history_page_has_the_form_and_links_each_row(supervisor: TestClient) -> None:
    page = supervisor.get("/history", params={"station": "s2", "limit": 2})
    assert page.status_code == 200
    assert '<form method="get" action="/history"' in page.text
    assert '<a href="/items/p10">' in page.text
    assert '<a href="/items/p6">' in page.text
    assert "/items/p5" not in page.text  # on the next page
    assert "/history?station=s2" in page.text and "offset=2" in page.text


def test_openapi_documents_the_supervisor_api(supervisor: TestClient) -> None:
    paths = supervisor.get("/openapi.json").json()["paths"]
    schema = paths["/api/history"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/HistoryPage"}
    assert {"/api/disagreements", "/api/kpis", "/api/export"} <= set(paths)
    assert "/dashboard" not in paths


def test_disagreements_are_counted_per_inspector_and_model(supervisor: TestClient) -> None:
    found = supervisor.get("/api/disagreements").json()
    assert (found["reviewed"], found["disagreements"], found["model_unsure"]) == (4, 2, 1)
    assert found["by_kind"] == {
        "model_reject_human_pass": 1,
        "model_uncertain_human_pass": 1,
        "model_pass_human_reject": 0,
    }
    assert found["by_inspector"] == [
        {"key": "alice", "reviewed": 2, "disagreements": 2, "model_unsure": 0},
        {"key": "bob", "reviewed": 2, "disagreements": 0, "model_unsure": 1},
    ]
    assert found["by_model"] == [
        {"key": MODEL_A, "reviewed": 2, "disagreements": 1, "model_unsure": 0},
        {"key": MODEL_B, "reviewed": 2, "disagreements": 1, "model_unsure": 1},
    ]
    assert [(row["part_id"], row["kind"]) for row in found["items"]] == [
        ("p5", "model_uncertain_human_pass"),
        ("p4", "model_unsure"),
        ("p3", "model_reject_human_pass"),
    ]
    only_s1 = supervisor.get("/api/disagreements", params={"station": "s1"}).json()
    assert (only_s1["reviewed"], only_s1["disagreements"], only_s1["model_unsure"]) == (2, 1, 0)
    page = supervisor.get("/disagreements")
    assert page.status_code == 200 and '<a href="/items/p4">' in page.text and "<svg" in page.text


def test_kpis_equal_hand_counted_values(supervisor: TestClient) -> None:
    kpis = supervisor.get("/api/kpis", params={"hours": 1}).json()
    assert (kpis["since_utc"], kpis["until_utc"]) == (f"{DAY}T07:00:00.000000Z", f"{DAY}T08:00:00.000000Z")
    assert kpis["parts"] == 9  # p9 was captured the day before
    assert kpis["yield"] == pytest.approx(5 / 9)  # p1, p2, p10 by the model; p3, p5 released by a human
    assert kpis["reject_rate"] == pytest.approx(2 / 9)
    assert kpis["uncertain_rate"] == pytest.approx(3 / 9)
    assert kpis["failsafe_rate"] == pytest.approx(2 / 9)  # p6's verdict, p8's gate action
    assert kpis["backlog"] == 1  # p7, escalated and still pending
    assert (kpis["verdicts_timed"], kpis["verdict_p50_s"], kpis["verdict_p90_s"]) == (3, 20.0, pytest.approx(36.0))
    assert kpis["late_verdicts"] == 1
    minutes = kpis["parts_per_minute"]  # 07:00 to 08:00, both ends included
    assert (kpis["first_minute"], len(minutes)) == (f"{DAY}T07:00", 61)
    assert {index: count for index, count in enumerate(minutes) if count} == {
        10: 2,
        11: 1,
        12: 2,
        13: 1,
        14: 1,
        15: 1,
        20: 1,
    }
    assert kpis["by_inspector"] == [
        {"inspector": "alice", "reject": 0, "pass": 2, "escalate": 0, "late": 1},
        {"inspector": "bob", "reject": 1, "pass": 0, "escalate": 0, "late": 0},
        {"inspector": "carol", "reject": 0, "pass": 0, "escalate": 1, "late": 0},
    ]
    assert kpis["by_station"] == [
        {"station_id": "s1", "parts": 5, "passed": 2, "rejected": 2, "uncertain": 1, "failsafe": 1},
        {"station_id": "s2", "parts": 4, "passed": 1, "rejected": 0, "uncertain": 2, "failsafe": 1},
    ]


def test_kpis_of_an_empty_window_are_none_not_zero_division(supervisor: TestClient, app: FastAPI) -> None:
    later = FakeClock()
    later.now = NOW + dt.timedelta(days=2)  # the session keeps the auth clock, which has not moved
    app.state.supervisor.clock = later
    kpis = supervisor.get("/api/kpis", params={"hours": 0.5}).json()
    assert (kpis["parts"], kpis["yield"], kpis["verdict_p50_s"], kpis["backlog"]) == (0, None, None, 1)
    assert len(kpis["parts_per_minute"]) == 31


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([40.0, 10.0, 20.0], 0.9) == pytest.approx(36.0)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)


def test_dashboard_draws_svg_charts_quickly(supervisor: TestClient) -> None:
    supervisor.get("/dashboard", params={"hours": 1})  # warm the template cache
    started = time.perf_counter()
    page = supervisor.get("/dashboard", params={"hours": 1})
    elapsed = time.perf_counter() - started
    assert page.status_code == 200
    assert page.text.count("<svg") == 3 and "<polyline" in page.text
    assert 'aria-label="Parts per minute"' in page.text
    assert '<script src="/static/dashboard.js">' in page.text and "<script>" not in page.text
    assert elapsed < 0.5, f"dashboard took {elapsed * 1000:.0f} ms"


def test_export_writes_images_and_labels_and_is_audited(
    supervisor: TestClient, database: Database, tmp_path: Path
) -> None:
    response = supervisor.post("/api/export", json={"from": DAY, "to": DAY}, headers=csrf(supervisor))
    assert response.status_code == 200, response.text
    summary = response.json()
    out = tmp_path / "exports" / "20300101T080000Z"
    assert summary["out_dir"] == str(out)
    assert (summary["good"], summary["defect"], summary["heatmaps"], summary["skipped"]) == (1, 1, 1, ["p5"])
    files = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert files == ["defect/p4.heatmap.png", "defect/p4.png", "good/p3.png", "labels.csv"]
    decoded = cv2.imdecode(np.frombuffer((out / "good/p3.png").read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.shape == (8, 12, 3)
    with (out / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["part_id"], r["label"], r["inspector"], r["model_verdict"], r["model_id"]) for r in rows] == [
        ("p3", "good", "alice", "reject", MODEL_A),
        ("p4", "defect", "bob", "uncertain", MODEL_B),
    ]
    assert (rows[0]["utc"], rows[0]["score"], rows[1]["image"]) == (f"{DAY}T07:11:11.000000Z", "0.5", "defect/p4.png")
    [event] = events(database, "dataset_export")
    assert (event.actor, event.subject) == ("sam", "export:20300101T080000Z")
    assert event.after is not None and (event.after["good"], event.after["defect"]) == (1, 1)
    again = supervisor.post("/api/export", json={}, headers=csrf(supervisor)).json()
    assert again["out_dir"].endswith("20300101T080000Z-2") and (again["good"], again["defect"]) == (1, 2)


def test_export_dataset_function_filters_by_station(database: Database, app: FastAPI, tmp_path: Path) -> None:
    with database.engine.connect() as connection:
        summary = export_dataset(
            connection, app.state.images, tmp_path / "set", ItemRange.model_validate({"station": "s1"})
        )
    assert (summary.good, summary.defect, summary.heatmaps, summary.skipped) == (1, 1, 0, [])
    assert sorted(p.name for p in (tmp_path / "set" / "defect").iterdir()) == ["p9.png"]


SUPERVISOR_ROUTES = [
    ("GET", "/history"),
    ("GET", "/disagreements"),
    ("GET", "/dashboard"),
    ("GET", "/api/history"),
    ("GET", "/api/disagreements"),
    ("GET", "/api/kpis"),
    ("POST", "/api/export"),
]


@pytest.mark.parametrize(("method", "path"), SUPERVISOR_ROUTES)
def test_only_supervisors_and_admins_get_in(client: TestClient, database: Database, method: str, path: str) -> None:
    anonymous = client.request(method, path, json={} if method == "POST" else None, follow_redirects=False)
    assert anonymous.status_code == (303 if path[:5] != "/api/" else 401)
    for username, role, expected in (("ivy", "inspector", 403), ("ada", "admin", 200), ("sam", "supervisor", 200)):
        make_user(database, username, role=role)
        assert login(client, username).status_code == 303
        response = client.request(method, path, json={} if method == "POST" else None, headers=csrf(client))
        assert response.status_code == expected, (username, response.text)
        client.cookies.clear()
