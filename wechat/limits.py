"""Limits in front of every quota-bearing WeChat call: a token bucket per API family, a daily budget, a pause
after 45009, and the per-user customer-service window. Shared by every process through Redis.

Keys (``core/redis_keys.py``): a bucket and a per-(Beijing-)day counter per API family, a pause flag that expires at
the next Beijing midnight (when WeChat resets quotas), and the customer-service window per user. The point is that
the app never makes a call it knows will fail.
"""

from __future__ import annotations

import logging
import time

import redis

from core import redis_keys
from core.errors import CustomerServiceQuotaUsed, CustomerServiceWindowClosed, WeChatQuotaExhausted, WeChatRateLimited
from core.settings import CustomerServiceWindow, Limit, WeChatLimits

log = logging.getLogger(__name__)
BEIJING = 8 * 3600

# Refill by elapsed time (Redis's clock, so every process agrees), take ``cost`` tokens if there are enough.
# Returns {1, 0} when taken, {0, seconds to wait} otherwise.
_BUCKET = """
local cap, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or cap
local ts = tonumber(state[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local taken, wait = 0, 0
if tokens >= cost then tokens = tokens - cost; taken = 1 else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return {taken, tostring(wait)}
"""

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
    def __init__(self, client: redis.Redis, appid: str, limits: WeChatLimits) -> None:
        self.redis = client
        self.appid = appid
        self.limits = limits
        self._bucket = client.register_script(_BUCKET)

    def _limit(self, family: str) -> Limit:
        limit: Limit = getattr(self.limits, family)
        return limit

    def paused(self, family: str) -> bool:
        return bool(self.redis.exists(redis_keys.wechat_paused(self.appid, family)))

    def pause(self, family: str) -> None:
        """Stop calling this family until WeChat resets its quotas (00:00 Beijing time)."""
        ttl = seconds_to_beijing_midnight()
        self.redis.set(redis_keys.wechat_paused(self.appid, family), "45009", ex=ttl)
        log.warning("WeChat quota for %s exhausted: paused for %d s, until 00:00 Beijing time", family, ttl)

    def acquire(self, family: str, cost: int = 1, wait_seconds: float = 0.0) -> None:
        """Take ``cost`` calls of ``family``, waiting up to ``wait_seconds`` for the bucket; raise if not allowed."""
        if self.paused(family):
            raise WeChatQuotaExhausted(45009, f"{family} paused until the daily quota resets")
        limit = self._limit(family)
        if limit.per_minute:
            deadline = time.monotonic() + wait_seconds
            while True:
                taken, wait = self._bucket(
                    keys=[redis_keys.wechat_bucket(self.appid, family)],
                    args=[limit.per_minute, limit.per_minute / 60, cost],
                )
                if int(taken):
                    break
                if time.monotonic() + float(wait) > deadline:
                    raise WeChatRateLimited(45011, f"{family}: over {limit.per_minute} calls a minute")
                time.sleep(float(wait))
        if limit.per_day:
            key = redis_keys.wechat_day_count(self.appid, family, beijing_day())
            used = int(self.redis.incrby(key, cost))
            self.redis.expire(key, redis_keys.DAY_COUNTER_TTL)
            if used > limit.per_day:
                self.redis.decrby(key, cost)
                self.pause(family)
                raise WeChatQuotaExhausted(45009, f"{family}: the daily budget of {limit.per_day} is used")

    def used_today(self, family: str) -> int:
        return int(self.redis.get(redis_keys.wechat_day_count(self.appid, family, beijing_day())) or 0)


class CustomerServiceTracker:
    """Knows, per user, whether WeChat would accept a customer-service message now."""

    def __init__(self, client: redis.Redis, appid: str, rules: CustomerServiceWindow) -> None:
        self.redis = client
        self.appid = appid
        self.rules = rules
        self._take = client.register_script(_CS_TAKE)

    def key(self, openid: str) -> str:
        return redis_keys.wechat_cs_window(self.appid, openid)

    def record(self, openid: str, kind: str, at: float | None = None) -> None:
        """``kind`` is ``message`` (a user message: opens the 48-hour window) or ``event`` (click, follow, scan)."""
        now = time.time() if at is None else at
        field = "msg" if kind == "message" else "evt"
        key = self.key(openid)
        pipe = self.redis.pipeline(transaction=False)  # one round trip: this runs on every push
        pipe.hset(key, mapping={f"{field}_at": str(now), f"{field}_used": 0})
        pipe.expire(key, self.rules.message_window_seconds + 3600)
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
