"""Registering a class group: the join QR image is checked (size, image, one QR, a group link), expiry, history."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import segno
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationFailed
from core.settings import Settings
from models import ClassCohort, ClassGroup
from models.base import utcnow
from services import classes
from services.classes import groups
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import row, write_csv
from tests.gateway.conftest import calls

WECHAT_LINK = "https://weixin.qq.com/g/AwYAAF0eKxMabc123"


def qr_png(content: str, scale: int = 6) -> bytes:
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def as_jpeg(png: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def side_by_side(*pngs: bytes) -> bytes:
    images = [Image.open(io.BytesIO(p)).convert("L") for p in pngs]
    sheet = Image.new("L", (sum(i.width for i in images) + 40, max(i.height for i in images)), 255)
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + 40
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def cohort_id(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> int:
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", [row()]), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    classes.build(session)
    session.commit()
    return session.scalars(select(ClassCohort.id).where(ClassCohort.kind == "class")).one()


def _register(session: Session, settings: Settings, cohort_id: int, qr: bytes, **kwargs: Any) -> ClassGroup:
    values: dict[str, Any] = {
        "platform": "wechat",
        "name": "软件1501班",
        "owner": "张晓明",
        "expires_at": None,
        "member_count": 31,
        "actor": "liaison:zhang",
    } | kwargs
    return groups.register(session, cohort_id, settings=settings.classes, qr=qr, **values)


def test_a_wechat_group_qr_is_read_and_expires_in_seven_days(session, db_settings, cohort_id) -> None:
    before = utcnow()
    group = _register(session, db_settings, cohort_id, qr_png(WECHAT_LINK))
    assert (group.qr_link, group.qr_media_type, group.member_count) == (WECHAT_LINK, "image/png", 31)
    assert group.qr_expires_at is not None
    assert before + timedelta(days=7) <= group.qr_expires_at <= utcnow() + timedelta(days=7)
    assert groups.current(session, cohort_id) is group and groups.usable_qr(group)
    assert not groups.usable_qr(group, now=group.qr_expires_at)


def test_a_photo_in_jpeg_and_a_qq_group_without_expiry(session, db_settings, cohort_id) -> None:
    group = _register(session, db_settings, cohort_id, as_jpeg(qr_png(WECHAT_LINK)))
    assert group.qr_media_type == "image/jpeg" and group.qr_link == WECHAT_LINK
    qq = _register(session, db_settings, cohort_id, qr_png("https://qm.qq.com/q/AbCdEf"), platform="qq")
    assert qq.qr_expires_at is None and groups.usable_qr(qq)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (qr_png("https://example.com/phishing"), "不是微信群的入群二维码"),
        (qr_png("https://qm.qq.com/q/AbCdEf"), "不是微信群的入群二维码"),  # a QQ link registered as a WeChat group
        (side_by_side(qr_png(WECHAT_LINK), qr_png("https://weixin.qq.com/g/Other")), "不止一个二维码"),
        (qr_png(WECHAT_LINK)[:300], "无法读取"),  # a truncated upload
        (b"MZ\x90\x00 this is not an image", "无法读取"),
        (b"", "请上传群二维码图片"),
    ],
)
def test_anything_but_one_group_qr_is_refused_with_its_reason(session, db_settings, cohort_id, content, message):
    with pytest.raises(ValidationFailed) as refused:
        _register(session, db_settings, cohort_id, content)
    assert message in refused.value.user_message
    assert groups.current(session, cohort_id) is None  # nothing stored


def test_an_image_without_a_qr_and_an_oversized_one(session, db_settings, cohort_id) -> None:
    blank = io.BytesIO()
    Image.new("L", (300, 300), 255).save(blank, format="PNG")
    with pytest.raises(ValidationFailed, match="no_qr"):
        _register(session, db_settings, cohort_id, blank.getvalue())
    big = qr_png(WECHAT_LINK) + b"\0" * db_settings.classes.qr_max_bytes
    with pytest.raises(ValidationFailed) as refused:
        _register(session, db_settings, cohort_id, big)
    assert "不能超过 2 MB" in refused.value.user_message


def test_expiry_must_lie_within_seven_days(session, db_settings, cohort_id) -> None:
    with pytest.raises(ValidationFailed, match="expiry"):
        _register(session, db_settings, cohort_id, qr_png(WECHAT_LINK), expires_at=utcnow() + timedelta(days=8))
    with pytest.raises(ValidationFailed, match="expiry"):
        _register(session, db_settings, cohort_id, qr_png(WECHAT_LINK), expires_at=utcnow() - timedelta(minutes=1))
    sooner = utcnow() + timedelta(days=2)
    assert _register(session, db_settings, cohort_id, qr_png(WECHAT_LINK), expires_at=sooner).qr_expires_at == sooner


def test_a_new_registration_keeps_the_old_one_as_history(session, db_settings, cohort_id) -> None:
    first = _register(session, db_settings, cohort_id, qr_png(WECHAT_LINK))
    second = _register(session, db_settings, cohort_id, qr_png("https://weixin.qq.com/g/Renewed"), member_count=40)
    session.refresh(first)
    assert first.replaced_at is not None and second.replaced_at is None
    assert groups.current(session, cohort_id) is second
    with pytest.raises(NotFound):
        _register(session, db_settings, 999_999, qr_png(WECHAT_LINK))


def test_the_qr_is_uploaded_to_wechat_once_and_reused_while_wechat_keeps_it(
    session, db_settings, cohort_id, gateway, emulator
) -> None:
    group = _register(session, db_settings, cohort_id, qr_png(WECHAT_LINK))
    upload = "/cgi-bin/media/upload"
    first = groups.media_id(session, gateway.official, group)
    assert groups.media_id(session, gateway.official, group) == first and calls(emulator, upload) == 1
    later = utcnow() + timedelta(days=3)  # WeChat has dropped it by now: upload again
    assert groups.media_id(session, gateway.official, group, now=later) != first and calls(emulator, upload) == 2
    with pytest.raises(ValueError, match="no QR that can be sent"):
        groups.media_id(session, gateway.official, group, now=utcnow() + timedelta(days=8))
