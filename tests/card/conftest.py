"""Fixtures for the alumni card: the app with every key it needs, pointed at a live emulator; alumni in the
databank; mini-program users who log in through the emulator; a scanner credential."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.app import EXTENSION
from core.settings import Settings
from emulator.testing import RunningEmulator
from models import Person
from services import cards
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, ID_1, ID_2, row
from tests.gateway.conftest import MP_APPID, MP_SECRET, emulator  # noqa: F401 - the emulator fixture

CODE_KEYS = "c1:" + base64.b64encode(b"c" * 32).decode()
TEMPLATE = "tmpl_card_decision"


@pytest.fixture
def card_settings_factory(settings_factory: Any, emulator: RunningEmulator) -> Any:  # noqa: F811
    def make(**overrides: Any) -> Settings:
        card = {"code_keys": CODE_KEYS, "decision_template_id": TEMPLATE, **overrides.pop("card", {})}
        settings: Settings = settings_factory(
            wechat={"api_base_url": emulator.url, "transient_retries": 1},
            miniprogram={"appid": MP_APPID, "secret": MP_SECRET},
            privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
            verification={"min_response_seconds": 0, **overrides.pop("verification", {})},
            card=card,
            **overrides,
        )
        return settings

    return make


@pytest.fixture
def card_settings(card_settings_factory: Any) -> Settings:
    settings: Settings = card_settings_factory()
    return settings


@pytest.fixture
def card_app(make_app: Any, card_settings: Settings) -> Flask:
    app: Flask = make_app(card_settings)
    return app


@pytest.fixture
def api(card_app: Flask) -> FlaskClient:
    return card_app.test_client()


@pytest.fixture
def db(card_app: Flask) -> Any:
    return card_app.extensions[EXTENSION].db


@pytest.fixture
def alumni(db: Any, card_settings: Settings) -> dict[str, int]:
    """Three alumni: 张晓明 (ID_1, student 2015001), 李娜 (ID_2, 2015002), 王芳 (2015003, no ID number)."""
    rows = [
        row("张晓明", "2015001", 身份证号=ID_1, 班级="软件1501"),
        row("李娜", "2015002", 身份证号=ID_2, 班级="软件1501"),
        row("王芳", "2015003", 班级="软件1502"),
    ]
    with db.session() as session:
        importer.import_rows(
            session,
            HEADER,
            rows,
            keyring=Keyring.from_settings(card_settings.privacy),
            settings=card_settings.databank,
            actor="test",
            label="roster",
        )
    with db.session() as session:
        return {p.name: p.id for p in session.scalars(select(Person))}


# The claims that match: ID_1 ends in 002X; ID_2 in its own last four.
CLAIM_ZHANG = {"name": "张晓明", "student_no": "2015001", "id_last4": "002X"}
CLAIM_LI = {"name": "李娜", "student_no": "2015002", "id_last4": ID_2[-4:]}
CLAIM_WANG_UNMATCHED = {"name": "王芳", "student_no": "2015003", "id_last4": "1234"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the smallest "diploma photo"


@dataclass
class MpUser:
    """A mini-program user: logs in through the emulator, then calls the API with the session token."""

    api: FlaskClient
    emulator: RunningEmulator
    openid: str
    unionid: str | None
    token: str = ""

    def login(self) -> MpUser:
        code = self.emulator.login_code(self.openid, self.unionid)
        response = self.api.post("/api/v1/auth/login", json={"code": code})
        assert response.status_code == 200, response.json
        self.token = str(response.get_json()["token"])
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.api.get("/api/v1" + path, headers=self.headers, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.api.post("/api/v1" + path, headers=self.headers, **kw)


def ask_for_review(user: MpUser, claim: dict[str, Any]) -> int:
    """Apply with details the databank cannot confirm, then ask staff to review a diploma photo (the upload asks)."""
    applied = user.post("/card/applications", json=claim)
    assert applied.status_code == 201 and applied.json["status"] == "unconfirmed", applied.json
    app_id = int(applied.json["id"])
    png = user.post(f"/card/applications/{app_id}/evidence", data=PNG, content_type="application/octet-stream")
    assert png.status_code == 201 and png.json["media_type"] == "image/png"
    assert user.get(f"/card/applications/{app_id}").json["status"] == "review"
    return app_id


@pytest.fixture
def mp_user(api: FlaskClient, emulator: RunningEmulator) -> Any:  # noqa: F811
    def make(n: int = 1, *, unionid: bool = True) -> MpUser:
        return MpUser(api, emulator, f"o_mp_user_{n:04d}", f"u_union_{n:04d}" if unionid else None).login()

    return make


@pytest.fixture
def scanner(db: Any) -> Iterator[dict[str, str]]:
    with db.session() as session:
        _, credential = cards.create_scanner(session, label="图书馆东门", actor="staff")
    yield {"Authorization": f"Bearer {credential}"}


@pytest.fixture
def gateway_of(card_app: Flask) -> Any:
    """The app's own WeChat gateway (what the console would use to notify)."""
    return card_app.extensions["xiaoyou.gateway"]
