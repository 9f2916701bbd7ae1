"""Admin-only user management: a JSON API and a page listing the users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, status
from fastapi.responses import HTMLResponse, Response

from review_ui.auth.deps import AdminPageUser, AdminUser
from review_ui.auth.pages import render
from review_ui.auth.schemas import DisableRequest, RoleChange, UserCreate, UserOut
from review_ui.auth.state import auth_state
from review_ui.auth.users import add_user, disable_user, list_users, set_role

router = APIRouter(tags=["users"])


@router.get("/api/users", summary="All users (admin)")
def get_users(request: Request, _admin: AdminUser) -> list[UserOut]:
    with request.app.state.db.engine.connect() as connection:
        return [UserOut.of(user) for user in list_users(connection)]


@router.post("/api/users", status_code=status.HTTP_201_CREATED, summary="Create a user (admin)")
def create_user(request: Request, body: UserCreate, admin: AdminUser) -> UserOut:
    with request.app.state.db.engine.begin() as connection:
        user = add_user(
            connection,
            actor=admin.username,
            username=body.username,
            role=body.role,
            password=body.password,
            full_name=body.full_name,
            now=auth_state(request).clock(),
        )
    return UserOut.of(user)


@router.post("/api/users/{username}/disable", summary="Disable a user and end their sessions (admin)")
def disable(
    request: Request, username: str, admin: AdminUser, body: Annotated[DisableRequest | None, Body()] = None
) -> UserOut:
    with request.app.state.db.engine.begin() as connection:
        user = disable_user(
            connection,
            actor=admin.username,
            username=username,
            reason=body.reason if body else "",
            now=auth_state(request).clock(),
        )
    return UserOut.of(user)


@router.post("/api/users/{username}/role", summary="Change a user's role and end their sessions (admin)")
def change_role(request: Request, username: str, body: RoleChange, admin: AdminUser) -> UserOut:
    with request.app.state.db.engine.begin() as connection:
        user = set_role(
            connection,
            actor=admin.username,
            username=username,
            role=body.role,
            reason=body.reason,
            now=auth_state(request).clock(),
        )
    return UserOut.of(user)


@router.get("/users", response_class=HTMLResponse, summary="Users page (admin)")
def users_page(request: Request, admin: AdminPageUser) -> Response:
    with request.app.state.db.engine.connect() as connection:
        users = list_users(connection)
    return render(request, "users.html", admin, admin.csrf_token, users=users)
