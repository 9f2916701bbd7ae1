"""Verdicts under contention (one verdict per part on both engines) and the two-person rule for releases."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from inspection.contracts import Decision
from inspection.link.messages import DecisionMessage
from review_ui import audit, items
from review_ui.app import create_app
from review_ui.auth.signatures import sign, signatures_for, signatures_table
from review_ui.db import Database, utc_text
from review_ui.queue import api
from tests.test_auth import BASE, PASSWORD, config, csrf, login, make_user

RACERS = 8
JOIN_S = 60.0
T = TypeVar("T")


def add_pending(database: Database, part_id: str = "s1-1", *, verdict: str = "reject", window_s: float = 60.0) -> str:
    """A review item as a station sends it: waiting for a human until `window_s` from now."""
    now = dt.datetime.now(dt.UTC)
    decision = Decision(
        part_id=part_id,
        station_id="s1",
        verdict=verdict,
        reason="test",
        detail="",
        score=0.7,
        model_id="0" * 64,
        thresholds_version="t1",
    )
    message = DecisionMessage(
        id=part_id,
        station_id="s1",
        seq=1,
        decision=decision,
        captured_utc=utc_text(now),
        deadline_utc=utc_text(now + dt.timedelta(seconds=window_s)),
        review=True,
        action="reject",
    )
    with database.engine.begin() as connection:
        assert items.add_item(connection, items.Stored(message, None, None))
    return part_id


def verdict_rows(database: Database, part_id: str) -> list[dict[str, Any]]:
    with database.engine.connect() as connection:
        return items.history(connection, part_id)


def outbox_ids(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        return [row["id"] for row in items.undelivered(connection)]


def audited(database: Database, part_id: str) -> list[str]:
    with database.engine.connect() as connection:
        return [event.action for event in audit.history(connection, f"item:{part_id}")]


def signature_count(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(signatures_table)).scalar_one())


def race(attempts: list[Callable[[], T]]) -> tuple[list[T], list[BaseException]]:
    """Runs each attempt in its own thread, all released at one moment by a barrier; returns results and errors."""
    barrier = threading.Barrier(len(attempts))
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(attempt: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout=JOIN_S)
            result = attempt()
        except BaseException as exc:  # every failure, assertion or not, is reported to the test
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_S)
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    return results, errors


@contextmanager
def inspectors(app: FastAPI, *names: str) -> Iterator[list[tuple[TestClient, dict[str, str]]]]:
    """One logged-in browser per name: its own client, session cookie and CSRF header."""
    with ExitStack() as stack:
        clients = []
        for name in names:
            client = stack.enter_context(TestClient(app, base_url=BASE))
            assert login(client, name).status_code == 303
            clients.append((client, csrf(client)))
        yield clients


def review_app(tmp_path: Path, database: Database, **review: Any) -> FastAPI:
    return create_app(config(tmp_path, **review), database, link=False)


# -- races ---------------------------------------------------------------------------------------


def test_concurrent_resolves_of_one_item_record_exactly_one_verdict(database: Database) -> None:
    part_id = add_pending(database)

    def resolver(number: int) -> Callable[[], dict[str, Any]]:
        def attempt() -> dict[str, Any]:
            choice: items.Choice = "reject" if number % 2 else "pass"
            with database.engine.begin() as connection:
                now = dt.datetime.now(dt.UTC)
                return items.resolve(connection, part_id, f"insp{number}", choice, "race", now, uuid.uuid4().hex)

        return attempt

    results, errors = race([resolver(number) for number in range(RACERS)])

    assert len(results) == 1, errors
    assert len(errors) == RACERS - 1
    assert all(isinstance(error, items.ItemError) and error.status == 409 for error in errors), errors
    rows = verdict_rows(database, part_id)
    assert len(rows) == 1
    winner = results[0]
    assert (rows[0]["by"], rows[0]["verdict"]) == (winner["resolved_by"], winner["human_verdict"])


def test_concurrent_claims_lease_the_item_to_one_inspector(database: Database) -> None:
    part_id = add_pending(database)

    def claimer(number: int) -> Callable[[], dict[str, Any]]:
        def attempt() -> dict[str, Any]:
            with database.engine.begin() as connection:
                return items.claim(connection, part_id, f"insp{number}", dt.datetime.now(dt.UTC), 30.0)

        return attempt

    results, errors = race([claimer(number) for number in range(RACERS)])

    assert len(results) == 1, errors
    assert all(isinstance(error, items.ItemError) and error.status == 409 for error in errors), errors
    winner = results[0]
    with database.engine.connect() as connection:
        assert items.get_item(connection, part_id)["claimed_by"] == winner["claimed_by"]


def test_inspectors_sending_verdicts_at_once_get_one_200_and_409s(tmp_path: Path, database: Database) -> None:
    """Through the whole route: signature, verdict and audit record commit together or not at all."""
    names = [f"insp{number}" for number in range(RACERS)]
    for name in names:
        make_user(database, name)
    part_id = add_pending(database)
    app = review_app(tmp_path, database)
    with inspectors(app, *names) as clients:

        def sender(number: int) -> Callable[[], Response]:
            client, headers = clients[number]
            body = {"verdict": "reject", "reason": "defect confirmed"}
            if number % 2:
                body = {"verdict": "pass", "reason": "model error", "password": PASSWORD}
            return lambda: client.post(f"/api/items/{part_id}/verdict", json=body, headers=headers)

        responses, errors = race([sender(number) for number in range(RACERS)])

    assert not errors, errors
    codes = sorted(response.status_code for response in responses)
    assert codes == [200] + [409] * (RACERS - 1), [r.text for r in responses]
    rows = verdict_rows(database, part_id)
    assert len(rows) == 1
    assert audited(database, part_id) == ["verdict"]
    assert signature_count(database) == (1 if rows[0]["verdict"] == "pass" else 0), "a loser's signature survived"


def test_a_release_and_a_reject_at_once_never_deadlock(
    tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release signs (audit head lock) and lingers; a reject arrives meanwhile. If the routes took the item
    and the audit head in opposite orders, PostgreSQL would abort one of them as a deadlock (a 500)."""
    for name in ("ann", "bob"):
        make_user(database, name)
    part_id = add_pending(database)
    signed, resolved = threading.Event(), threading.Event()
    real_sign, real_resolve = sign, items.resolve

    def slow_sign(*args: Any, **kwargs: Any) -> Any:
        signature = real_sign(*args, **kwargs)
        signed.set()
        resolved.wait(timeout=2.0)  # with one lock order the reject cannot resolve meanwhile
        return signature

    def noting_resolve(*args: Any, **kwargs: Any) -> Any:
        result = real_resolve(*args, **kwargs)
        resolved.set()
        return result

    monkeypatch.setattr(api, "sign", slow_sign)
    monkeypatch.setattr(items, "resolve", noting_resolve)
    app = review_app(tmp_path, database)
    with inspectors(app, "ann", "bob") as [(ann, ann_headers), (bob, bob_headers)]:
        release = {"verdict": "pass", "reason": "model error", "password": PASSWORD}

        def reject_after_signature() -> Response:
            assert signed.wait(timeout=JOIN_S)
            reject = {"verdict": "reject", "reason": "defect confirmed"}
            response: Response = bob.post(f"/api/items/{part_id}/verdict", json=reject, headers=bob_headers)
            return response

        def release_slowly() -> Response:
            response: Response = ann.post(f"/api/items/{part_id}/verdict", json=release, headers=ann_headers)
            return response

        responses, errors = race([release_slowly, reject_after_signature])

    assert not errors, errors
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    assert [row["verdict"] for row in verdict_rows(database, part_id)] == ["pass"]


# -- the two-person rule -------------------------------------------------------------------------


def release(client: TestClient, headers: dict[str, str], part_id: str) -> Response:
    body = {"verdict": "pass", "reason": "model error", "password": PASSWORD}
    response: Response = client.post(f"/api/items/{part_id}/verdict", json=body, headers=headers)
    return response


def approve(client: TestClient, headers: dict[str, str], part_id: str, password: str = PASSWORD) -> Response:
    body = {"password": password, "reason": "model error, seen on the frame"}
    response: Response = client.post(f"/api/items/{part_id}/approve", json=body, headers=headers)
    return response


def test_a_release_goes_to_the_station_only_after_a_second_persons_signature(
    tmp_path: Path, database: Database
) -> None:
    make_user(database, "ann")
    make_user(database, "bob")
    make_user(database, "sue", role="supervisor")
    make_user(database, "adm", role="admin")
    part_id = add_pending(database)
    app = review_app(tmp_path, database, second_approver=True)
    with inspectors(app, "ann", "bob", "sue", "adm") as [(ann, ah), (bob, bh), (sue, sh), (adm, dh)]:
        first = release(ann, ah, part_id)
        assert first.status_code == 200, first.text
        verdict_id = first.json()["verdict_id"]
        item = first.json()["item"]
        assert (item["state"], item["awaiting_second"], item["released_by"]) == ("awaiting_second", True, "ann")
        assert "second" in first.json()["message"]
        assert verdict_id not in outbox_ids(database), "sent to the station with one signature"
        queued = {i["part_id"]: i for i in ann.get("/api/queue").json()["items"]}
        assert queued[part_id]["awaiting_second"] and queued[part_id]["released_by"] == "ann"

        own = approve(ann, ah, part_id)
        assert own.status_code == 409
        assert "second, different person" in own.json()["detail"]
        assert approve(adm, dh, part_id).status_code == 403, "admins manage users, they do not release parts"
        assert approve(bob, bh, part_id, password="not bob's password").status_code == 403
        assert verdict_id not in outbox_ids(database)

        second = approve(bob, bh, part_id)
        assert second.status_code == 200, second.text
        body = second.json()
        assert (body["released_by"], body["approved_by"], body["late"]) == ("ann", "bob", False)
        assert (body["item"]["state"], body["item"]["awaiting_second"], body["item"]["approved_by"]) == (
            "resolved",
            False,
            "bob",
        )
        assert outbox_ids(database) == [verdict_id]
        assert approve(sue, sh, part_id).status_code == 409, "a release is approved once"

    with database.engine.connect() as connection:
        signatures = signatures_for(connection, verdict_id)
        row = connection.execute(select(items.verdicts).where(items.verdicts.c.id == verdict_id)).mappings().one()
    assert [(s.username, s.meaning) for s in signatures] == [
        ("ann", api.RELEASE_MEANING),
        ("bob", api.APPROVAL_MEANING),
    ]
    assert (row["signature_id"], row["second_signature_id"], row["second_by"]) == (
        str(signatures[0].id),
        str(signatures[1].id),
        "bob",
    )
    assert audited(database, part_id) == [
        "verdict",
        "second_approval_refused",
        "second_approval",
        "second_approval_refused",
    ]


def test_a_second_approval_after_the_deadline_is_late(tmp_path: Path, database: Database) -> None:
    make_user(database, "ann")
    make_user(database, "bob", role="supervisor")
    part_id = add_pending(database)
    app = review_app(tmp_path, database, second_approver=True)
    with inspectors(app, "ann", "bob") as [(ann, ah), (bob, bh)]:
        assert release(ann, ah, part_id).status_code == 200
        with database.engine.begin() as connection:  # the window closes: the station applies its fail-safe
            assert items.expire_due(connection, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)) == 1
        expired = {i["part_id"]: i for i in bob.get("/api/queue").json()["items"]}[part_id]
        assert (expired["state"], expired["awaiting_second"]) == ("expired", True), "still offered for approval"
        late = approve(bob, bh, part_id)
    assert late.status_code == 200, late.text
    assert late.json()["late"] and late.json()["item"]["late"]
    assert "late" in late.json()["message"]
    assert [row["late"] for row in verdict_rows(database, part_id)] == [True]


def test_without_the_second_approver_a_release_is_sent_at_once(tmp_path: Path, database: Database) -> None:
    make_user(database, "ann")
    make_user(database, "bob")
    part_id = add_pending(database)
    app = review_app(tmp_path, database, second_approver=False)
    with inspectors(app, "ann", "bob") as [(ann, ah), (bob, bh)]:
        first = release(ann, ah, part_id)
        assert first.status_code == 200, first.text
        assert (first.json()["item"]["state"], first.json()["item"]["awaiting_second"]) == ("resolved", False)
        assert first.json()["message"] == "Sent to the station."
        assert outbox_ids(database) == [first.json()["verdict_id"]]
        assert approve(bob, bh, part_id).status_code == 409, "nothing awaits a second signature"
    with database.engine.connect() as connection:
        assert [s.meaning for s in signatures_for(connection, first.json()["verdict_id"])] == [api.RELEASE_MEANING]


def test_a_reject_needs_no_second_signature(tmp_path: Path, database: Database) -> None:
    make_user(database, "ann")
    part_id = add_pending(database)
    app = review_app(tmp_path, database, second_approver=True)
    with inspectors(app, "ann") as [(ann, ah)]:
        response = ann.post(
            f"/api/items/{part_id}/verdict", json={"verdict": "reject", "reason": "defect confirmed"}, headers=ah
        )
    assert response.status_code == 200, response.text
    assert outbox_ids(database) == [response.json()["verdict_id"]]


def test_two_second_approvers_at_once_sign_one_approval(tmp_path: Path, database: Database) -> None:
    for name in ("ann", "bob", "cat"):
        make_user(database, name)
    part_id = add_pending(database)
    app = review_app(tmp_path, database, second_approver=True)
    with inspectors(app, "ann", "bob", "cat") as [(ann, ah), (bob, bh), (cat, ch)]:
        verdict_id = release(ann, ah, part_id).json()["verdict_id"]
        responses, errors = race([lambda: approve(bob, bh, part_id), lambda: approve(cat, ch, part_id)])
    assert not errors, errors
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    with database.engine.connect() as connection:
        assert [s.meaning for s in signatures_for(connection, verdict_id)].count(api.APPROVAL_MEANING) == 1
    assert outbox_ids(database) == [verdict_id]
