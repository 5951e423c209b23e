"""The composition root: builds the Flask app and hands each edge what it needs (routers, codec, messenger).

It sits above every layer, so ``bot/`` never imports ``handlers/`` and ``core/`` never imports an edge. Only the
entry points (``wsgi.py``, ``jobs/``, ``cli/``) and tests call :func:`create_app`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from flask import Flask

import handlers
import miniprogram_api
from bot import webhook
from bot.dedupe import PushDedupe
from bot.pipeline import Pipeline
from bot.protocol import PushCodec
from bot.router import Dispatcher, Router
from bot.state import RedisStateStore
from core.app import EXTENSION, build_app
from core.runtime import Runtime
from core.settings import Settings, load_settings
from wechat.gateway import Gateway, build_gateway


def lazy_gateway(rt: Runtime) -> Callable[[], Gateway]:
    """One WeChat gateway per process, built on first use (an app that never calls WeChat never builds one)."""
    made: list[Gateway] = []
    guard = threading.Lock()

    def get() -> Gateway:
        with guard:
            if not made:
                made.append(build_gateway(rt.settings, rt.redis))
            return made[0]

    return get


def create_app(settings: Settings | None = None, *, routers: Sequence[Router] | None = None) -> Flask:
    settings = settings or load_settings()
    app = build_app(settings)
    rt: Runtime = app.extensions[EXTENSION]
    gateway = lazy_gateway(rt)
    app.extensions["xiaoyou.gateway"] = gateway
    pipeline = Pipeline(
        settings=settings,
        db=rt.db,
        dedupe=PushDedupe(rt.redis, settings.webhook.dedupe_ttl_seconds),
        states=RedisStateStore(
            rt.redis, settings.conversation.lock_timeout_seconds, settings.conversation.lock_wait_seconds
        ),
        dispatcher=Dispatcher(handlers.ROUTERS if routers is None else routers),
        messenger=lambda: gateway().official,
    )
    app.extensions["xiaoyou.pipeline"] = pipeline
    app.register_blueprint(
        webhook.create_blueprint(PushCodec(settings.wechat, settings.webhook.max_body_bytes), pipeline)
    )
    app.register_blueprint(miniprogram_api.create_blueprint(gateway))
    return app
