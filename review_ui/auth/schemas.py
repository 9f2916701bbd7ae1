"""Request and response bodies of the auth API, apart from the domain dataclasses, so OpenAPI documents them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from review_ui.auth.passwords import MAX_LENGTH, MIN_LENGTH
from review_ui.auth.users import Role, User


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    username: str
    full_name: str
    role: Role
    disabled: bool
    created_utc: str = Field(description="UTC ISO-8601")

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            username=user.username,
            full_name=user.full_name,
            role=user.role,
            disabled=user.disabled,
            created_utc=user.created_utc,
        )


class MeOut(BaseModel):
    username: str
    full_name: str
    role: Role
    csrf_token: str = Field(description="send as the X-CSRF-Token header with every POST/PUT/PATCH/DELETE")


class UserCreate(_Body):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="lowercase login name")
    full_name: str = Field(default="", max_length=200, description="printed name on e-signatures")
    role: Role
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class RoleChange(_Body):
    role: Role
    reason: str = Field(default="", max_length=500, description="why, for the audit trail")


class DisableRequest(_Body):
    reason: str = Field(default="", max_length=500, description="why, for the audit trail")


class PasswordChange(_Body):
    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
