"""The queue's JSON API: what is waiting, claims, verdicts, pictures and the live event stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Connection

from review_ui import audit, items
from review_ui.auth.deps import CurrentUser, SessionUser, require_role
from review_ui.auth.signatures import sign
from review_ui.db import Database, utc_text
from review_ui.hub import Hub
from review_ui.images import ImageFiles
from review_ui.queue import lines
from review_ui.queue.lines import QueueLines
from review_ui.queue.schemas import (
    ApprovalRequest,
    ApprovalResult,
    HistoryEntry,
    Item,
    QueueEntry,
    QueueView,
    VerdictRequest,
    VerdictResult,
)

router = APIRouter(prefix="/api", tags=["queue"])
KEEPALIVE_S = 15.0
RELEASE_MEANING = "released as good"
APPROVAL_MEANING = "release approved as second signer"
Approver = Annotated[SessionUser, Depends(require_role("inspector", "supervisor"))]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def item_or_404(connection: Connection, part_id: str) -> dict[str, object]:
    try:
        return items.get_item(connection, part_id)
    except items.ItemError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


@router.get("/queue", response_model=QueueView, summary="Items waiting for a human, by deadline; then expired ones")
def get_queue(request: Request, user: CurrentUser) -> Response:
    """The lines shared by all inspectors come from `QueueLines` (read once per change); "seen" is this user's.

    Answered as JSON made here: FastAPI would otherwise check the view it was just given, line by line.
    """
    database: Database = request.app.state.db
    cache: QueueLines[QueueEntry] = request.app.state.queue_lines

    def read() -> list[QueueEntry]:
        with database.engine.connect() as connection:
            return [QueueEntry.from_row(row) for row in lines.shared_lines(connection)]

    entries = cache.get(read)
    with database.engine.connect() as connection:
        seen = lines.seen_by(connection, user.username, [entry.part_id for entry in entries])
    view = QueueView(
        server_utc=utc_text(now()),
        items=[entry.model_copy(update={"seen": True}) if entry.part_id in seen else entry for entry in entries],
    )
    return Response(view.model_dump_json(), media_type="application/json")


@router.get("/items/{part_id}", response_model=Item, summary="One item")
def get_item(request: Request, part_id: str, user: CurrentUser) -> Item:
    database: Database = request.app.state.db
    with database.engine.connect() as connection:
        return Item.from_row(item_or_404(connection, part_id))


@router.post("/items/{part_id}/claim", response_model=Item, summary="Lease an item to yourself while you look at it")
def claim(request: Request, part_id: str, user: CurrentUser) -> Item:
    database: Database = request.app.state.db
    try:
        with database.engine.begin() as connection:
            row = items.claim(connection, part_id, user.username, now(), request.app.state.review.claim_lease_s)
    except items.ItemError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    hub: Hub = request.app.state.hub
    hub.publish("claim", {"part_id": part_id, "by": user.username})
    return Item.from_row(row)


@router.post("/items/{part_id}/verdict", response_model=VerdictResult, summary="Confirm, release or escalate")
def verdict(request: Request, part_id: str, body: VerdictRequest, user: CurrentUser) -> VerdictResult:
    """Releasing a part the model did not pass needs the inspector's password: an electronic signature.

    With `review.second_approver` that release waits for a second signer (`/approve`) before the station hears of it.
    """
    database: Database = request.app.state.db
    verdict_id = uuid.uuid4().hex
    moment = now()
    try:
        with database.engine.begin() as connection:
            items.lock_item(connection, part_id)  # before sign() locks the audit head: one lock order for all
            before = item_or_404(connection, part_id)
            signature_id = None
            if body.verdict == "pass" and before["verdict"] != "pass":
                if not body.password:
                    raise HTTPException(403, "releasing a part the model did not pass needs your password (signature)")
                signature_id = str(sign(connection, user.username, body.password, RELEASE_MEANING, verdict_id).id)
            second = signature_id is not None and bool(request.app.state.review.second_approver)
            reason = body.reason if not body.comment else f"{body.reason}: {body.comment}"
            after = items.resolve(
                connection,
                part_id,
                user.username,
                body.verdict,
                reason,
                moment,
                verdict_id,
                signature_id,
                awaiting_second=second,
            )
            audit.record(
                connection,
                actor=user.username,
                action="verdict",
                subject=f"item:{part_id}",
                before=_audited(before),
                after={**_audited(after), "verdict_id": verdict_id, "signature_id": signature_id},
                reason=reason,
            )
    except items.ItemError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    late = bool(after["late"])
    hub: Hub = request.app.state.hub
    event = {"part_id": part_id, "verdict": body.verdict, "by": user.username, "late": late, "awaiting_second": second}
    hub.publish("verdict", event)
    return VerdictResult(item=Item.from_row(after), verdict_id=verdict_id, late=late, message=_message(body, after))


@router.post(
    "/items/{part_id}/approve", response_model=ApprovalResult, summary="Second signature on a release (two-person rule)"
)
def approve(request: Request, part_id: str, body: ApprovalRequest, user: Approver) -> ApprovalResult:
    """A different inspector or supervisor signs the release; only then does the verdict go to the station."""
    database: Database = request.app.state.db
    moment = now()
    try:
        with database.engine.begin() as connection:
            items.lock_item(connection, part_id)  # the same lock order as `verdict`
            before = item_or_404(connection, part_id)
            release = items.awaiting_release(connection, part_id, user.username)
            signature = sign(connection, user.username, body.password, APPROVAL_MEANING, release["id"])
            after = items.approve(connection, release["id"], user.username, moment, str(signature.id))
            audit.record(
                connection,
                actor=user.username,
                action="second_approval",
                subject=f"item:{part_id}",
                before=_audited(before),
                after={
                    **_audited(after),
                    "verdict_id": release["id"],
                    "released_by": release["by"],
                    "first_signature_id": release["signature_id"],
                    "signature_id": str(signature.id),
                },
                reason=body.reason,
            )
    except items.ItemError as exc:
        _audit_refused_approval(database, user.username, part_id, exc)
        raise HTTPException(exc.status, str(exc)) from exc
    late = bool(after["late"])
    hub: Hub = request.app.state.hub
    hub.publish("approval", {"part_id": part_id, "by": user.username, "released_by": release["by"], "late": late})
    message = "Recorded as late: the station had already applied its fail-safe." if late else "Sent to the station."
    return ApprovalResult(
        item=Item.from_row(after),
        verdict_id=release["id"],
        released_by=release["by"],
        approved_by=user.username,
        late=late,
        message=message,
    )


@router.get("/items/{part_id}/history", response_model=list[HistoryEntry], summary="The item's audit trail")
def item_history(request: Request, part_id: str, user: CurrentUser) -> list[HistoryEntry]:
    database: Database = request.app.state.db
    with database.engine.connect() as connection:
        item_or_404(connection, part_id)
        events = audit.history(connection, f"item:{part_id}")
    return [HistoryEntry.model_validate(e.model_dump(exclude={"subject", "prev_hash", "hash"})) for e in events]


@router.get("/items/{part_id}/{kind}.png", summary="The frame, or the heatmap coloured with transparency, as PNG")
def picture(request: Request, part_id: str, kind: str, user: CurrentUser) -> Response:
    if kind not in ("frame", "heatmap"):
        raise HTTPException(404, "pictures are frame.png and heatmap.png")
    database: Database = request.app.state.db
    with database.engine.connect() as connection:
        row = item_or_404(connection, part_id)
    sha = row[f"{kind}_sha"]
    if not isinstance(sha, str):
        raise HTTPException(404, f"the station sent no {kind} for {part_id}")
    files: ImageFiles = request.app.state.images
    try:
        data = files.frame_png(sha) if kind == "frame" else files.heatmap_png(sha)
    except FileNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/events", summary="Server-sent events: item, claim, verdict, disposition, expired")
async def events(request: Request, user: CurrentUser) -> StreamingResponse:
    hub: Hub = request.app.state.hub
    queue = hub.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "event: hello\ndata: {}\n\n"
            while not await request.is_disconnected():
                try:
                    yield await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _audited(row: dict[str, object]) -> dict[str, object]:
    keys = ("state", "human_verdict", "resolved_by", "late", "claimed_by", "escalated", "verdict", "score")
    return {k: row[k] for k in keys}


def _audit_refused_approval(database: Database, username: str, part_id: str, error: items.ItemError) -> None:
    """A refused second signature (e.g. someone approving their own release) is evidence too; the route's
    transaction has rolled back, so it gets one of its own."""
    with database.engine.begin() as connection:
        audit.record(
            connection, actor=username, action="second_approval_refused", subject=f"item:{part_id}", reason=str(error)
        )


def _message(body: VerdictRequest, item: dict[str, object]) -> str:
    if item["released_by"] is not None:
        late = " Recorded as late: the station has applied its fail-safe." if item["late"] else ""
        return f"Signed. Not sent to the station until a second, different person approves the release.{late}"
    if item["late"] and body.verdict == "pass" and item["action"] in ("reject", "divert"):
        return "Recorded as late. The part was rejected by the fail-safe: retrieve it from the reject bin."
    if item["late"]:
        return "Recorded as late (a label for retraining); the station had already applied its fail-safe."
    if body.verdict == "escalate":
        return "Escalated: the item stays in the queue for a supervisor."
    return "Sent to the station."
