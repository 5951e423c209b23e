"""Fixtures for the emulator's tests: a real emulator HTTP server per test, a webhook, wechatpy clients.

Every test talks HTTP to an emulator served by werkzeug on 127.0.0.1 (port 0) in a background thread, as the app's
own tests will, so paths, methods and JSON shapes are exercised for real. The helpers live in ``emulator.testing``
so that test modules import them from a package rather than from this conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.testing import EmulatorWeChatClient, FakeWebhook, RunningEmulator
from emulator.wire import Account


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = RunningEmulator.start()
    running.freeze_clock()  # only advance() moves time, so boundaries can be hit to the second
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def oa_client(emulator: RunningEmulator) -> Iterator[EmulatorWeChatClient]:
    """wechatpy's client for the official account, pointed at the emulator."""
    cfg = emulator.config
    client = EmulatorWeChatClient(emulator.url, cfg.oa_appid, cfg.oa_secret)
    try:
        yield client
    finally:
        client._http.close()


@pytest.fixture
def mp_client(emulator: RunningEmulator) -> Iterator[EmulatorWeChatClient]:
    """wechatpy's client for the mini-program, pointed at the emulator."""
    cfg = emulator.config
    client = EmulatorWeChatClient(emulator.url, cfg.mp_appid, cfg.mp_secret)
    try:
        yield client
    finally:
        client._http.close()


@pytest.fixture
def webhook(emulator: RunningEmulator) -> Iterator[FakeWebhook]:
    """A webhook that verifies every push, registered as the emulator's webhook (safe mode, the default)."""
    cfg = emulator.config
    hook = FakeWebhook.start(Account(appid=cfg.oa_appid, token=cfg.token, aes_key=cfg.aes_key))
    emulator.configure(webhook_url=hook.url)
    try:
        yield hook
    finally:
        hook.stop()
