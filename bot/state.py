"""Conversation state per user, behind one interface with two stores: Redis (production) and memory (unit tests).

Keys and TTLs (Redis):
- ``xy:conv:{openid}``: JSON ``{"conversation", "step", "data", "expires_at"}``; TTL = conversation timeout + 1 day,
  so an expired conversation can still be recognised and the user told how to start again.
- ``xy:lock:user:{openid}``: the per-user lock, taken *before* the state is read so that two pushes from one user
  cannot both read the same state and both advance it (aiogram's FSM storage makes the same point). Its value is a
  random token; only the holder of the token releases it (compare-and-delete), and it expires after
  ``lock_timeout`` so a crashed worker cannot hold it for ever.

The webhook takes the lock and reads the state in the same round trip as its claim on the push (``bot/gate.py``),
with these key names, this token scheme and these TTLs; :meth:`RedisStateStore.lock` is the same lock for any other
caller (and what the contract tests exercise).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from core.errors import Busy

GRACE_SECONDS = 86400
LOCK_POLL_SECONDS = 0.05  # how often a push waiting for its user's lock tries again

# Compare-and-delete: a holder whose lock expired (and was taken by another push) must not release the new one.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class ConversationState:
    conversation: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: float = 0.0

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


class StateStore(Protocol):
    def get(self, openid: str) -> ConversationState | None: ...

    def set(self, openid: str, state: ConversationState) -> None: ...

    def clear(self, openid: str) -> None: ...

    def lock(self, openid: str) -> AbstractContextManager[None]: ...


def encode(state: ConversationState) -> str:
    """The stored form of a state (JSON)."""
    return json.dumps(
        {"conversation": state.conversation, "step": state.step, "data": state.data, "expires_at": state.expires_at},
        ensure_ascii=False,
    )


def decode(raw: str | None) -> ConversationState | None:
    """A state from its stored form; None for a missing key."""
    if not raw:
        return None
    data = json.loads(raw)
    return ConversationState(data["conversation"], data["step"], data.get("data") or {}, float(data["expires_at"]))


def ttl_seconds(state: ConversationState) -> int:
    """How long Redis keeps a state: until it expires, plus a grace day to tell the user it timed out."""
    return max(1, int(state.expires_at - time.time())) + GRACE_SECONDS


def lock_token() -> str:
    return secrets.token_hex(16)


class RedisStateStore:
    def __init__(self, client: redis.Redis, lock_timeout: float = 30, lock_wait: float = 20) -> None:
        self.client = client
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_wait
        self.lock_timeout_ms = max(1, int(lock_timeout * 1000))
        self._unlock = client.register_script(UNLOCK)

    @staticmethod
    def state_key(openid: str) -> str:
        return f"xy:conv:{openid}"

    @staticmethod
    def lock_key(openid: str) -> str:
        return f"xy:lock:user:{openid}"

    def get(self, openid: str) -> ConversationState | None:
        raw = self.client.get(self.state_key(openid))
        return decode(str(raw) if raw else None)

    def set(self, openid: str, state: ConversationState) -> None:
        self.client.set(self.state_key(openid), encode(state), ex=ttl_seconds(state))

    def clear(self, openid: str) -> None:
        self.client.delete(self.state_key(openid))

    def acquire(self, openid: str, token: str) -> None:
        """Take the user's lock under ``token``, waiting up to ``lock_wait``; :class:`Busy` if it stays taken."""
        deadline = time.monotonic() + self.lock_wait
        key = self.lock_key(openid)
        while not self.client.set(key, token, nx=True, px=self.lock_timeout_ms):
            if time.monotonic() >= deadline:
                raise Busy("per-user lock not acquired in time")
            time.sleep(LOCK_POLL_SECONDS)

    def release(self, openid: str, token: str) -> None:
        """Release the lock if ``token`` still holds it. If it expired (``lock_timeout``) while we worked, another
        push may hold it now, which is fine: that one is left alone."""
        self._unlock(keys=[self.lock_key(openid)], args=[token])

    @contextmanager
    def lock(self, openid: str) -> Iterator[None]:
        token = lock_token()
        self.acquire(openid, token)
        try:
            yield
        finally:
            self.release(openid, token)


class MemoryStateStore:
    """The same contract in process memory, for unit tests of routing and conversations."""

    def __init__(self, lock_wait: float = 20) -> None:
        self._states: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.lock_wait = lock_wait

    def get(self, openid: str) -> ConversationState | None:
        raw = self._states.get(openid)
        return decode(raw)

    def set(self, openid: str, state: ConversationState) -> None:
        self._states[openid] = encode(state)

    def clear(self, openid: str) -> None:
        self._states.pop(openid, None)

    @contextmanager
    def lock(self, openid: str) -> Iterator[None]:
        with self._guard:
            user_lock = self._locks.setdefault(openid, threading.Lock())
        if not user_lock.acquire(timeout=self.lock_wait):
            raise Busy("per-user lock not acquired in time")
        try:
            yield
        finally:
            user_lock.release()
