"""Fixtures for the staff console: settings with keys, an app, staff accounts of any role, signed-in clients, and
a CSRF-aware form poster. Everything runs on the real test database and Redis."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from core.settings import Settings
from services import staff
from services.databank.keys import Keyring
from services.staff import sessions, totp
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS

PASSWORD = "correct horse battery"
CALL_FAILED = pytest.StashKey[bool]()  # set on each test item: did its call phase fail (browser tests screenshot)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def console_settings(settings_factory: Any) -> Settings:
    settings: Settings = settings_factory(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        admin={"failures_per_account": 3, "failures_per_ip": 8, "audit_page_size": 10},
    )
    return settings


@pytest.fixture
def console_app(make_app: Any, console_settings: Settings) -> Flask:
    app: Flask = make_app(console_settings)
    return app


@pytest.fixture
def keyring(console_settings: Settings) -> Keyring:
    return Keyring.from_settings(console_settings.privacy)


@pytest.fixture
def rds(console_app: Flask) -> redis.Redis:
    client: redis.Redis = console_app.extensions["xiaoyou"].redis
    return client


@dataclass
class Member:
    id: int
    username: str
    roles: tuple[str, ...]
    secret: str | None  # the TOTP secret, when enrolled

    def code(self, offset: int = 0) -> str:
        """The authenticator's code ``offset`` time steps from now."""
        assert self.secret is not None
        return pyotp.TOTP(self.secret).at(time.time(), counter_offset=offset)


@pytest.fixture
def make_member(console_app: Flask, keyring: Keyring) -> Any:
    """Create a staff account with ``roles``; enrolled (``secret`` known) unless ``enrolled=False``."""
    counter = iter(range(1, 10_000))

    def factory(*roles: str, username: str | None = None, enrolled: bool = True) -> Member:
        name = username or f"{roles[0].replace('_', '')}{next(counter)}"
        rt = console_app.extensions["xiaoyou"]
        with rt.db.session() as session:
            account = staff.create_account(
                session, username=name, display_name=f"测试{name}", password=PASSWORD, roles=roles, actor="test"
            )
            account_id = account.id
            secret = None
            if enrolled:
                secret = totp.enrolment_secret(session, keyring, account_id)
                # Confirm with the previous step's code (accepted: one step either side), so that the code of
                # "now" and of the next step stay unused for the test, whenever a step boundary falls.
                code = pyotp.TOTP(secret).at(time.time(), counter_offset=-1)
                assert totp.confirm_enrolment(session, rt.redis, keyring, account_id, code) is not None
        return Member(account_id, name, tuple(roles), secret)

    return factory


def sign_in(app: Flask, client: FlaskClient, member: Member) -> str:
    """Give ``client`` a full session of ``member`` (the login pages have their own tests); returns the token."""
    rt = app.extensions["xiaoyou"]
    token = sessions.start(rt.redis, rt.settings.admin, member.id, stage="full")
    client.set_cookie("xy_console", token, path="/admin")
    return token


def csrf_token(client: FlaskClient, page: str = "/admin/login") -> str:
    response = client.get(page)
    found = CSRF.search(response.get_data(as_text=True))
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None, *, page: str = "/admin/login") -> Any:
    """POST a console form the way a browser does: with the CSRF token of a page it just loaded."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client, page)})


@pytest.fixture
def signed_in(console_app: Flask, make_member: Any) -> Iterator[Any]:
    """A fresh client signed in as a new member with ``roles``: ``signed_in("admin") -> (client, member)``."""

    def factory(*roles: str) -> tuple[FlaskClient, Member]:
        client = console_app.test_client()
        member = make_member(*roles)
        sign_in(console_app, client, member)
        return client, member

    yield factory


def text(response: Any) -> str:
    body: str = response.get_data(as_text=True)
    return body


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember whether a test's call failed, for fixtures that keep evidence (the browser's screenshot)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
