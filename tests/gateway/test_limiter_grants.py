"""The rate limiter's grants against a real Redis: one round trip per grant, tokens taken ahead while prefetching
and handed back after, and the budget never exceeded across limiters (processes) sharing it."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from core import redis_keys
from core.errors import WeChatQuotaExhausted, WeChatRateLimited
from core.settings import Limit, WeChatLimits
from wechat.limits import RateLimiter


@pytest.fixture(autouse=True)
def _empty_redis(clean: None) -> None:
    """Every test starts with an empty Redis database (``clean``), so the day's counters start at 0."""


def _limits(per_minute: int, per_day: int) -> WeChatLimits:
    return WeChatLimits(template=Limit(per_minute=per_minute, per_day=per_day))


def _bucket_tokens(cache: redis.Redis, appid: str) -> float:
    return float(cache.hget(redis_keys.wechat_bucket(appid, "template"), "tokens") or 0)


def test_prefetched_tokens_are_counted_ahead_and_handed_back(cache: redis.Redis) -> None:
    limiter = RateLimiter(cache, "wx_grants", _limits(6000, 1000))
    with limiter.prefetching({"template": 25}):
        for _ in range(3):
            limiter.acquire("template")
        assert limiter.used_today("template") == 25  # one grant of 25, counted when granted
        assert 5975 - 1 <= _bucket_tokens(cache, "wx_grants") <= 5975 + 1
    assert limiter.used_today("template") == 3  # the 22 not used went back
    assert _bucket_tokens(cache, "wx_grants") >= 5997 - 1
    limiter.acquire("template")  # outside prefetching: one token a call
    assert limiter.used_today("template") == 4


def test_expired_tokens_go_back_at_the_next_grant(cache: redis.Redis) -> None:
    limiter = RateLimiter(cache, "wx_expiry", _limits(0, 1000), pool_seconds=0.05)
    with limiter.prefetching({"template": 10}):
        limiter.acquire("template")
        assert limiter.used_today("template") == 10
        time.sleep(0.1)  # past pool_seconds: the 9 left may not be used any more
        limiter.acquire("template")  # hands them back and takes a new grant of 10
        assert limiter.used_today("template") == 11
    assert limiter.used_today("template") == 2


def test_two_processes_never_exceed_the_daily_budget_together(cache: redis.Redis) -> None:
    limiters = [RateLimiter(cache, "wx_shared", _limits(0, 100)) for _ in range(2)]
    taken = [0, 0]
    refused = threading.Event()
    lock = threading.Lock()

    def spend(k: int) -> None:
        with limiters[k].prefetching({"template": 30}):
            while True:
                try:
                    limiters[k].acquire("template")
                except WeChatQuotaExhausted:
                    refused.set()
                    return
                with lock:
                    taken[k] += 1

    threads = [threading.Thread(target=spend, args=(k % 2,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert refused.is_set() and sum(taken) == 100
    assert limiters[0].used_today("template") == 100
    with pytest.raises(WeChatQuotaExhausted, match="paused"):
        limiters[1].acquire("template")  # the family is paused for both


def test_alternating_processes_share_the_budget_exactly(cache: redis.Redis) -> None:
    a, b = (RateLimiter(cache, "wx_alternate", _limits(0, 100)) for _ in range(2))
    taken = {"a": 0, "b": 0}
    with a.prefetching({"template": 30}), b.prefetching({"template": 30}):
        for _ in range(100):
            for name, limiter in (("a", a), ("b", b)):
                try:
                    limiter.acquire("template")
                    taken[name] += 1
                except WeChatQuotaExhausted:
                    pass
    # Grants of 30: a 30, b 30, a 30, then b only the 10 left; each spends what it was granted: 100 in all, never
    # more, and none lost (a pause from b's refusal does not take back what a holds).
    assert taken == {"a": 60, "b": 40}
    assert a.used_today("template") == 100


def test_the_bucket_grants_only_what_it_holds(cache: redis.Redis) -> None:
    a, b = (RateLimiter(cache, "wx_bucket", _limits(60, 0)) for _ in range(2))
    granted = 0
    started = time.monotonic()
    with a.prefetching({"template": 50}), b.prefetching({"template": 50}):
        for limiter in (a, b) * 60:
            try:
                limiter.acquire("template")
                granted += 1
            except WeChatRateLimited:
                pass
    # 60 a minute: the bucket starts full (60) and refills one a second; two limiters asking 50 at a time get 60
    # between them (plus one a second of the loop's time), never 100.
    assert 60 <= granted <= 60 + int(time.monotonic() - started) + 1


def test_a_pause_drops_the_tokens_held_ahead(cache: redis.Redis) -> None:
    limiter = RateLimiter(cache, "wx_pause", _limits(0, 1000))
    with limiter.prefetching({"template": 20}):
        limiter.acquire("template")
        limiter.pause("template")
        with pytest.raises(WeChatQuotaExhausted, match="paused"):
            limiter.acquire("template")
