"""A push's way into and out of Redis: two scripts, one round trip each, instead of five or six commands.

:meth:`PushGate.enter`, before any work, atomically: claim the push (``SET NX`` on its dedupe key); only if that
succeeded, take the user's lock (``SET NX PX`` with a fresh token); only if that succeeded, read the conversation
state. A retry learns in the same round trip that the push is taken, and what was answered if that is known. If
the lock is taken (another push of the same user is being answered), the claim still holds and the caller waits
for the lock with :meth:`PushGate.lock`, which reads the state only once it holds the lock.

:meth:`PushGate.leave`, after the database has committed the push: open the user's customer-service window (the
write ``wechat.limits.CustomerServiceTracker`` defines: the messages the push queued go out through it), write or
clear the conversation state, release the lock if this push still owns it (compare-and-delete: a lock that expired
and was taken by another push is left alone), and remember the answer for retries.

The gate owns the push's Redis: the claim (``bot/dedupe.py``) and the Redis conversation store (``bot/state.py``),
built here over one client, so the scripts and the slow paths can never look at different servers. The scripts
batch those two modules' operations on the same keys (``core/redis_keys.py``), with the same token scheme and TTLs.
They are registered once and sent by EVALSHA (redis-py reloads one that Redis has forgotten, e.g. after a restart).
Nothing outside the gate needs the concrete store: callers see :class:`bot.state.StateStore` through ``states``.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.dedupe import PENDING, PushDedupe
from bot.state import ConversationState, RedisStateStore, StateStore, decode, encode, lock_token, ttl_seconds
from core import redis_keys
from wechat.limits import HashWrite

# KEYS: claim, lock, state. ARGV: pending marker, claim TTL (s), lock token, lock TTL (ms).
# Returns {0, remembered} for a push already claimed, {1, 0} when the lock is taken, {1, 1, state} otherwise.
ENTER = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1])}
end
if not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {1, 0}
end
return {1, 1, redis.call('GET', KEYS[3])}
"""

# KEYS: lock, state, claim[, customer-service window]. ARGV: lock token, state action (keep|set|clear), state JSON,
# state TTL (s), answer, claim TTL (s), window TTL (s), then the window's field/value pairs. The state is written while
# the lock is still held; then the lock goes, if it is still ours.
LEAVE = """
if KEYS[4] then
  redis.call('HSET', KEYS[4], unpack(ARGV, 8))
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
if ARGV[2] == 'set' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
elseif ARGV[2] == 'clear' then
  redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[6])
return 1
"""


@dataclass(frozen=True)
class Entry:
    """What :meth:`PushGate.enter` found. ``claimed`` False: a retry, with the first delivery's ``remembered``
    answer (``PENDING`` while it works). ``locked`` False: claimed, but the user's lock must still be waited for."""

    claimed: bool
    token: str
    locked: bool = False
    state: ConversationState | None = None
    remembered: str | None = None


class PushGate:
    def __init__(self, client: redis.Redis, *, claim_ttl: int, lock_timeout: float, lock_wait: float) -> None:
        self.dedupe = PushDedupe(client, claim_ttl)
        self._store = RedisStateStore(client, lock_timeout, lock_wait)
        self.states: StateStore = self._store
        self._lock_ttl_ms = self._store.lock_timeout_ms
        self._enter = client.register_script(ENTER)
        self._leave = client.register_script(LEAVE)

    def enter(self, dedupe_key: str, openid: str) -> Entry:
        token = lock_token()
        keys = [redis_keys.push(dedupe_key), redis_keys.user_lock(openid), redis_keys.conversation(openid)]
        found = self._enter(keys=keys, args=[PENDING, self.dedupe.ttl, token, self._lock_ttl_ms])
        if not int(found[0]):
            return Entry(claimed=False, token=token, remembered=None if found[1] is None else str(found[1]))
        if not int(found[1]):
            return Entry(claimed=True, token=token)
        raw = found[2] if len(found) > 2 else None
        return Entry(claimed=True, token=token, locked=True, state=decode(str(raw) if raw else None))

    def lock(self, openid: str, token: str) -> ConversationState | None:
        """Wait for the user's lock (:class:`core.errors.Busy` after ``lock_wait``), then read the state."""
        self.states.acquire(openid, token)
        return self.states.get(openid)

    def leave(
        self,
        dedupe_key: str,
        openid: str,
        token: str,
        *,
        answer: str,
        changed: bool = False,
        state: ConversationState | None = None,
        window: HashWrite | None = None,
    ) -> None:
        """Open the customer-service ``window`` if given; if the state ``changed``, write ``state`` (or clear it, for
        None); release the lock if ``token`` holds it; remember ``answer`` (the reply's JSON, or ``""`` for
        ``success``) for retries."""
        action = ("set" if state is not None else "clear") if changed else "keep"
        keys = [redis_keys.user_lock(openid), redis_keys.conversation(openid), redis_keys.push(dedupe_key)]
        args: list[str | int] = [
            token,
            action,
            encode(state) if action == "set" and state is not None else "",
            ttl_seconds(state) if action == "set" and state is not None else 0,
            answer,
            self.dedupe.ttl,
        ]
        if window is not None:
            keys.append(window.key)
            args.append(window.ttl_seconds)
            args += [item for pair in window.fields.items() for item in pair]
        self._leave(keys=keys, args=args)
