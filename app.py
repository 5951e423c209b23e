"""The composition root: builds the Flask app and hands each edge what it needs (routers, codec, gateway, messenger)
and registers the staff console (``admin.init_app``).

It sits above every layer, so ``bot/`` never imports ``handlers/`` and ``core/`` never imports an edge. Only the
entry points (``wsgi.py``, ``jobs/``, ``cli/``) and tests call :func:`create_app`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask

import admin
import handlers
import miniprogram_api
from bot import webhook
from bot.gate import PushGate
from bot.pipeline import Pipeline
from bot.protocol import PushCodec
from bot.router import Dispatcher, Router
from core.app import EXTENSION, GATEWAY_EXTENSION, build_app
from core.runtime import Runtime
from core.settings import Settings, load_settings
from services.associations import places
from services.follower_links import FollowLinker
from services.inquiries import matcher
from wechat.gateway import LazyGateway

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, routers: Sequence[Router] | None = None) -> Flask:
    settings = settings or load_settings()
    app = build_app(settings)
    rt: Runtime = app.extensions[EXTENSION]
    gateway = LazyGateway(settings, rt.redis)
    app.extensions[GATEWAY_EXTENSION] = gateway
    gate = PushGate(
        rt.redis,
        claim_ttl=settings.webhook.dedupe_ttl_seconds,
        lock_timeout=settings.conversation.lock_timeout_seconds,
        lock_wait=settings.conversation.lock_wait_seconds,
    )
    pipeline = Pipeline(
        settings=settings,
        db=rt.db,
        gate=gate,
        dispatcher=Dispatcher(handlers.ROUTERS if routers is None else routers),
        messenger=lambda: gateway().official,
        media=lambda: gateway().official,
        # write=True: on SQLite its short update queues with the pushes' transactions instead of making them sleep
        on_follow=FollowLinker(lambda: rt.db.session(write=True), rt.redis, lambda: gateway().official),
        on_message=handlers.ON_MESSAGE,
        redis_client=rt.redis,
    )
    app.extensions["xiaoyou.pipeline"] = pipeline
    app.register_blueprint(
        webhook.create_blueprint(PushCodec(settings.wechat, settings.webhook.max_body_bytes), pipeline)
    )
    app.register_blueprint(miniprogram_api.blueprint)
    admin.init_app(app, settings)
    return app


def warm_up(app: Flask) -> None:
    """Load what the first push would otherwise wait for: the place gazetteer (its arrays, a few megabytes:
    "上海校友会" and a shared location resolve through it) and the knowledge-base matcher (jieba and the entries).
    A failure (the database not migrated yet) is logged; the first free-text push then loads it."""
    places.warm()
    rt: Runtime = app.extensions[EXTENSION]
    try:
        with rt.db.session() as session:
            entries = matcher.preload(session, rt.redis)
    except Exception:
        log.exception("could not preload the knowledge-base matcher; the first chat question will load it")
        return
    log.info("knowledge-base matcher ready: %d entries", entries)
