"""Users, sessions, CSRF, login rate limit, security headers and e-signatures of the review server."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import BaseModel
from sqlalchemy import select, update

from inspection.cli import main
from inspection.config import StationConfig
from inspection.contracts import AuditEvent
from review_ui import audit
from review_ui.app import create_app
from review_ui.auth.deps import CurrentUser
from review_ui.auth.errors import LastAdminError, SignatureRefusedError, UserExistsError
from review_ui.auth.headers import CSP
from review_ui.auth.pages import safe_next
from review_ui.auth.ratelimit import LoginRateLimiter
from review_ui.auth.signatures import sign, signatures_for, signatures_table
from review_ui.auth.users import add_user, authenticate, disable_user, get_user, set_role, users_table
from review_ui.db import Database

PASSWORD = "correct horse battery"
ATTEMPTS = 3
WINDOW_S = 60.0
IDLE_MINUTES = 15.0
ABSOLUTE_HOURS = 2.0
BASE = "https://testserver"  # the session cookie is Secure: httpx sends it only over https


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class SignBody(BaseModel):
    password: str
    record_id: str


def config(tmp_path: Path, **review: Any) -> StationConfig:
    settings = {
        "login_attempts": ATTEMPTS,
        "login_window_s": WINDOW_S,
        "session_idle_minutes": IDLE_MINUTES,
        "session_absolute_hours": ABSOLUTE_HOURS,
        "link_bind": "tcp://127.0.0.1:*",  # a free port: never the one of a server running here
        **review,
    }
    return StationConfig.model_validate({"storage": {"data_dir": str(tmp_path)}, "review": settings})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(tmp_path: Path, database: Database, clock: FakeClock) -> FastAPI:
    app = create_app(config(tmp_path), database)
    app.state.auth.clock = clock

    @app.post("/test/sign")
    def sign_release(body: SignBody, user: CurrentUser) -> dict[str, object]:
        """Stands in for the verdict routes: they sign inside their own transaction."""
        with database.engine.begin() as connection:
            signature = sign(connection, user.username, body.password, "released as good", body.record_id)
        return {"id": signature.id}

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def make_user(database: Database, username: str, role: str = "inspector", password: str = PASSWORD) -> None:
    with database.engine.begin() as connection:
        add_user(connection, actor="test", username=username, role=role, password=password, full_name=username.title())


def login_token(client: TestClient, next_path: str = "/") -> str:
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the login page carries a CSRF token"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/") -> Response:
    token = login_token(client, next_path)
    form = {"username": username, "password": password, "csrf_token": token, "next": next_path}
    response: Response = client.post("/login", data=form, follow_redirects=False)
    return response


def csrf(client: TestClient) -> dict[str, str]:
    me = client.get("/api/me")
    assert me.status_code == 200, me.text
    return {"X-CSRF-Token": me.json()["csrf_token"]}


def events(database: Database, action: str) -> list[AuditEvent]:
    with database.engine.connect() as connection:
        return audit.recent(connection, 50, action=action)


def test_login_sets_a_host_cookie_and_is_audited(client: TestClient, database: Database) -> None:
    make_user(database, "alice")
    response = login(client, "Alice ", next_path="/queue?station=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/queue?station=1"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= attributes
    assert "domain" not in attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/;" in cookie.lower() + ";"
    me = client.get("/api/me").json()
    assert me["username"] == "alice"
    assert me["role"] == "inspector"
    assert len(me["csrf_token"]) >= 32
    [event] = events(database, "login")
    assert (event.actor, event.subject) == ("alice", "user:alice")


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_wrong_password_is_refused_and_audited(client: TestClient, database: Database, username: str) -> None:
    make_user(database, "alice")
    response = login(client, username, "not the password at all")
    assert response.status_code == 401
    assert "wrong username or password" in response.text
    assert "__Host-session" not in response.headers.get("set-cookie", "")
    assert client.get("/api/me").status_code == 401
    [event] = events(database, "login_failed")
    assert event.subject == f"user:{username}"
    assert event.reason == ("wrong password" if username == "alice" else "unknown user")
    assert "not the password" not in event.model_dump_json()


def test_login_form_needs_its_csrf_cookie(client: TestClient, database: Database) -> None:
    make_user(database, "alice")
    token = login_token(client)
    client.cookies.clear()  # a forged cross-site form: the attacker cannot set our __Host- cookie
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert not events(database, "login")


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("/queue?x=1", "/queue?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
    ],
)
def test_next_is_only_a_same_site_path(asked: str, expected: str) -> None:
    assert safe_next(asked) == expected


def test_logout_revokes_the_session_at_once(client: TestClient, database: Database) -> None:
    make_user(database, "alice")
    login(client, "alice")
    headers = csrf(client)
    stolen = client.cookies["__Host-session"]
    response = client.post("/logout", data={"csrf_token": headers["X-CSRF-Token"]}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    client.cookies.set("__Host-session", stolen)
    assert client.get("/api/me").status_code == 401
    assert [e.actor for e in events(database, "logout")] == ["alice"]


@pytest.mark.parametrize("change", ["disable", "role"])
def test_disable_or_role_change_revokes_sessions_at_once(app: FastAPI, database: Database, change: str) -> None:
    make_user(database, "root", "admin")
    make_user(database, "bob")
    with TestClient(app, base_url=BASE) as admin, TestClient(app, base_url=BASE) as bob:
        login(admin, "root")
        login(bob, "bob")
        assert bob.get("/api/me").status_code == 200
        if change == "disable":
            response = admin.post("/api/users/bob/disable", json={"reason": "left"}, headers=csrf(admin))
        else:
            response = admin.post("/api/users/bob/role", json={"role": "supervisor"}, headers=csrf(admin))
        assert response.status_code == 200, response.text
        assert bob.get("/api/me").status_code == 401
        if change == "disable":
            assert login(bob, "bob").status_code == 401
        else:
            login(bob, "bob")
            assert bob.get("/api/me").json()["role"] == "supervisor"
    [event] = events(database, "user_disabled" if change == "disable" else "role_change")
    assert event.actor == "root"
    assert event.after is not None
    assert event.after["sessions_ended"] == 1
    assert "password_hash" not in event.model_dump_json()


def test_idle_timeout(client: TestClient, database: Database, clock: FakeClock) -> None:
    make_user(database, "alice")
    login(client, "alice")
    for _ in range(3):  # activity keeps it alive well past one idle period
        clock.advance(minutes=IDLE_MINUTES - 1)
        assert client.get("/api/me").status_code == 200
    clock.advance(minutes=IDLE_MINUTES, seconds=1)
    assert client.get("/api/me").status_code == 401
    clock.advance(seconds=-30)  # expiry revoked it: turning the clock back does not revive it
    assert client.get("/api/me").status_code == 401


def test_absolute_timeout(client: TestClient, database: Database, clock: FakeClock) -> None:
    make_user(database, "alice")
    login(client, "alice")
    steps = int(ABSOLUTE_HOURS * 60 / 10)
    for _ in range(steps):
        clock.advance(minutes=10)
        assert client.get("/api/me").status_code == 200
    clock.advance(seconds=1)
    assert client.get("/api/me").status_code == 401


def test_rate_limit_refuses_with_429_and_audits(client: TestClient, database: Database, clock: FakeClock) -> None:
    make_user(database, "alice")
    for _ in range(ATTEMPTS):
        assert login(client, "alice", "wrong password guess").status_code == 401
    blocked = login(client, "alice")  # the right password is not even looked at
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= WINDOW_S
    assert "__Host-session" not in blocked.headers.get("set-cookie", "")
    assert login(client, "someone-else").status_code == 429  # the address is limited too
    assert len(events(database, "login_failed")) == ATTEMPTS
    assert [e.subject for e in reversed(events(database, "login_blocked"))] == ["user:alice", "user:someone-else"]
    clock.advance(seconds=WINDOW_S + 1)
    assert login(client, "alice").status_code == 303


def test_sliding_window() -> None:
    limiter = LoginRateLimiter(attempts=2, window_s=10)
    limiter.failure("a", "1.2.3.4", now=0)
    limiter.failure("a", "5.6.7.8", now=6)
    assert limiter.check("a", "9.9.9.9", now=9).blocked
    assert limiter.check("a", "9.9.9.9", now=9).retry_after_s == pytest.approx(1)
    assert not limiter.check("a", "9.9.9.9", now=10.5).blocked  # the first failure slid out
    assert not limiter.check("b", "1.2.3.4", now=9).blocked
    limiter.failure("a", "1.2.3.4", now=11)
    limiter.success("a")
    assert not limiter.check("a", "8.8.8.8", now=12).blocked
    limiter.failure("c", "1.2.3.4", now=12)
    assert limiter.check("d", "1.2.3.4", now=12).blocked  # the address kept its failures


def test_csrf_token_required_for_state_changes(client: TestClient, database: Database) -> None:
    make_user(database, "root", "admin")
    login(client, "root")
    body = {"username": "carol", "role": "inspector", "password": PASSWORD}
    assert client.post("/api/users", json=body).status_code == 403
    assert client.post("/api/users", json=body, headers={"X-CSRF-Token": "x" * 43}).status_code == 403
    wrong_form = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert wrong_form.status_code == 403
    cross_site = {**csrf(client), "Sec-Fetch-Site": "cross-site"}
    assert client.post("/api/users", json=body, headers=cross_site).status_code == 403
    with database.engine.connect() as connection:
        assert get_user(connection, "carol") is None
    created = client.post("/api/users", json=body, headers=csrf(client))
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "carol"
    assert events(database, "user_created")[0].actor == "root"
    assert client.post("/api/users", json=body, headers=csrf(client)).status_code == 409


def test_roles_and_anonymous_access(client: TestClient, database: Database) -> None:
    assert client.get("/api/users").status_code == 401
    page = client.get("/users", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/users"
    make_user(database, "ivan", "inspector")
    make_user(database, "root", "admin")
    login(client, "ivan")
    headers = csrf(client)
    assert client.get("/api/users").status_code == 403
    assert client.post("/api/users/ivan/role", json={"role": "admin"}, headers=headers).status_code == 403
    assert client.post("/api/users/root/disable", headers=headers).status_code == 403
    assert client.get("/users").status_code == 403
    login(client, "root")
    listing = client.get("/users")
    assert listing.status_code == 200
    assert "ivan" in listing.text
    assert 'action="/logout"' in listing.text
    assert [u["username"] for u in client.get("/api/users").json()] == ["ivan", "root"]


def test_security_headers(client: TestClient, database: Database) -> None:
    make_user(database, "alice")
    for response in (client.get("/login"), client.get("/api/me"), login(client, "alice"), client.get("/api/me")):
        headers = response.headers
        assert headers["content-security-policy"] == CSP
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in headers
    assert "script" not in client.get("/login").text.lower()
    assert client.get("/static/app.css").headers.get("cache-control") != "no-store"


def test_hsts_only_with_tls(tmp_path: Path, database: Database) -> None:
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("unused")
    tls = config(tmp_path, tls_cert=str(tmp_path / "cert.pem"), tls_key=str(tmp_path / "key.pem"))
    with TestClient(create_app(tls, database), base_url=BASE) as client:
        assert client.get("/login").headers["strict-transport-security"].startswith("max-age=")


def test_signature_rechecks_the_password(database: Database) -> None:
    make_user(database, "alice")
    with pytest.raises(SignatureRefusedError, match="wrong username or password"), database.engine.begin() as c:
        sign(c, "alice", "guessed password", "released as good", "part-1")
    with database.engine.begin() as connection:
        signature = sign(connection, "alice", PASSWORD, "released as good", "part-1")
    assert (signature.username, signature.full_name, signature.meaning) == ("alice", "Alice", "released as good")
    with database.engine.connect() as connection:
        assert signatures_for(connection, "part-1") == [signature]
    [event] = events(database, "signature")
    assert (event.actor, event.subject, event.reason) == ("alice", "record:part-1", "released as good")
    assert PASSWORD not in event.model_dump_json()


def test_signature_refusal_is_answered_and_audited_by_the_app(client: TestClient, database: Database) -> None:
    make_user(database, "alice")
    login(client, "alice")
    refused = client.post(
        "/test/sign", json={"password": "nope nope nope", "record_id": "part-9"}, headers=csrf(client)
    )
    assert refused.status_code == 403
    assert "re-enter your own password" in refused.json()["detail"]
    [event] = events(database, "signature_refused")
    assert (event.actor, event.subject) == ("alice", "record:part-9")
    with database.engine.connect() as connection:
        assert connection.execute(select(signatures_table)).first() is None
    signed = client.post("/test/sign", json={"password": PASSWORD, "record_id": "part-9"}, headers=csrf(client))
    assert signed.status_code == 200, signed.text


def test_outdated_hash_is_upgraded_at_login(database: Database) -> None:
    make_user(database, "alice")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with database.engine.begin() as connection:
        connection.execute(update(users_table).where(users_table.c.username == "alice").values(password_hash=weak))
    with database.engine.begin() as connection:
        authenticate(connection, "alice", PASSWORD)
    with database.engine.connect() as connection:
        stored = connection.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored != weak
    assert not PasswordHasher().check_needs_rehash(stored)


def test_the_last_admin_stays(database: Database) -> None:
    make_user(database, "root", "admin")
    with database.engine.begin() as connection, pytest.raises(LastAdminError, match="last active admin"):
        disable_user(connection, actor="test", username="root")
    with database.engine.begin() as connection, pytest.raises(LastAdminError):
        set_role(connection, actor="test", username="root", role="inspector")
    with database.engine.begin() as connection, pytest.raises(UserExistsError):
        add_user(connection, actor="test", username="root", role="admin", password=PASSWORD)


def test_password_change_ends_other_sessions(app: FastAPI, database: Database) -> None:
    make_user(database, "alice")
    new = "a brand new passphrase"
    with TestClient(app, base_url=BASE) as here, TestClient(app, base_url=BASE) as there:
        login(here, "alice")
        login(there, "alice")
        wrong = {"current_password": "not it at all", "new_password": new}
        assert here.post("/api/me/password", json=wrong, headers=csrf(here)).status_code == 403
        body = {"current_password": PASSWORD, "new_password": new}
        assert here.post("/api/me/password", json=body, headers=csrf(here)).status_code == 204
        assert here.get("/api/me").status_code == 200
        assert there.get("/api/me").status_code == 401
        assert login(there, "alice", new).status_code == 303
    assert events(database, "password_change")[0].actor == "alice"


def test_openapi_documents_the_bodies(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"UserCreate", "UserOut", "MeOut", "RoleChange", "PasswordChange"} <= set(schemas)


def test_cli_creates_the_first_admin_and_refuses_a_duplicate(tmp_path: Path, database_url: str) -> None:
    config_file = tmp_path / "station.toml"
    config_file.write_text(f'[storage]\ndata_dir = "{tmp_path}"\n\n[review]\ndatabase_url = "{database_url}"\n')
    runner = CliRunner()
    args = ["users", "add", "root", "--role", "admin", "--full-name", "Root Admin", "--config", str(config_file)]
    created = runner.invoke(main, [*args, "--password-stdin"], input=f"{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    duplicate = runner.invoke(main, [*args, "--password-stdin"], input=f"{PASSWORD}\n")
    assert duplicate.exit_code == 2
    assert "already exists" in duplicate.output
    prompted = runner.invoke(
        main, ["users", "add", "ivan", "--role", "inspector", "--config", str(config_file)], input=f"{PASSWORD}\n" * 2
    )
    assert prompted.exit_code == 0, prompted.output
    assert runner.invoke(main, ["users", "set-role", "ivan", "supervisor", "--config", str(config_file)]).exit_code == 0
    assert runner.invoke(main, ["users", "disable", "ivan", "--config", str(config_file)]).exit_code == 0
    assert runner.invoke(main, ["users", "disable", "nobody", "--config", str(config_file)]).exit_code == 2
    listing = runner.invoke(main, ["users", "list", "--config", str(config_file)])
    assert re.search(r"ivan\s+supervisor\s+disabled", listing.output)
    assert re.search(r"root\s+admin\s+active\s+Root Admin", listing.output)
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            assert authenticate(connection, "root", PASSWORD).role == "admin"
        assert events(database, "user_created")[-1].actor.startswith("cli:")
    finally:
        database.close()
    bad = runner.invoke(main, ["users", "list", "--config", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow  # 3-6 s: a real browser and server
def test_chromium_keeps_the_host_cookie_over_loopback_http(tmp_path: Path) -> None:
    """Chromium treats http://127.0.0.1 as a secure context, so the Secure __Host- cookie works without TLS."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs /usr/bin/chromium (make setup installs it)")
    database = Database(f"sqlite:///{tmp_path / 'review.db'}")
    make_user(database, "alice")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config(tmp_path), database), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            try:
                page = browser.new_page()
                csp_errors: list[str] = []
                page.on("console", lambda m: csp_errors.append(m.text) if "Content Security" in m.text else None)
                page.goto(f"http://127.0.0.1:{port}/login?next=/api/me")
                page.fill("#username", "alice")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url("**/api/me")
                assert '"username":"alice"' in page.inner_text("body")  # the cookie came back
                [cookie] = [c for c in page.context.cookies() if c["name"] == "__Host-session"]
                assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")
                assert not csp_errors
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        database.close()
