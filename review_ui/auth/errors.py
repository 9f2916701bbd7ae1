"""Auth errors; each carries the HTTP status the app maps it to, so routes never translate them by hand."""

from __future__ import annotations

from inspection.errors import InspectionError


class AuthError(InspectionError):
    """Base of the review server's user, session and signature errors."""

    status_code = 400


class UserExistsError(AuthError):
    status_code = 409


class UnknownUserError(AuthError):
    status_code = 404


class PasswordPolicyError(AuthError):
    status_code = 422


class LastAdminError(AuthError):
    """Refused so that the server always keeps one active admin who can manage users."""

    status_code = 409


class AuthenticationError(AuthError):
    """A login or re-authentication failed; `reason` is for the audit trail, the message for the user."""

    status_code = 401

    def __init__(self, username: str, reason: str) -> None:
        self.username = username
        self.reason = reason
        super().__init__("wrong username or password, or the account is disabled; ask an admin if it persists")


class SignatureRefusedError(AuthError):
    """An e-signature was refused; the app's handler audits it after the caller's transaction rolled back."""

    status_code = 403

    def __init__(self, username: str, meaning: str, record_id: str, reason: str) -> None:
        self.username = username
        self.meaning = meaning
        self.record_id = record_id
        self.reason = reason
        super().__init__(
            f"signature of {username!r} for {meaning!r} on {record_id!r} refused: {reason}; re-enter your own password"
        )
