"""Fixtures for the WeChat gateway: an emulator that knows our test accounts, and a gateway pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core.settings import Settings
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator
from tests.conftest import AES_KEY, APPID, TOKEN
from wechat.gateway import Gateway, build_gateway

MP_APPID = "wx_test_miniprogram"
MP_SECRET = "test-mp-secret"


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = RunningEmulator.start(
        EmulatorConfig(
            oa_appid=APPID,
            oa_secret="test-secret",
            mp_appid=MP_APPID,
            mp_secret=MP_SECRET,
            token=TOKEN,
            aes_key=AES_KEY,
        )
    )
    yield running
    running.stop()


@pytest.fixture
def gateway_settings(settings_factory: Any, emulator: RunningEmulator) -> Any:
    def make(**overrides: Any) -> Settings:
        wechat = {"api_base_url": emulator.url, "transient_retries": 1, **overrides.pop("wechat", {})}
        return settings_factory(wechat=wechat, miniprogram={"appid": MP_APPID, "secret": MP_SECRET}, **overrides)

    return make


@pytest.fixture
def cache(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def gateway(gateway_settings: Any, cache: redis.Redis) -> Gateway:
    return build_gateway(gateway_settings(), cache)


def calls(emulator: RunningEmulator, path: str) -> int:
    return int(emulator.calls().get(path, 0))
