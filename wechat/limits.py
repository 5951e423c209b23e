"""Limits in front of every quota-bearing WeChat call: a token bucket per API family, a daily budget, a pause
after 45009, and the per-user customer-service window. Shared by every process through Redis.

Keys (``core/redis_keys.py``): a bucket and a per-(Beijing-)day counter per API family, a pause flag that expires at
the next Beijing midnight (when WeChat resets quotas), and the customer-service window per user. The point is that
the app never makes a call it knows will fail.

One Lua script (:data:`_GRANT`) checks the pause flag, refills and takes from the bucket and counts the day, in one
round trip. A bulk sender (``services.broadcasts.delivery``) asks for tokens ahead (:meth:`RateLimiter.prefetching`):
a grant of up to N tokens is taken from Redis at once and handed out locally, so N sends cost one round trip
instead of N. The guarantee holds across processes: every call spends a token Redis granted and counted (a grant
never exceeds what the bucket and the day have left), tokens are held at most ``pool_seconds`` (then, like the ones
left when prefetching ends, they go back to the bucket and the day's count), and a pause drops them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from core import redis_keys
from core.errors import CustomerServiceQuotaUsed, CustomerServiceWindowClosed, WeChatQuotaExhausted, WeChatRateLimited
from core.settings import CustomerServiceWindow, Limit, WeChatLimits

log = logging.getLogger(__name__)
BEIJING = 8 * 3600

# KEYS: bucket, day counter, pause flag. ARGV: per_minute, want, need, per_day, refund, refund_day, day counter TTL.
# First ``refund`` unused tokens go back (to the bucket, and ``refund_day`` of them to the day's count). Then, unless
# the family is paused ({-1, 0}) or the day cannot give ``need`` ({-2, 0}), grant up to ``want`` tokens if the bucket
# (refilled by elapsed time on Redis's clock, so every process agrees) has at least ``need``: {granted, 0}; else
# {0, seconds to wait for ``need``}. per_minute / per_day 0 means no bucket / no daily budget.
_GRANT = """
local per_minute, want, need = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local per_day, refund, refund_day = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if refund_day > 0 and per_day > 0 then
  local left = redis.call('DECRBY', KEYS[2], refund_day)
  if left < 0 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
end
local tokens, now, rate = 0, 0, per_minute / 60
if per_minute > 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
  tokens = tonumber(state[1]) or per_minute
  local ts = tonumber(state[2]) or now
  tokens = math.min(per_minute, tokens + math.max(0, now - ts) * rate + refund)
end
local function save()
  if per_minute > 0 then
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
    redis.call('EXPIRE', KEYS[1], 120)
  end
end
if redis.call('EXISTS', KEYS[3]) == 1 then save(); return {-1, '0'} end
local grant = want
if per_minute > 0 then
  if tokens < need then save(); return {0, tostring((need - tokens) / rate)} end
  grant = math.min(want, math.floor(tokens))
end
if per_day > 0 and grant > 0 then
  local left = per_day - tonumber(redis.call('GET', KEYS[2]) or '0')
  if left < need then save(); return {-2, '0'} end
  grant = math.min(grant, left)
  redis.call('INCRBY', KEYS[2], grant)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7]))
end
if per_minute > 0 then tokens = tokens - grant end
save()
return {grant, '0'}
"""


@dataclass
class _Pool:
    """Tokens granted ahead and not used yet: until ``expires`` (monotonic), counted on Beijing day ``day``."""

    tokens: int = 0
    expires: float = 0.0
    day: str = ""


# The customer-service window (WeChat's rule, mirrored): slots after a click/follow/scan are used first, then the
# slots after a user message. Returns 0 when a slot was taken, else the errcode WeChat would answer.
_CS_TAKE = """
local now = tonumber(ARGV[1])
local msg_window, msg_max = tonumber(ARGV[2]), tonumber(ARGV[3])
local evt_window, evt_max = tonumber(ARGV[4]), tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'msg_at', 'msg_used', 'evt_at', 'evt_used')
local msg_open = s[1] and now < tonumber(s[1]) + msg_window
local evt_open = s[3] and now < tonumber(s[3]) + evt_window
if not msg_open and not evt_open then return 45015 end
if evt_open and tonumber(s[4] or 0) < evt_max then redis.call('HINCRBY', KEYS[1], 'evt_used', 1); return 0 end
if msg_open and tonumber(s[2] or 0) < msg_max then redis.call('HINCRBY', KEYS[1], 'msg_used', 1); return 0 end
return 45047
"""


def seconds_to_beijing_midnight(now: float | None = None) -> int:
    local = (time.time() if now is None else now) + BEIJING
    return int(86400 - local % 86400) + 1


def beijing_day(now: float | None = None) -> str:
    return time.strftime("%Y%m%d", time.gmtime((time.time() if now is None else now) + BEIJING))


class RateLimiter:
    def __init__(self, client: redis.Redis, appid: str, limits: WeChatLimits, *, pool_seconds: float = 0.5) -> None:
        self.redis = client
        self.appid = appid
        self.limits = limits
        self.pool_seconds = pool_seconds
        self._grant = client.register_script(_GRANT)
        self._ahead: dict[str, int] = {}  # family -> tokens to ask for per grant (prefetching)
        self._pools: dict[str, _Pool] = {}
        self._guard = threading.Lock()

    def _limit(self, family: str) -> Limit:
        limit: Limit = getattr(self.limits, family)
        return limit

    def paused(self, family: str) -> bool:
        return bool(self.redis.exists(redis_keys.wechat_paused(self.appid, family)))

    def pause(self, family: str) -> None:
        """Stop calling this family until WeChat resets its quotas (00:00 Beijing time)."""
        ttl = seconds_to_beijing_midnight()
        with self._guard:
            self._pools.pop(family, None)  # tokens held ahead are not spent either
        self.redis.set(redis_keys.wechat_paused(self.appid, family), "45009", ex=ttl)
        log.warning("WeChat quota for %s exhausted: paused for %d s, until 00:00 Beijing time", family, ttl)

    def _take_local(self, family: str, cost: int) -> tuple[bool, int, int]:
        """Take ``cost`` tokens from the family's pool: ``(taken, refund, refund_day)``; an expired pool's tokens
        are handed back (to the bucket; to the day's count only on the day they were counted)."""
        with self._guard:
            pool = self._pools.get(family)
            if pool is None or pool.tokens == 0:
                return False, 0, 0
            if pool.tokens >= cost and time.monotonic() < pool.expires:
                pool.tokens -= cost
                return True, 0, 0
            refund = pool.tokens
            del self._pools[family]
            return False, refund, refund if pool.day == beijing_day() else 0

    def _keep(self, family: str, tokens: int, day: str) -> None:
        with self._guard:
            pool = self._pools.setdefault(family, _Pool(expires=time.monotonic() + self.pool_seconds, day=day))
            if pool.day != day:  # counted on another day: the older ones are simply not used (never over budget)
                pool.tokens, pool.day = 0, day
            pool.tokens += tokens  # the earlier expiry stands: no token is held longer than pool_seconds

    def _call_script(  # noqa: PLR0917 - private, the script's arguments
        self, family: str, limit: Limit, want: int, need: int, refund: int, refund_day: int, day: str
    ) -> tuple[int, float]:
        granted, wait = self._grant(
            keys=[
                redis_keys.wechat_bucket(self.appid, family),
                redis_keys.wechat_day_count(self.appid, family, day),
                redis_keys.wechat_paused(self.appid, family),
            ],
            args=[limit.per_minute, want, need, limit.per_day, refund, refund_day, redis_keys.DAY_COUNTER_TTL],
        )
        return int(granted), float(wait)

    def acquire(self, family: str, cost: int = 1, wait_seconds: float = 0.0) -> None:
        """Take ``cost`` calls of ``family``, waiting up to ``wait_seconds`` for the bucket; raise if not allowed.
        While prefetching, from tokens granted ahead when there are some (no round trip)."""
        taken, refund, refund_day = self._take_local(family, cost)
        if taken:
            return
        limit = self._limit(family)
        want = max(cost, self._ahead.get(family, 0))
        deadline = time.monotonic() + wait_seconds
        while True:
            day = beijing_day()
            granted, wait = self._call_script(family, limit, want, cost, refund, refund_day, day)
            refund = refund_day = 0
            if granted == -1:
                raise WeChatQuotaExhausted(45009, f"{family} paused until the daily quota resets")
            if granted == -2:
                self.pause(family)
                raise WeChatQuotaExhausted(45009, f"{family}: the daily budget of {limit.per_day} is used")
            if granted >= cost:
                if granted > cost:
                    self._keep(family, granted - cost, day)
                return
            if time.monotonic() + wait > deadline:
                raise WeChatRateLimited(45011, f"{family}: over {limit.per_minute} calls a minute")
            time.sleep(wait)

    def release(self, family: str) -> None:
        """Hand the family's unused tokens back (to the bucket and the day's count), in one round trip."""
        with self._guard:
            pool = self._pools.pop(family, None)
        if pool is not None and pool.tokens:
            day = beijing_day()
            refund_day = pool.tokens if pool.day == day else 0
            self._call_script(family, self._limit(family), 0, 0, pool.tokens, refund_day, day)

    @contextmanager
    def prefetching(self, sizes: dict[str, int]) -> Iterator[None]:
        """Within the block, each grant of a family in ``sizes`` asks for up to that many tokens (at least the
        call's cost), served locally after; at the end the unused ones go back."""
        before = dict(self._ahead)
        self._ahead.update({family: n for family, n in sizes.items() if n > 1})
        try:
            yield
        finally:
            self._ahead = before
            for family in sizes:
                self.release(family)

    def used_today(self, family: str) -> int:
        return int(self.redis.get(redis_keys.wechat_day_count(self.appid, family, beijing_day())) or 0)


@dataclass(frozen=True)
class HashWrite:
    """Fields to set on a Redis hash and its new TTL: what :meth:`CustomerServiceTracker.record` writes, handed to a
    caller that sends it in a script of its own (the webhook's ``bot.gate.PushGate.leave``: one round trip fewer on
    every push)."""

    key: str
    fields: dict[str, str]
    ttl_seconds: int


class CustomerServiceTracker:
    """Knows, per user, whether WeChat would accept a customer-service message now."""

    def __init__(self, client: redis.Redis, appid: str, rules: CustomerServiceWindow) -> None:
        self.redis = client
        self.appid = appid
        self.rules = rules
        self._take = client.register_script(_CS_TAKE)

    def key(self, openid: str) -> str:
        return redis_keys.wechat_cs_window(self.appid, openid)

    def interaction(self, openid: str, kind: str, at: float | None = None) -> HashWrite:
        """What :meth:`record` writes, without writing it. ``kind`` is ``message`` (a user message: opens the 48-hour
        window) or ``event`` (click, follow, scan)."""
        now = time.time() if at is None else at
        field = "msg" if kind == "message" else "evt"
        fields = {f"{field}_at": str(now), f"{field}_used": "0"}
        return HashWrite(self.key(openid), fields, self.rules.message_window_seconds + 3600)

    def record(self, openid: str, kind: str, at: float | None = None) -> None:
        """The user interacted (:meth:`interaction`): their window opens, in one round trip."""
        write = self.interaction(openid, kind, at)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(write.key, items=[item for pair in write.fields.items() for item in pair])
        pipe.expire(write.key, write.ttl_seconds)
        pipe.execute()

    def take(self, openid: str) -> None:
        """Use one message of the user's allowance, or raise what WeChat would answer (45015 / 45047)."""
        r = self.rules
        code = int(
            self._take(
                keys=[self.key(openid)],
                args=[
                    time.time(),
                    r.message_window_seconds,
                    r.messages_per_user_message,
                    r.event_window_seconds,
                    r.messages_per_event,
                ],
            )
        )
        if code == 45015:
            raise CustomerServiceWindowClosed(45015, "the user has not interacted recently")
        if code == 45047:
            raise CustomerServiceQuotaUsed(45047, "the user's customer-service allowance is used up")
