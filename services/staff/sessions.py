"""Console sessions, kept server-side in Redis. The cookie holds a random token; Redis keeps its SHA-256.

A session starts ``pending`` when the password is right (it lives ``admin.second_step_seconds`` and opens only the
second-factor pages), and is replaced by a ``full`` session, under a new token, when the second factor is right (so a
token seen before the second factor is worthless after it). A full session's TTL is the idle timeout, renewed on each
use but never past its absolute lifetime, counted from ``created_at``. Each account's session hashes are kept in a
set, so "logout everywhere" (and disabling an account) can end them all.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import redis

from core import redis_keys
from core.settings import AdminSettings

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128
PENDING, FULL = "pending", "full"


@dataclass(frozen=True)
class StaffSession:
    token_hash: str
    account_id: int
    stage: str
    created_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(client: redis.Redis, settings: AdminSettings, account_id: int, *, stage: Literal["pending", "full"]) -> str:
    """A new session for the account; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    token_hash = _digest(token)
    record = json.dumps({"account_id": account_id, "stage": stage, "created_at": time.time()})
    ttl = settings.second_step_seconds if stage == PENDING else settings.session_idle_seconds
    pipe = client.pipeline()
    pipe.set(redis_keys.staff_session(token_hash), record, ex=ttl)
    index = redis_keys.staff_sessions_of(account_id)  # pending ones too: a disabled account's login stops midway
    pipe.sadd(index, token_hash)
    pipe.expire(index, settings.session_absolute_seconds)
    pipe.execute()
    return token


def load(client: redis.Redis, settings: AdminSettings, token: str | None) -> StaffSession | None:
    """The session behind a cookie's token, or None (unknown, idle too long, or past its absolute lifetime).
    A full session's idle TTL is renewed, up to its absolute end."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    token_hash = _digest(token)
    key = redis_keys.staff_session(token_hash)
    raw = client.get(key)
    if raw is None:
        return None
    data = json.loads(raw)
    found = StaffSession(token_hash, int(data["account_id"]), str(data["stage"]), float(data["created_at"]))
    if found.stage == FULL:
        left = found.created_at + settings.session_absolute_seconds - time.time()
        if left <= 0:
            _drop(client, found)
            return None
        client.expire(key, max(1, min(settings.session_idle_seconds, int(left))))
    return found


def promote(client: redis.Redis, settings: AdminSettings, pending: StaffSession) -> str:
    """Replace a pending session by a full one under a new token; returns the new token."""
    client.delete(redis_keys.staff_session(pending.token_hash))
    return start(client, settings, pending.account_id, stage="full")


def _drop(client: redis.Redis, found: StaffSession) -> None:
    pipe = client.pipeline()
    pipe.delete(redis_keys.staff_session(found.token_hash))
    pipe.srem(redis_keys.staff_sessions_of(found.account_id), found.token_hash)
    pipe.execute()


def end(client: redis.Redis, settings: AdminSettings, token: str | None) -> None:
    """Logout: end this session (a no-op for an unknown token)."""
    found = load(client, settings, token)
    if found is not None:
        _drop(client, found)


def end_all(client: redis.Redis, account_id: int) -> int:
    """Logout everywhere: end every session of the account; returns how many there were."""
    index = redis_keys.staff_sessions_of(account_id)
    hashes = [h.decode() if isinstance(h, bytes) else str(h) for h in client.smembers(index)]
    pipe = client.pipeline()
    for token_hash in hashes:
        pipe.delete(redis_keys.staff_session(token_hash))
    pipe.delete(index)
    results = pipe.execute()
    return sum(int(r) for r in results[:-1])
