"""The inspector's page: the queue and the item under review, driven by static/queue.js."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from review_ui.auth.deps import PageUser
from review_ui.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request, user: PageUser) -> HTMLResponse:
    return _page(request, user, "")


@router.get("/items/{part_id}", response_class=HTMLResponse)
def item_page(request: Request, part_id: str, user: PageUser) -> HTMLResponse:
    return _page(request, user, part_id)


def _page(request: Request, user: PageUser, part_id: str) -> HTMLResponse:
    review = request.app.state.review
    context = {
        "user": user,
        "csrf_token": user.csrf_token,
        "selected": part_id,
        "override_reasons": review.override_reasons,
        "reject_reasons": review.reject_reasons,
    }
    return templates.TemplateResponse(request, "queue.html", context)
