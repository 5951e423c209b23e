"""The first line of defence against WeChat's retries: claim each push once in Redis, remember its reply.

Its key (``core/redis_keys.py``) holds ``"pending"`` while the first delivery works, then the reply JSON (or ``""``
for a push answered with ``success``), for ``webhook.dedupe_ttl_seconds``. The database's unique inbound log is the
second line (see ``services/inbound.py``), so losing Redis can never make a push act twice.

The claim (``SET NX`` of ``PENDING``) and the remembered reply are written by ``bot/gate.py``, in the same round
trips as the user's lock and state; this module owns the marker and the slow paths.
"""

from __future__ import annotations

import time

import redis

from core import redis_keys

PENDING = "pending"


class PushDedupe:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.client = client
        self.ttl = ttl_seconds

    def release(self, dedupe_key: str) -> None:
        """Give the claim back (the push was not processed at all, e.g. the user lock was busy)."""
        self.client.delete(redis_keys.push(dedupe_key))

    def wait_for_reply(self, dedupe_key: str, timeout: float, poll: float = 0.05) -> str | None:
        """The remembered reply of the first delivery, waiting up to ``timeout`` while it is still pending.

        Returns None if it is still pending at the deadline or was never claimed here (e.g. Redis was flushed).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.client.get(redis_keys.push(dedupe_key))
            if value is None:
                return None
            if value != PENDING:
                return str(value)
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll)
