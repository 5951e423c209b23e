"""Conversation state per user, behind one interface with two stores: Redis (production) and memory (unit tests).

In Redis (key names and lifetimes: ``core/redis_keys.py``): the state is JSON ``{"conversation", "step", "data",
"expires_at"}`` kept a grace day past its expiry, so an expired conversation can still be recognised and the user
told how to start again. The per-user lock is taken *before* the state is read, so that two pushes from one user
cannot both read the same state and both advance it (aiogram's FSM storage makes the same point). Its value is a
random token; only the holder of the token releases it (compare-and-delete), and it expires after ``lock_timeout``
so a crashed worker cannot hold it for ever.

The webhook takes the lock and reads the state in the same round trip as its claim on the push (``bot/gate.py``),
with these keys, this token scheme and these TTLs; :meth:`RedisStateStore.lock` is the same lock for any other
caller (and what the contract tests exercise, over both stores).
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

from core import redis_keys
from core.errors import Busy

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

    def acquire(self, openid: str, token: str) -> None:
        """Take the user's lock under ``token``, waiting up to the store's ``lock_wait``; ``Busy`` if it stays
        taken."""
        ...

    def release(self, openid: str, token: str) -> None:
        """Release the user's lock if ``token`` still holds it (a lock that passed to another holder stays)."""
        ...

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
    return max(1, int(state.expires_at - time.time())) + redis_keys.CONVERSATION_GRACE


def lock_token() -> str:
    return secrets.token_hex(16)


@contextmanager
def holding(store: StateStore, openid: str) -> Iterator[None]:
    """The user's lock under a fresh token for the duration of a ``with`` block (both stores' ``lock``)."""
    token = lock_token()
    store.acquire(openid, token)
    try:
        yield
    finally:
        store.release(openid, token)


class RedisStateStore:
    def __init__(self, client: redis.Redis, lock_timeout: float = 30, lock_wait: float = 20) -> None:
        self.client = client
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_wait
        self.lock_timeout_ms = max(1, int(lock_timeout * 1000))
        self._unlock = client.register_script(UNLOCK)

    def get(self, openid: str) -> ConversationState | None:
        raw = self.client.get(redis_keys.conversation(openid))
        return decode(str(raw) if raw else None)

    def set(self, openid: str, state: ConversationState) -> None:
        self.client.set(redis_keys.conversation(openid), encode(state), ex=ttl_seconds(state))

    def clear(self, openid: str) -> None:
        self.client.delete(redis_keys.conversation(openid))

    def acquire(self, openid: str, token: str) -> None:
        """Take the user's lock under ``token``, waiting up to ``lock_wait``; :class:`Busy` if it stays taken."""
        deadline = time.monotonic() + self.lock_wait
        key = redis_keys.user_lock(openid)
        while not self.client.set(key, token, nx=True, px=self.lock_timeout_ms):
            if time.monotonic() >= deadline:
                raise Busy("per-user lock not acquired in time")
            time.sleep(LOCK_POLL_SECONDS)

    def release(self, openid: str, token: str) -> None:
        """Release the lock if ``token`` still holds it. If it expired (``lock_timeout``) while we worked, another
        push may hold it now, which is fine: that one is left alone."""
        self._unlock(keys=[redis_keys.user_lock(openid)], args=[token])

    def lock(self, openid: str) -> AbstractContextManager[None]:
        return holding(self, openid)


class MemoryStateStore:
    """The same contract in process memory, for unit tests of routing and conversations."""

    def __init__(self, lock_wait: float = 20) -> None:
        self._states: dict[str, str] = {}
        self._holders: dict[str, str] = {}  # openid -> the token holding its lock
        self._changed = threading.Condition()
        self.lock_wait = lock_wait

    def get(self, openid: str) -> ConversationState | None:
        raw = self._states.get(openid)
        return decode(raw)

    def set(self, openid: str, state: ConversationState) -> None:
        self._states[openid] = encode(state)

    def clear(self, openid: str) -> None:
        self._states.pop(openid, None)

    def acquire(self, openid: str, token: str) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: openid not in self._holders, timeout=self.lock_wait):
                raise Busy("per-user lock not acquired in time")
            self._holders[openid] = token

    def release(self, openid: str, token: str) -> None:
        with self._changed:
            if self._holders.get(openid) == token:
                del self._holders[openid]
                self._changed.notify_all()

    def lock(self, openid: str) -> AbstractContextManager[None]:
        return holding(self, openid)
