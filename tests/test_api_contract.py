"""The review server's HTTP contract: schemathesis fuzzing of the OpenAPI spec, and who may call which route.

Two checks that nobody has to remember to extend:
- schemathesis generates requests for every operation of `app.openapi()` (in-process, no network): an
  anonymous client gets no 5xx and no 2xx from a protected route; a logged-in admin gets no 5xx anywhere.
- every route of the app (pages and docs included) is sent once per role and the answer is classified
  allowed or denied, then compared with `EXPECTED`; a route missing from the table fails the test, so a new
  route cannot go in unprotected without someone deciding who may call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response as HttpxResponse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from starlette.routing import Mount

from inspection.contracts import Decision
from inspection.link.messages import DecisionMessage
from review_ui.app import create_app
from review_ui.auth.state import SESSION_COOKIE
from review_ui.db import Database, utc_text
from review_ui.images import ImageFiles
from review_ui.items import Stored, add_item, expire_due
from tests.test_auth import BASE, PASSWORD, config, csrf, login, login_token, make_user
from tests.test_supervisor import tiff

pytestmark = pytest.mark.slow

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]

Role = str
ANONYMOUS, INSPECTOR, SUPERVISOR, ADMIN = "anonymous", "inspector", "supervisor", "admin"
ROLES: tuple[Role, ...] = (ANONYMOUS, INSPECTOR, SUPERVISOR, ADMIN)
EVERYONE = frozenset(ROLES)
LOGGED_IN = frozenset({INSPECTOR, SUPERVISOR, ADMIN})  # inspector-level routes
SUPERVISORS = frozenset({SUPERVISOR, ADMIN})
ADMINS = frozenset({ADMIN})

# Who may call each route, by "METHOD path" as the app declares it. Every route of the app must be here.
EXPECTED: dict[str, frozenset[Role]] = {
    # public: logging in, the API description, static files
    "GET /login": EVERYONE,
    "POST /login": EVERYONE,
    "GET /openapi.json": EVERYONE,
    "HEAD /openapi.json": EVERYONE,
    "GET /docs": EVERYONE,
    "HEAD /docs": EVERYONE,
    "GET /docs/oauth2-redirect": EVERYONE,
    "HEAD /docs/oauth2-redirect": EVERYONE,
    "GET /redoc": EVERYONE,
    "HEAD /redoc": EVERYONE,
    "GET /static/{path}": EVERYONE,
    # any logged-in user: their own session, the queue and its items
    "POST /logout": LOGGED_IN,
    "GET /api/me": LOGGED_IN,
    "POST /api/me/password": LOGGED_IN,
    "GET /": LOGGED_IN,
    "GET /items/{part_id}": LOGGED_IN,
    "GET /api/queue": LOGGED_IN,
    "GET /api/items/{part_id}": LOGGED_IN,
    "POST /api/items/{part_id}/claim": LOGGED_IN,
    "POST /api/items/{part_id}/verdict": LOGGED_IN,
    "GET /api/items/{part_id}/history": LOGGED_IN,
    "GET /api/items/{part_id}/{kind}.png": LOGGED_IN,
    "GET /api/events": LOGGED_IN,
    # the second signature on a release: inspectors and supervisors sign parts off, admins manage users
    "POST /api/items/{part_id}/approve": frozenset({INSPECTOR, SUPERVISOR}),
    # supervisors: history, disagreements, KPIs, training-data export
    "GET /api/history": SUPERVISORS,
    "GET /api/disagreements": SUPERVISORS,
    "GET /api/kpis": SUPERVISORS,
    "POST /api/export": SUPERVISORS,
    "GET /history": SUPERVISORS,
    "GET /disagreements": SUPERVISORS,
    "GET /dashboard": SUPERVISORS,
    # supervisors: station thresholds and policy
    "GET /api/stations": SUPERVISORS,
    "POST /api/stations/{station_id}/settings": SUPERVISORS,
    "GET /settings": SUPERVISORS,
    "POST /settings/{station_id}": SUPERVISORS,
    # admins: users
    "GET /users": ADMINS,
    "GET /api/users": ADMINS,
    "POST /api/users": ADMINS,
    "POST /api/users/{username}/disable": ADMINS,
    "POST /api/users/{username}/role": ADMINS,
}
# What schemathesis may see answered 2xx without a session (the spec documents only /login of these).
PUBLIC_PATHS = frozenset({"/login", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static/{path}"})
# 400 and 422: FastAPI parses and validates the body before the route's dependencies (the role check) run.
ANONYMOUS_REFUSALS = frozenset({400, 401, 403, 303, 405, 422})

USERS = {"ivan": INSPECTOR, "sue": SUPERVISOR, "root": ADMIN, "spare": INSPECTOR}
ACTOR = {INSPECTOR: "ivan", SUPERVISOR: "sue", ADMIN: "root"}
NEW_PASSWORD = "another horse battery staple"
STATION = "line-a"
PENDING, PASSED, EXPIRED = f"{STATION}-1", f"{STATION}-2", f"{STATION}-3"
PART_IDS = (PENDING, PASSED, EXPIRED)
FUZZ_EXAMPLES = 12


@dataclass
class Station:
    app: FastAPI
    database: Database


def decision_message(part_id: str, seq: int, verdict: str, deadline: dt.datetime) -> DecisionMessage:
    decision = Decision(
        part_id=part_id,
        station_id=STATION,
        verdict=verdict,
        reason="contract test",
        detail="",
        score=0.5,
        model_id="0" * 64,
        thresholds_version="t1",
    )
    return DecisionMessage(
        id=part_id,
        station_id=STATION,
        seq=seq,
        decision=decision,
        captured_utc=utc_text(deadline - dt.timedelta(seconds=30)),
        deadline_utc=utc_text(deadline),
        review=verdict != "pass",
        action=None if verdict == "pass" else "reject",
    )


def seed_items(database: Database, images: ImageFiles) -> None:
    """A pending item with pictures, a passed one without, and one whose window has closed (fail-safe applied)."""
    now = dt.datetime.now(dt.UTC)
    frame = images.put(tiff(np.full((8, 12), 128, np.uint8)))
    heat = images.put(tiff(np.full((8, 12), 200, np.uint8)))
    with database.engine.begin() as connection:
        add_item(
            connection, Stored(decision_message(PENDING, 1, "uncertain", now + dt.timedelta(hours=1)), frame, heat)
        )
        add_item(connection, Stored(decision_message(PASSED, 2, "pass", now + dt.timedelta(hours=1)), None, None))
        add_item(connection, Stored(decision_message(EXPIRED, 3, "reject", now - dt.timedelta(seconds=5)), None, None))
        expire_due(connection, now)


def build_station(tmp_path: Path, **review: Any) -> Station:
    database = Database(f"sqlite:///{tmp_path / 'review.db'}")
    app = create_app(config(tmp_path, **review), database, link=False)
    for username, role in USERS.items():
        make_user(database, username, role)
    seed_items(database, app.state.images)
    return Station(app, database)


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    # Fuzzed password changes count as failed logins: a high limit keeps the fuzzing admin able to log in again.
    built = build_station(tmp_path, login_attempts=100_000)
    yield built
    built.database.close()


# --- schemathesis over the OpenAPI spec -------------------------------------------------------------------


KNOWN_PATH_VALUES: dict[str, tuple[str, ...]] = {
    "part_id": PART_IDS,
    "username": ("ivan", "sue", "spare", "nobody"),  # never "root": the fuzzing admin would lock itself out
    "kind": ("frame", "heatmap"),
    "station_id": (STATION, "line-z"),
}
# Explicit examples at the edges of what the spec admits, which random generation seldom reaches.
EDGE_VALUES: dict[str, tuple[str | int | float, ...]] = {
    "from": ("0001-01-01", "9999-12-31"),
    "to": ("0001-01-01", "9999-12-31"),
    "offset": (2**63, 10**20),  # past SQLite's and PostgreSQL's 64-bit integers
    "limit": (500,),
    "hours": (168, 1e-300),
}
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is never a fluke of the seed
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def fuzz_schema(app: FastAPI) -> schemathesis.BaseSchema:
    """The app's own spec (`app.openapi()` as served at /openapi.json), called in-process."""
    # /api/events never ends: one event is enough to see that the stream opened.
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=schemathesis.Config.from_dict({"max-stream-events": 1})
    )


def cases(operation: Operation) -> st.SearchStrategy[Case]:
    """Valid and invalid requests; about half of them get path parameters naming a seeded item or user."""
    generated = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )
    known = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in KNOWN_PATH_VALUES.items()})

    def name_known(drawn: tuple[Case, bool, dict[str, str]]) -> Case:
        case, use_known, values = drawn
        if use_known and case.path_parameters:
            case.path_parameters.update({k: v for k, v in values.items() if k in case.path_parameters})
        return case

    return st.tuples(generated, st.booleans(), known).map(name_known)


def body_fields(schema: schemathesis.BaseSchema, operation: Operation) -> set[str]:
    """The top-level fields of the operation's JSON body, following one $ref."""
    spec: dict[str, Any] = schema.raw_schema
    content = spec["paths"][operation.path][operation.method.lower()].get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    return set(body.get("properties", {}))


def edge_cases(schema: schemathesis.BaseSchema, operation: Operation) -> list[Case]:
    """One case per edge value of each query parameter or body field the operation has, at a known item."""
    path_parameters = {p.name: KNOWN_PATH_VALUES.get(p.name, ("x",))[0] for p in operation.path_parameters}
    query = {p.name for p in operation.query}
    found: list[Case] = []
    for name, values in EDGE_VALUES.items():
        for value in values:
            if name in query:
                found.append(operation.Case(path_parameters=path_parameters, query={name: value}))
            if name in body_fields(schema, operation):
                found.append(
                    operation.Case(path_parameters=path_parameters, body={name: value}, media_type="application/json")
                )
    return found


def fuzz_every_operation(schema: schemathesis.BaseSchema, test: Callable[[Case], None]) -> dict[str, str]:
    """Runs `test` on generated cases of each operation; the failures by operation (shrunk by hypothesis)."""
    failures: dict[str, str] = {}
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures[str(result.err().path)] = f"schemathesis cannot read the spec: {result.err()}"
        else:
            operations.append(result.ok())
    assert len(operations) >= len(schema.raw_schema["paths"]), "every path of the spec has an operation"
    for operation in operations:

        @FUZZ_SETTINGS
        @given(case=cases(operation))
        def run(case: Case) -> None:
            test(case)

        for edge in edge_cases(schema, operation):
            run = example(case=edge)(run)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
            # collected, so that one run reports every failing operation
            failures[operation.label] = describe(exc)
    return failures


def describe(exc: BaseException) -> str:
    """Hypothesis groups the failures of several explicit examples; schemathesis' own groups carry a full report."""
    if type(exc) in (ExceptionGroup, BaseExceptionGroup):
        return "\n".join(describe(inner) for inner in exc.exceptions)  # type: ignore[attr-defined]
    return str(exc)


def call(case: Case, headers: dict[str, str]) -> schemathesis.Response:
    """The app's own exceptions come through the in-process transport: reported with the request that caused them."""
    try:
        # A redirect to /login is how pages refuse: it is the answer, the login page behind it is not.
        return case.call(headers=headers, allow_redirects=False)
    except Exception as exc:
        raise AssertionError(f"{exc!r} (a 5xx) for: {case.as_curl_command(headers=headers)}") from exc


def protected_routes_refuse(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case) -> None:
    """Without a session only the public paths may answer anything but a refusal."""
    if case.operation.path in PUBLIC_PATHS:
        return
    status = response.status_code
    location = response.headers.get("location", [""])[0]
    if status not in ANONYMOUS_REFUSALS or (status == 303 and not location.startswith("/login?next=")):
        raise AssertionError(f"anonymous {case.method} {case.formatted_path} answered {status}: it must be refused")


def test_anonymous_clients_get_no_server_error_and_no_protected_data(station: Station) -> None:
    def anonymous(case: Case) -> None:
        response = call(case, {})
        case.validate_response(response, checks=[not_a_server_error, protected_routes_refuse])

    failures = fuzz_every_operation(fuzz_schema(station.app), anonymous)
    assert not failures, "\n\n".join(f"{label}:\n{message}" for label, message in failures.items())


def test_admin_gets_no_server_error(station: Station) -> None:
    headers = admin_headers(station.app)

    def admin(case: Case) -> None:
        response = call(case, headers)
        case.validate_response(response, checks=[not_a_server_error])
        if case.operation.path == "/logout" and response.status_code == 303:
            headers.update(admin_headers(station.app))  # a fuzzed logout ended the session: log in again

    failures = fuzz_every_operation(fuzz_schema(station.app), admin)
    assert not failures, "\n\n".join(f"{label}:\n{message}" for label, message in failures.items())


def admin_headers(app: FastAPI) -> dict[str, str]:
    """A fresh admin session as a plain Cookie header (the cookie is Secure and schemathesis talks to the app
    over http://testserver) plus its CSRF header."""
    client = TestClient(app, base_url=BASE)
    assert login(client, ACTOR[ADMIN]).status_code == 303
    return {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}", **csrf(client)}


# --- role x route matrix ------------------------------------------------------------------------------------


def route_keys(app: FastAPI) -> list[str]:
    """Every "METHOD path" the app answers. `iter_route_contexts` also walks into included routers, which
    FastAPI >= 0.16x keeps as wrappers in `app.routes` instead of copying their APIRoutes in."""
    keys: list[str] = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount):
            keys.append(f"GET {context.path}/{{path}}")
            continue
        assert context.methods, f"a route without methods: {context.original_route!r}"
        keys.extend(f"{method} {context.path}" for method in sorted(context.methods))
    return keys


PATH_VALUES = {
    "{part_id}": PENDING,
    "{username}": "spare",
    "{kind}": "frame",
    "{station_id}": STATION,
    "{path}": "app.css",
}
BODIES: dict[str, dict[str, object]] = {
    "POST /api/users": {"username": "newbie", "role": INSPECTOR, "password": PASSWORD},
    "POST /api/users/{username}/disable": {"reason": "contract test"},
    "POST /api/users/{username}/role": {"role": SUPERVISOR, "reason": "contract test"},
    "POST /api/me/password": {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    "POST /api/items/{part_id}/verdict": {"verdict": "reject", "reason": "scratch"},
    "POST /api/export": {},
    "POST /api/items/{part_id}/approve": {"password": PASSWORD, "reason": "reflection, not a defect"},
    "POST /api/stations/{station_id}/settings": {
        "pass_below": 0.2,
        "reject_above": 0.8,
        "reject": "auto",
        "uncertain": "review",
        "reason": "contract test",
    },
}
SETTINGS_FIELDS = {"pass_below": "0.2", "reject_above": "0.8", "reject": "auto", "uncertain": "review"}
FORMS: dict[str, dict[str, str]] = {"POST /settings/{station_id}": {**SETTINGS_FIELDS, "reason": "contract test"}}
# These end or replace the session, so they go last, in this order: POST /login then runs without a session.
LAST = ("POST /api/me/password", "POST /logout", "POST /login")


def request_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: LAST.index(key) if key in LAST else -1)


def send(client: TestClient, key: str, headers: dict[str, str], username: str, password: str) -> HttpxResponse:
    """One request for the route, with path parameters that exist and a minimal valid body."""
    method, template = key.split(" ", 1)
    url = template
    for placeholder, value in PATH_VALUES.items():
        url = url.replace(placeholder, value)
    if key == "POST /login":
        form = {"username": username, "password": password, "csrf_token": login_token(client)}
        answer: HttpxResponse = client.post(url, data=form, follow_redirects=False)
        return answer
    body: dict[str, Any] = {"data": FORMS[key]} if key in FORMS else {"json": BODIES.get(key)}
    with client.stream(method, url, headers=headers, follow_redirects=False, **body) as response:
        streamed: HttpxResponse = response
        return streamed  # the status and headers are enough: /api/events never ends, so its body is not read


def classify(response: HttpxResponse) -> str:
    status = response.status_code
    if status in (401, 403) or (300 <= status < 400 and response.headers.get("location", "").startswith("/login?")):
        return "denied"
    if status < 400 or status in (404, 409, 422):  # past the role check: the route itself answered
        return "allowed"
    return f"unexpected {status}"


def test_every_route_is_in_the_table(station: Station) -> None:
    found = route_keys(station.app)
    assert len(found) == len(set(found)), f"routes declared twice: {sorted(k for k in found if found.count(k) > 1)}"
    assert not set(found) - set(EXPECTED), "new routes: add them to EXPECTED with the roles that may call them"
    assert not set(EXPECTED) - set(found), "EXPECTED names routes the app no longer has"
    documented = {f"{method.upper()} {path}" for path, ops in station.app.openapi()["paths"].items() for method in ops}
    assert documented <= set(EXPECTED), "the spec documents routes the table does not know"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_routes(station: Station, role: Role) -> None:
    """A fresh station per role, so that one role's verdicts or user changes cannot change another's answers."""
    password = PASSWORD
    outcomes: dict[str, str] = {}
    with TestClient(station.app, base_url=BASE, raise_server_exceptions=False) as client:
        headers: dict[str, str] = {}
        if role != ANONYMOUS:
            assert login(client, ACTOR[role]).status_code == 303
            headers = csrf(client)
        for key in request_order(route_keys(station.app)):
            assert key in EXPECTED, f"{key} is not in EXPECTED: decide who may call it"
            response = send(client, key, headers, ACTOR.get(role, "ivan"), password)
            outcomes[key] = f"{classify(response)} ({response.status_code})"
            if key == "POST /api/me/password" and response.status_code == 204:
                password = NEW_PASSWORD
    wrong = {
        key: outcome
        for key, outcome in outcomes.items()
        if not outcome.startswith("allowed" if role in EXPECTED[key] else "denied")
    }
    assert not wrong, f"as {role}, expected per EXPECTED but got: {wrong}"
