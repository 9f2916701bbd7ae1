"""Password hashing with argon2id; stored hashes carry their parameters, so old ones upgrade at next login."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from review_ui.auth.errors import PasswordPolicyError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # bounds the hashing work one request can ask for

_hasher = PasswordHasher()  # argon2id with RFC 9106 low-memory parameters
# Verified against when the user does not exist, so that unknown names take as long as wrong passwords.
_DUMMY_HASH = _hasher.hash("not a password: equalises timing")


def check_policy(username: str, password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"password for {username!r} is too short: use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"password for {username!r} is too long: use at most {MAX_LENGTH} characters")
    if password.strip().lower() == username.lower():
        raise PasswordPolicyError(f"password for {username!r} must not be the username: choose another")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """False on mismatch or a corrupt hash; a missing hash still costs one verification."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
