"""The shared access token: one fetch for everyone, refresh before expiry, compare-and-delete, one retry only."""

from __future__ import annotations

import json
import multiprocessing
import time
from typing import Any

import pytest
import redis

from core.errors import WeChatAPIError
from emulator.testing import RunningEmulator
from tests.conftest import APPID
from tests.gateway.conftest import calls
from wechat.gateway import Gateway, build_gateway

TOKEN_KEY = f"xy:wechat:token:{APPID}"


def follower(emulator: RunningEmulator, openid: str = "o_token_user") -> str:
    emulator.add_followers(openid)
    return openid


def test_calls_share_one_token_and_fetch_it_once(gateway: Gateway, emulator: RunningEmulator) -> None:
    openid = follower(emulator)
    for _ in range(3):
        gateway.official.follower_infos([openid])
    assert calls(emulator, "/cgi-bin/token") == 1


def test_a_token_near_expiry_is_refreshed_before_it_fails(
    gateway: Gateway, emulator: RunningEmulator, cache: redis.Redis
) -> None:
    openid = follower(emulator)
    gateway.official.follower_infos([openid])
    entry = json.loads(cache.get(TOKEN_KEY) or "{}")
    entry["expires_at"] = time.time() + 100  # inside the 300 s refresh margin
    cache.set(TOKEN_KEY, json.dumps(entry))
    gateway.official.follower_infos([openid])
    assert calls(emulator, "/cgi-bin/token") == 2
    assert json.loads(cache.get(TOKEN_KEY) or "{}")["token"] != entry["token"]


def test_an_expired_token_is_replaced_once_and_the_call_retried_once(
    gateway: Gateway, emulator: RunningEmulator
) -> None:
    openid = follower(emulator)
    gateway.official.follower_infos([openid])
    emulator.advance(7300)  # WeChat now answers 42001 for the cached token
    infos = gateway.official.follower_infos([openid])
    assert infos[0].openid == openid
    assert calls(emulator, "/cgi-bin/token") == 2
    assert calls(emulator, "/cgi-bin/user/info/batchget") == 3  # ok, refused, retried


def test_the_retry_is_never_recursive(gateway: Gateway, emulator: RunningEmulator) -> None:
    openid = follower(emulator)
    emulator.configure(token_lifetime_seconds=0)  # every token WeChat hands out is dead on arrival
    with pytest.raises(WeChatAPIError) as info:
        gateway.official.follower_infos([openid])
    assert info.value.errcode == 42001
    assert calls(emulator, "/cgi-bin/token") == 2  # the first token, and exactly one replacement
    assert calls(emulator, "/cgi-bin/user/info/batchget") == 2  # the call, and exactly one retry


def test_a_late_failure_does_not_throw_away_a_fresh_token(
    gateway: Gateway, emulator: RunningEmulator, cache: redis.Redis
) -> None:
    openid = follower(emulator)
    gateway.official.follower_infos([openid])
    old = json.loads(cache.get(TOKEN_KEY) or "{}")["token"]
    fresh = gateway.official.client.tokens.replace_failed(old)  # process A saw `old` fail and replaced it
    assert fresh != old
    assert gateway.official.client.tokens.replace_failed(old) == fresh  # process B reports the same old token late
    assert calls(emulator, "/cgi-bin/token") == 2


def _racer(settings_json: str, redis_url: str, barrier: Any, results: Any) -> None:
    from core.settings import Settings

    settings = Settings.model_validate_json(settings_json)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    official = build_gateway(settings, client).official
    barrier.wait()
    results.put(official.client.tokens.get())


def test_twenty_processes_finding_an_expired_token_fetch_it_once(
    gateway_settings: Any, emulator: RunningEmulator, cache: redis.Redis, redis_url: str
) -> None:
    settings = gateway_settings()
    cache.set(TOKEN_KEY, json.dumps({"token": "expired-token", "expires_at": time.time() - 1}))
    ctx = multiprocessing.get_context("fork")  # real processes; forked so that each does not re-import the app
    barrier, results = ctx.Barrier(20), ctx.Queue()
    procs = [
        ctx.Process(target=_racer, args=(settings.model_dump_json(), redis_url, barrier, results)) for _ in range(20)
    ]
    for p in procs:
        p.start()
    tokens = {results.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert calls(emulator, "/cgi-bin/token") == 1
    assert len(tokens) == 1 and "expired-token" not in tokens


def test_stable_token_mode_uses_stable_token_and_forces_only_after_a_failure(
    gateway_settings: Any, cache: redis.Redis, emulator: RunningEmulator
) -> None:
    openid = follower(emulator)
    gateway = build_gateway(gateway_settings(wechat={"token_mode": "stable"}), cache)
    gateway.official.follower_infos([openid])
    assert calls(emulator, "/cgi-bin/stable_token") == 1 and calls(emulator, "/cgi-bin/token") == 0
    stale = json.loads(cache.get(TOKEN_KEY) or "{}")["token"]
    fresh = gateway.official.client.tokens.replace_failed(stale)
    assert fresh != stale  # a normal stable_token call would have returned the same token: this one was forced
    # A second failure within 30 s may not force again (WeChat's limit); the store falls back to a plain fetch.
    assert gateway.official.client.tokens.replace_failed(fresh) == fresh
