"""Invite QR codes (scene class:<id>, made once at WeChat) and the reminder before a group QR expires."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.settings import Settings
from models import ClassCohort, OutboundMessage
from models.base import utcnow
from services import classes
from services.classes import groups, invites, liaisons
from services.databank import importer
from services.databank.keys import Keyring
from tests.classes.test_groups import WECHAT_LINK, qr_png
from tests.databank.conftest import row, write_csv
from tests.gateway.conftest import calls


@pytest.fixture
def cohort_id(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> int:
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", [row()]), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    classes.build(session)
    session.commit()
    return session.scalars(select(ClassCohort.id).where(ClassCohort.kind == "class")).one()


def test_scenes_name_a_cohort_and_nothing_else() -> None:
    assert invites.scene(12) == "class:12" and invites.cohort_in_scene("class:12") == 12
    for other in (None, "", "card", "class:", "class:12a", "class:-1", "klass:12", "class:" + "9" * 20):
        assert invites.cohort_in_scene(other) is None


def test_the_invite_qr_is_made_once_at_wechat(session, cohort_id, gateway, emulator) -> None:
    url = invites.invite_url(session, gateway.official, cohort_id)
    assert url.startswith("http") and invites.invite_url(session, gateway.official, cohort_id) == url
    assert calls(emulator, "/cgi-bin/qrcode/create") == 1
    with pytest.raises(NotFound):
        invites.invite_url(session, gateway.official, 999_999)


def test_liaisons_are_reminded_once_before_the_qr_expires(session, db_settings, keyring, cohort_id) -> None:
    now = utcnow()
    liaisons.appoint(
        session,
        keyring,
        cohort_id,
        name="王老师",
        role="primary",
        term_start=date(2026, 1, 1),
        openid="o_wang",
        actor="t",
    )
    liaisons.appoint(  # no WeChat identity: the console's list is how they learn
        session,
        keyring,
        cohort_id,
        name="Ms Smith",
        role="deputy",
        language="en",
        term_start=date(2026, 1, 1),
        actor="t",
    )
    groups.register(
        session,
        cohort_id,
        settings=db_settings.classes,
        platform="wechat",
        name="软件1501班",
        owner=None,
        qr=qr_png(WECHAT_LINK),
        expires_at=now + timedelta(days=5),
        member_count=None,
        actor="t",
        now=now,
    )
    assert invites.remind_expiring(session, days_before=2, now=now) == 0  # five days left: not yet
    three_days_on = now + timedelta(days=3, hours=12)
    assert invites.remind_expiring(session, days_before=2, now=three_days_on) == 1
    assert invites.remind_expiring(session, days_before=2, now=three_days_on) == 0  # once per registration
    queued = session.scalars(select(OutboundMessage)).all()
    assert [m.openid for m in queued] == ["o_wang"]
    assert "软件1501班" in queued[0].payload_json and "2 天后失效" in queued[0].payload_json
