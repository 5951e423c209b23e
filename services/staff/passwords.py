"""Password hashing (argon2id, argon2-cffi's defaults, RFC 9106) and the rules for a new password.

Owns the hasher and the dummy hash that a login for an unknown user is checked against, so that such a login costs
as much time as a wrong password. Knows nothing of accounts or Redis.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core import texts
from core.errors import ValidationFailed

MIN_LENGTH = 12
MAX_LENGTH = 128  # argon2 takes any length; a cap keeps a megabyte "password" from costing more than a normal one

_HASHER = PasswordHasher()
_dummy: list[str] = []


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (it is replaced at the next login)."""
    return _HASHER.check_needs_rehash(password_hash)


def burn(password: str) -> None:
    """Spend what a real verification costs, for a username that has no account (no timing oracle)."""
    if not _dummy:
        _dummy.append(_HASHER.hash(secrets.token_urlsafe(16)))
    verify(_dummy[0], password)


def check_new(password: str, username: str) -> None:
    """Raise :class:`ValidationFailed` with the reader's message if ``password`` may not be used."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed("password too short", user_message=texts.CONSOLE["password_too_short"])
    if len(password) > MAX_LENGTH:
        raise ValidationFailed("password too long", user_message=texts.CONSOLE["password_too_long"])
    if password.strip().lower() == username.strip().lower():
        raise ValidationFailed("password equals username", user_message=texts.CONSOLE["password_is_username"])
