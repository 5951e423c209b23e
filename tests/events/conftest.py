"""Fixtures for events: the databank's (settings with keys, a session, a small roster of people), the gateway's (the
WeChat emulator), and helpers that make a published event and bind WeChat identities to people."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from models import Event, Person, WeChatIdentity, utcnow
from models.person import MP_OPENID, OA_OPENID
from services.databank import importer
from services.databank.keys import Keyring
from services.events import catalog
from tests.databank.conftest import db, db_settings, keyring, row, session, write_csv
from tests.gateway.conftest import cache, emulator, gateway, gateway_settings

__all__ = ["cache", "db", "db_settings", "emulator", "gateway", "gateway_settings", "keyring", "session"]

ROSTER = [
    row("张伟", "2015001", 学院="计算机学院", 专业="软件工程", 班级="软件1501"),
    row("李娜", "2015002", 学院="计算机学院", 专业="软件工程", 班级="软件1502"),
    row("赵强", "2015004", 学院="法学院", 专业="法学", 班级="法学1501"),
]


@pytest.fixture
def people(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> dict[str, int]:
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", ROSTER), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    session.commit()
    return {p.name: p.id for p in session.scalars(select(Person))}


def bind(session: Session, person_id: int, *, oa: str | None = None, mp: str | None = None) -> None:
    """Bind WeChat identities to a person, as the card application's verification does."""
    for kind, value in ((OA_OPENID, oa), (MP_OPENID, mp)):
        if value:
            session.add(WeChatIdentity(person_id=person_id, kind=kind, value=value))
    session.flush()


def make_event(
    session: Session,
    *,
    publish: bool = True,
    starts_in: timedelta = timedelta(days=7),
    now: datetime | None = None,
    **fields: Any,
) -> Event:
    now = now or utcnow()
    fields.setdefault("title", "2026 校友返校日")
    fields.setdefault("venue", "主校区礼堂")
    event = catalog.create_event(
        session,
        actor="staff:test",
        association_id=fields.pop("association_id", None),
        starts_at=now + starts_in,
        now=now,
        **fields,
    )
    if publish:
        catalog.publish(session, event.id, actor="staff:test", now=now)
    session.flush()
    return event
