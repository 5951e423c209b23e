"""Builds the official-account and mini-program gateways from settings: one token store, limiter and client each.

Every entry point gets its gateway here: the web app and the scheduler hold a :class:`LazyGateway` (one per process,
built on first use), a one-shot CLI command calls :func:`build_gateway`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import redis
import requests
from flask import current_app

from core.app import GATEWAY_EXTENSION
from core.settings import Settings
from wechat.client import GatewayClient, fetch_token
from wechat.limits import CustomerServiceTracker, RateLimiter
from wechat.miniprogram import MiniProgram
from wechat.official_account import OfficialAccount
from wechat.tokens import TokenStore


@dataclass(frozen=True)
class Gateway:
    official: OfficialAccount
    miniprogram: MiniProgram


def _client(settings: Settings, cache: redis.Redis, appid: str, secret: str) -> GatewayClient:
    wc = settings.wechat
    stable = wc.token_mode == "stable"  # noqa: S105 - a mode, not a secret
    fetch = fetch_token(
        requests.Session(), wc.api_base_url, appid, secret, stable=stable, timeout=wc.request_timeout_seconds
    )
    tokens = TokenStore(cache, appid, fetch, margin=wc.token_refresh_margin_seconds, stable=stable)
    return GatewayClient(
        appid,
        secret,
        base_url=wc.api_base_url,
        tokens=tokens,
        timeout=wc.request_timeout_seconds,
        transient_retries=wc.transient_retries,
    )


def build_gateway(settings: Settings, cache: redis.Redis) -> Gateway:
    oa, mp = settings.wechat, settings.miniprogram
    official = OfficialAccount(
        _client(settings, cache, oa.appid, oa.secret),
        RateLimiter(cache, oa.appid, settings.wechat_limits),
        CustomerServiceTracker(cache, oa.appid, settings.customer_service),
    )
    miniprogram = MiniProgram(
        _client(settings, cache, mp.appid, mp.secret), RateLimiter(cache, mp.appid, settings.wechat_limits)
    )
    return Gateway(official, miniprogram)


class LazyGateway:
    """One gateway per process, built on first use: a process that never calls WeChat never builds one (nor fetches
    a token). Safe to call from any thread; after the first call it is a plain attribute read."""

    def __init__(self, settings: Settings, cache: redis.Redis) -> None:
        self._settings = settings
        self._cache = cache
        self._built: Gateway | None = None
        self._guard = threading.Lock()

    def __call__(self) -> Gateway:
        built = self._built
        if built is None:
            with self._guard:
                if self._built is None:
                    self._built = build_gateway(self._settings, self._cache)
                built = self._built
        return built


def current_gateway() -> Gateway:
    """The gateway of the Flask app handling the current request (the composition root puts a :class:`LazyGateway`
    in its extensions). The one accessor every web edge uses: the mini-program API and the console."""
    lazy: LazyGateway = current_app.extensions[GATEWAY_EXTENSION]
    return lazy()
