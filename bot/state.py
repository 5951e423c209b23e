"""Conversation state per user, behind one interface with two stores: Redis (production) and memory (unit tests).

Keys and TTLs (Redis):
- ``xy:conv:{openid}``: JSON ``{"conversation", "step", "data", "expires_at"}``; TTL = conversation timeout + 1 day,
  so an expired conversation can still be recognised and the user told how to start again.
- ``xy:lock:user:{openid}``: the per-user lock, taken *before* the state is read so that two pushes from one user
  cannot both read the same state and both advance it (aiogram's FSM storage makes the same point).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from core.errors import Busy

GRACE_SECONDS = 86400


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


def _encode(state: ConversationState) -> str:
    return json.dumps(
        {"conversation": state.conversation, "step": state.step, "data": state.data, "expires_at": state.expires_at},
        ensure_ascii=False,
    )


def _decode(raw: str) -> ConversationState:
    data = json.loads(raw)
    return ConversationState(data["conversation"], data["step"], data.get("data") or {}, float(data["expires_at"]))


class RedisStateStore:
    def __init__(self, client: redis.Redis, lock_timeout: float = 30, lock_wait: float = 20) -> None:
        self.client = client
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_wait

    @staticmethod
    def state_key(openid: str) -> str:
        return f"xy:conv:{openid}"

    @staticmethod
    def lock_key(openid: str) -> str:
        return f"xy:lock:user:{openid}"

    def get(self, openid: str) -> ConversationState | None:
        raw = self.client.get(self.state_key(openid))
        return _decode(str(raw)) if raw else None

    def set(self, openid: str, state: ConversationState) -> None:
        ttl = max(1, int(state.expires_at - time.time())) + GRACE_SECONDS
        self.client.set(self.state_key(openid), _encode(state), ex=ttl)

    def clear(self, openid: str) -> None:
        self.client.delete(self.state_key(openid))

    @contextmanager
    def lock(self, openid: str) -> Iterator[None]:
        lock = self.client.lock(self.lock_key(openid), timeout=self.lock_timeout, blocking_timeout=self.lock_wait)
        if not lock.acquire():
            raise Busy("per-user lock not acquired in time")
        try:
            yield
        finally:
            # If it expired (lock_timeout) while we worked, another push may hold it now, which is fine.
            with suppress(redis.exceptions.LockError):
                lock.release()


class MemoryStateStore:
    """The same contract in process memory, for unit tests of routing and conversations."""

    def __init__(self, lock_wait: float = 20) -> None:
        self._states: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.lock_wait = lock_wait

    def get(self, openid: str) -> ConversationState | None:
        raw = self._states.get(openid)
        return _decode(raw) if raw else None

    def set(self, openid: str, state: ConversationState) -> None:
        self._states[openid] = _encode(state)

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
