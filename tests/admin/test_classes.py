"""The console's class-group pages against a live emulator: the office's coverage overview (sorted, filtered,
paged, exported), a liaison's scope (another cohort's page, roster, member, report, application and group upload
are 404), names masked until revealed with a reason (audited), vouching, the group QR upload (good, refused,
oversized: 413), appointing and ending liaisons (office only), the invite QR drawn from WeChat's link, contact-change
reports and nominations. Every route against every role is in test_access.py; the browser test of a liaison's
coverage page is in test_classes_browser.py."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
import segno
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from core.clock import BEIJING
from core.settings import Settings
from models import (
    AuditEntry,
    CardApplication,
    ClassCohort,
    ClassLiaison,
    ClassMembership,
    ContactChangeReport,
    Person,
    utcnow,
)
from models.classes import ClassGroup, Nomination, NominationEvidence
from services import classes
from services.classes import groups, liaisons, membership, reports
from services.databank.keys import Keyring
from tests.admin import test_cards
from tests.admin.conftest import Member, csrf_token, post, sign_in, text
from tests.card.conftest import CLAIM_WANG_UNMATCHED

emulator, card_settings_factory = test_cards.emulator, test_cards.card_settings_factory
api, db, alumni, mp_user = test_cards.api, test_cards.db, test_cards.alumni, test_cards.mp_user
card_app, card_settings, real_png = test_cards.card_app, test_cards.card_settings, test_cards.real_png

ONE, TWO, GRADE = "计算机学院 2015级 软件1501", "计算机学院 2015级 软件1502", "计算机学院 本科 2015级"
WECHAT_LINK = "https://weixin.qq.com/g/AwYAAF0eKxMabc123"
QR_LIMIT = 20 * 1024


@pytest.fixture
def console_settings(card_settings_factory: Any) -> Settings:
    """The console wired to the emulator (invite QR codes), with a small QR upload limit."""
    settings: Settings = card_settings_factory(
        admin={"failures_per_account": 3, "failures_per_ip": 8, "audit_page_size": 10},
        classes={"qr_max_bytes": QR_LIMIT},
    )
    return settings


def qr_png(content: str) -> bytes:
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="png", scale=6, border=4)
    return out.getvalue()


@pytest.fixture
def world(db: Any, alumni: dict[str, int], keyring: Keyring, make_member: Any) -> dict[str, Any]:
    """Cohorts built from the card tests' alumni (张晓明 and 李娜 in 软件1501, 王芳 in 软件1502), two joins to
    软件1501 (张晓明, and 王芳 whose record is in 软件1502: flagged), two openids to 软件1502, and a liaison account
    for 软件1501."""
    liaison = make_member("class_liaison")
    with db.session(write=True) as session:
        classes.build(session)
        ids: dict[str, Any] = {c.label: c.id for c in session.scalars(select(ClassCohort))}
        people = {p.name: p.id for p in session.scalars(select(Person))}
        membership.join(session, ids[ONE], channel="bot", person_id=people["张晓明"])
        flagged = membership.join(session, ids[ONE], channel="bot", person_id=people["王芳"]).membership
        other = membership.join(session, ids[TWO], channel="bot", openid="o_stranger").membership
        membership.join(session, ids[TWO], channel="bot", openid="o_stranger_two")  # 2 of 1: first by coverage
        liaisons.appoint(
            session,
            keyring,
            ids[ONE],
            name="王老师",
            role="primary",
            term_start=date(2026, 1, 1),
            staff_account_id=liaison.id,
            actor="test",
        )
        ids.update(people=people, flagged=flagged.id, other_member=other.id)
    ids["liaison"] = liaison
    return ids


def _client(app: Flask, member: Member) -> FlaskClient:
    client = app.test_client()
    sign_in(app, client, member)
    return client


def _audit(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    with app.extensions["xiaoyou"].db.session() as session:
        return [(e.actor, e.action, e.detail) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _upload(client: FlaskClient, url: str, page: str, files: dict[str, Any], **fields: Any) -> Any:
    data = {**fields, **files, "csrf_token": csrf_token(client, page)}
    return client.post(url, data=data, content_type="multipart/form-data")


def test_the_office_overview_sorts_filters_pages_and_exports(
    console_app: Flask, signed_in: Any, world: Any, db: Any
) -> None:
    officer, _ = signed_in("officer")
    page = text(officer.get("/admin/classes?sort=-coverage"))
    order = [int(i) for i in re.findall(r'<tr id="cohort-(\d+)">', page)]
    assert order == [world[TWO], world[ONE], world[GRADE]]  # 200 %, 100 %, 0 %
    by_label = text(officer.get("/admin/classes?sort=label"))
    assert [int(i) for i in re.findall(r'<tr id="cohort-(\d+)">', by_label)] == [world[ONE], world[TWO], world[GRADE]]
    orphans = text(officer.get("/admin/classes?without_liaison=1"))
    assert f'id="cohort-{world[TWO]}"' in orphans and f'id="cohort-{world[ONE]}"' not in orphans
    assert officer.get("/admin/classes?sort=name;drop").status_code == 400
    assert officer.get("/admin/classes?page=x").status_code == 400
    assert "没有符合条件的班级" in text(officer.get("/admin/classes?page=2"))

    exported = officer.get("/admin/classes/export.xlsx")
    assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(exported.data), read_only=True).active.iter_rows(values_only=True))
    assert rows[0][1] == "班级" and len(rows) == 4
    assert [r[1:5] for r in rows[1:]] == [(ONE, 2, 2, 0), (TWO, 1, 2, 0), (GRADE, 3, 0, 0)]

    with db.session(write=True) as session:  # staff may edit a label: a formula in it stays text in the export
        session.get(ClassCohort, world[GRADE]).label = '=HYPERLINK("https://evil.example","x")'
    sheet = load_workbook(io.BytesIO(officer.get("/admin/classes/export.xlsx").data)).active
    labels = [(cell.value, cell.data_type) for cell in sheet["B"]][1:]
    assert ('=HYPERLINK("https://evil.example","x")', "s") in labels


def test_a_liaison_sees_and_acts_on_their_own_cohort_only(
    console_app: Flask, world: Any, keyring: Keyring, db: Any
) -> None:
    liaison = _client(console_app, world["liaison"])
    home = text(liaison.get("/admin/"))
    assert f'href="/admin/classes/{world[ONE]}"' in home and "已入群 2 / 2 人" in home
    overview = text(liaison.get("/admin/classes"))
    assert f'id="cohort-{world[ONE]}"' in overview and f'id="cohort-{world[TWO]}"' not in overview
    rows = list(load_workbook(io.BytesIO(liaison.get("/admin/classes/export.xlsx").data)).active.values)
    assert [r[1] for r in rows[1:]] == [ONE]
    assert liaison.get(f"/admin/classes/{world[ONE]}").status_code == 200
    page = f"/admin/classes/{world[ONE]}"
    with db.session(write=True) as session:
        report_id = reports.report(
            session, keyring, person_id=world["people"]["王芳"], kind="city", value="长沙", channel="console"
        ).id
    for url in (
        f"/admin/classes/{world[TWO]}",
        f"/admin/classes/{world[TWO]}/roster",
        f"/admin/classes/{world[GRADE]}",
    ):
        assert liaison.get(url).status_code == 404, url
    assert liaison.get(f"/admin/classes/reports?cohort={world[TWO]}").status_code == 404
    assert f'id="report-{report_id}"' not in text(liaison.get("/admin/classes/reports"))
    for url in (
        f"/admin/classes/memberships/{world['other_member']}/vouch",
        f"/admin/classes/reports/{report_id}/confirm",
        f"/admin/classes/{world[TWO]}/invite",
    ):
        assert post(liaison, url, page=page).status_code == 404, url
    refused = _upload(
        liaison,
        f"/admin/classes/{world[TWO]}/group",
        page,
        {"qr": (io.BytesIO(qr_png(WECHAT_LINK)), "q.png")},
        name="群",
    )
    assert refused.status_code == 404
    nominated = _upload(
        liaison, f"/admin/classes/{world[TWO]}/nominations", page, {}, person_id=world["people"]["王芳"], citation="好"
    )
    assert nominated.status_code == 404
    with db.session() as session:
        assert session.scalar(select(ClassGroup.id)) is None and session.scalar(select(Nomination.id)) is None
        assert session.get(ContactChangeReport, report_id).status == "pending"
        assert not session.get(ClassMembership, world["other_member"]).verified


def test_names_are_masked_until_revealed_with_a_reason_and_the_reveal_is_audited(
    console_app: Flask, signed_in: Any, world: Any
) -> None:
    url = f"/admin/classes/{world[ONE]}/roster"
    viewer, _ = signed_in("viewer")
    seen = text(viewer.get(url))
    assert "张****" in seen and "张晓明" not in seen and "2015****" in seen and 'id="roster-reveal"' not in seen
    assert 'id="membership-' in seen and "担保：是本班同学" not in seen  # a viewer sees who waits, and cannot vouch
    assert post(viewer, f"{url}/reveal", {"reason": "x"}, page=url).status_code == 403

    liaison = _client(console_app, world["liaison"])
    masked = text(liaison.get(url))
    assert "张****" in masked and "张晓明" not in masked and 'id="roster-reveal"' in masked
    nothing = post(liaison, f"{url}/reveal", {"reason": " "}, page=url)
    assert nothing.status_code == 400 and "请填写查看原因" in text(nothing) and "张晓明" not in text(nothing)
    shown = post(liaison, f"{url}/reveal", {"reason": "核对同学名单"}, page=url)
    assert shown.status_code == 200 and "张晓明" in text(shown) and "2015001" in text(shown)
    reveals = [(a, d) for a, action, d in _audit(console_app) if action == "class.roster_reveal"]
    assert reveals == [(f"staff:{world['liaison'].username}", {"cohort_id": world[ONE], "reason": "核对同学名单"})]
    assert "张****" in text(liaison.get(url))  # the next page view is masked again
    not_joined = text(liaison.get(f"{url}?not_joined=1")).split('id="roster-table"')[1]
    assert "李****" in not_joined and "张****" not in not_joined
    assert liaison.get(f"{url}?after=abc").status_code == 400


def test_a_liaison_vouches_for_a_flagged_member(console_app: Flask, world: Any, db: Any) -> None:
    liaison = _client(console_app, world["liaison"])
    url = f"/admin/classes/{world[ONE]}/roster"
    assert f'id="membership-{world["flagged"]}"' in text(liaison.get(url))
    done = post(liaison, f"/admin/classes/memberships/{world['flagged']}/vouch", page=url)
    assert done.status_code == 302 and "done=vouched" in done.headers["Location"]
    with db.session() as session:
        member = session.get(ClassMembership, world["flagged"])
        assert member.verified and member.verified_by == "liaison" and not member.flagged
        assert session.get(ClassCohort, world[ONE]).verified_count == 1
    assert f'id="membership-{world["flagged"]}"' not in text(liaison.get(url))
    assert "class.vouch" in [action for _a, action, _d in _audit(console_app)]


def test_the_group_qr_upload_good_refused_and_oversized(console_app: Flask, world: Any, db: Any) -> None:
    liaison = _client(console_app, world["liaison"])
    page = f"/admin/classes/{world[ONE]}"
    url = f"{page}/group"
    good = _upload(
        liaison, url, page, {"qr": (io.BytesIO(qr_png(WECHAT_LINK)), "q.png")}, name="软件1501 同学群", members="30"
    )
    assert good.status_code == 302 and "done=group" in good.headers["Location"]
    shown = text(liaison.get(page))
    assert (
        "软件1501 同学群" in shown
        and "入群二维码有效期至" in shown
        and "班级群已登记" not in text(liaison.get(page + "?done=x"))
    )

    web = _upload(liaison, url, page, {"qr": (io.BytesIO(qr_png("https://evil.example/")), "q.png")}, name="群")
    assert web.status_code == 400 and "微信群" in text(web)
    not_image = _upload(liaison, url, page, {"qr": (io.BytesIO(b"GIF89a" + b"x" * 100), "q.gif")}, name="群")
    assert not_image.status_code == 400
    bad_date = _upload(
        liaison, url, page, {"qr": (io.BytesIO(qr_png(WECHAT_LINK)), "q.png")}, name="群", expires="tomorrow"
    )
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in text(bad_date)
    over = _upload(liaison, url, page, {"qr": (io.BytesIO(b"\x89PNG" + b"0" * (QR_LIMIT + 10)), "q.png")}, name="群")
    assert over.status_code == 413 and "最大 20 KB" in text(over)
    huge = _upload(liaison, url, page, {"qr": (io.BytesIO(b"0" * (QR_LIMIT + 200 * 1024)), "q.png")}, name="群")
    assert huge.status_code == 413 and "文件太大" in text(huge)
    with db.session() as session:
        assert [g.name for g in session.scalars(select(ClassGroup))] == ["软件1501 同学群"]  # nothing half written
    tomorrow = (utcnow() + timedelta(days=1)).astimezone(BEIJING).date().isoformat()
    renewed = _upload(
        liaison, url, page, {"qr": (io.BytesIO(qr_png(WECHAT_LINK)), "q.png")}, name="新群", expires=tomorrow
    )
    assert renewed.status_code == 302
    assert 'id="group-expiring"' in text(liaison.get(page)) and "新群" in text(liaison.get(page))


def test_the_office_appoints_and_ends_liaisons_and_a_liaison_may_not(
    console_app: Flask, signed_in: Any, world: Any, db: Any
) -> None:
    page = f"/admin/classes/{world[TWO]}"
    liaison = _client(console_app, world["liaison"])
    assert (
        post(
            liaison, f"/admin/classes/{world[ONE]}/liaisons", {"name": "x"}, page=f"/admin/classes/{world[ONE]}"
        ).status_code
        == 403
    )
    officer, _ = signed_in("officer")
    assert "任命联络人" in text(officer.get(page)) and "任命联络人" not in text(
        liaison.get(f"/admin/classes/{world[ONE]}")
    )
    bad = post(officer, f"{page}/liaisons", {"name": "李老师", "term_start": "2026-13-01"}, page=page)
    assert bad.status_code == 400
    nobody = post(officer, f"{page}/liaisons", {"name": "李老师", "staff": "ghost"}, page=page)
    assert nobody.status_code == 400 and "没有这个工作台账号" in text(nobody)
    form = {"name": "李老师", "role": "primary", "term_start": "2026-01-01", "staff": world["liaison"].username}
    done = post(officer, f"{page}/liaisons", form, page=page)
    assert done.status_code == 302
    taken = post(officer, f"{page}/liaisons", form, page=page)
    assert taken.status_code == 409
    assert "李老师" in text(officer.get(page))
    assert f'id="cohort-{world[TWO]}"' in text(liaison.get("/admin/classes"))  # their scope grew
    with db.session() as session:
        appointed = session.scalar(select(ClassLiaison).where(ClassLiaison.name == "李老师"))
        assert appointed is not None
        appointment = appointed.id
    assert post(liaison, f"/admin/classes/liaisons/{appointment}/end", page=page).status_code == 403
    ended = post(officer, f"/admin/classes/liaisons/{appointment}/end", page=page)
    assert ended.status_code == 302
    assert liaison.get(page).status_code == 404  # out of scope again
    actions = [action for _a, action, _d in _audit(console_app)]
    assert "class.liaison_appoint" in actions and "class.liaison_end" in actions


def test_nominations_with_evidence_checked_by_their_bytes(console_app: Flask, world: Any, db: Any) -> None:
    liaison = _client(console_app, world["liaison"])
    page = f"/admin/classes/{world[ONE]}"
    url = f"{page}/nominations"
    li = world["people"]["李娜"]
    done = _upload(
        liaison, url, page, {"evidence": [(io.BytesIO(real_png()), "a.png")]}, person_id=li, citation="获省级教学成果奖"
    )
    assert done.status_code == 302
    assert "获省级教学成果奖" in text(liaison.get(page)) and "1 个材料" in text(liaison.get(page))
    stranger = _upload(liaison, url, page, {}, person_id=world["people"]["王芳"], citation="好")
    assert stranger.status_code == 400 and "不是这个班级的同学" in text(stranger)
    fake = _upload(
        liaison, url, page, {"evidence": [(io.BytesIO(b"MZ not a pdf"), "a.pdf")]}, person_id=li, citation="好"
    )
    assert fake.status_code == 400 and "JPEG、PNG 或 PDF" in text(fake)
    empty = _upload(liaison, url, page, {}, person_id=li, citation="  ")
    assert empty.status_code == 400
    with db.session() as session:
        assert session.scalar(select(Nomination.citation)) == "获省级教学成果奖"
        assert [e.media_type for e in session.scalars(select(NominationEvidence))] == ["image/png"]
    assert "class.nominate" in [action for _a, action, _d in _audit(console_app)]


def test_contact_change_reports_masked_for_a_viewer_and_confirmed_by_the_liaison(
    console_app: Flask, signed_in: Any, world: Any, keyring: Keyring, db: Any
) -> None:
    with db.session(write=True) as session:
        report_id = reports.report(
            session, keyring, person_id=world["people"]["李娜"], kind="phone", value="13800138000", channel="console"
        ).id
    viewer, _ = signed_in("viewer")
    seen = text(viewer.get("/admin/classes/reports"))
    assert f'id="report-{report_id}"' in seen and "13800138000" not in seen and "李****" in seen
    assert "确认并更新档案" not in seen
    liaison = _client(console_app, world["liaison"])
    clear = text(liaison.get(f"/admin/classes/reports?cohort={world[ONE]}"))
    assert "13800138000" in clear and "李娜" in clear
    assert "class.reports_view" in [action for _a, action, _d in _audit(console_app)]
    done = post(liaison, f"/admin/classes/reports/{report_id}/confirm", page="/admin/classes/reports")
    assert done.status_code == 302
    again = post(liaison, f"/admin/classes/reports/{report_id}/reject", page="/admin/classes/reports")
    assert again.status_code == 409
    applied = [d for _a, action, d in _audit(console_app) if action == "class.contact_report_apply"]
    assert applied and applied[0]["as_liaison"] is True


def test_the_invite_qr_is_made_at_wechat_once_and_drawn_as_svg(console_app: Flask, world: Any, emulator: Any) -> None:
    liaison = _client(console_app, world["liaison"])
    page = f"/admin/classes/{world[ONE]}"
    assert "<svg" not in text(liaison.get(page)) and "生成邀请二维码" in text(liaison.get(page))
    emulator.control("POST", "/faults", {"path": "/cgi-bin/qrcode/create", "errcode": 45009, "count": 1})
    refused = post(liaison, f"{page}/invite", page=page)
    assert refused.status_code == 502 and "错误码 45009" in text(refused) and "<svg" not in text(refused)
    made = post(liaison, f"{page}/invite", page=page)
    assert made.status_code == 302
    shown = text(liaison.get(page))
    assert "<svg" in shown and 'class="segno"' in shown and "生成邀请二维码" not in shown and " style=" not in shown


def test_vouching_applications_are_scoped_to_the_claimed_cohort(
    console_app: Flask, signed_in: Any, world: Any, mp_user: Any, db: Any
) -> None:
    user = mp_user(5)
    applied = user.post("/card/applications", json={**CLAIM_WANG_UNMATCHED, "method": "vouch"})
    assert applied.status_code == 201 and applied.json["status"] == "vouching", applied.json
    app_id = int(applied.json["id"])
    officer, _ = signed_in("officer")
    listed = text(officer.get("/admin/classes/vouching"))
    assert f'id="vouching-{app_id}"' in listed and TWO in listed and "王****" in listed
    liaison = _client(console_app, world["liaison"])  # 王芳's student number is in 软件1502, not their cohort
    assert f'id="vouching-{app_id}"' not in text(liaison.get("/admin/classes/vouching"))
    url = f"/admin/classes/vouching/{app_id}"
    assert post(liaison, f"{url}/approve", page="/admin/classes/vouching").status_code == 404
    assert post(liaison, f"{url}/reject", {"reason": "x"}, page="/admin/classes/vouching").status_code == 404
    nothing = post(officer, f"{url}/reject", {"reason": " "}, page="/admin/classes/vouching")
    assert nothing.status_code == 400
    done = post(officer, f"{url}/reject", {"reason": "不是本班同学"}, page="/admin/classes/vouching")
    assert done.status_code == 302 and "done=rejected" in done.headers["Location"]
    assert f'id="vouching-{app_id}"' not in text(officer.get("/admin/classes/vouching"))


def test_a_liaison_vouches_for_an_application_of_their_cohort_and_the_card_is_issued(
    console_app: Flask, world: Any, mp_user: Any, keyring: Keyring, db: Any
) -> None:
    with db.session(write=True) as session:  # the liaison now serves 软件1502 too
        liaisons.appoint(
            session,
            keyring,
            world[TWO],
            name="王老师",
            role="primary",
            term_start=date(2026, 1, 1),
            staff_account_id=world["liaison"].id,
            actor="test",
        )
    applied = mp_user(6).post("/card/applications", json={**CLAIM_WANG_UNMATCHED, "method": "vouch"})
    app_id = int(applied.json["id"])
    liaison = _client(console_app, world["liaison"])
    page = "/admin/classes/vouching"
    assert f'id="vouching-{app_id}"' in text(liaison.get(page))
    stranger = post(liaison, f"{page}/{app_id}/approve", {"person_id": world["people"]["张晓明"]}, page=page)
    assert stranger.status_code == 400 and "不是这个班级的同学" in text(stranger)
    done = post(liaison, f"{page}/{app_id}/approve", {"person_id": world["people"]["王芳"]}, page=page)
    assert done.status_code == 302 and "done=approved" in done.headers["Location"]
    with db.session() as session:
        application = session.get(CardApplication, app_id)
        assert application.status == "issued" and application.person_id == world["people"]["王芳"]


def test_the_office_edits_a_cohorts_shown_fields_and_a_rebuild_keeps_them(
    console_app: Flask, signed_in: Any, world: Any, db: Any
) -> None:
    page = f"/admin/classes/{world[ONE]}"
    liaison = _client(console_app, world["liaison"])
    assert post(liaison, f"{page}/edit", {"label": "x"}, page=page).status_code == 403  # office roles only
    officer, _ = signed_in("officer")
    bad = post(officer, f"{page}/edit", {"label": "软件工程 2015级 1班", "grad_year": "²"}, page=page)
    assert bad.status_code == 400 and "毕业年份" in text(bad)
    form = {"label": "软件工程 2015级 1班", "major": "软件工程", "class_name": "1班", "grad_year": "2019"}
    assert post(officer, f"{page}/edit", form, page=page).status_code == 302
    with db.session(write=True) as session:
        classes.build(session)
    with db.session() as session:
        cohort = session.get(ClassCohort, world[ONE])
        assert cohort is not None and (cohort.label, cohort.class_name, cohort.edited) == (
            "软件工程 2015级 1班",
            "1班",
            True,
        )
    assert "软件工程 2015级 1班" in text(officer.get(page))
    edits = [d for _actor, action, d in _audit(console_app) if action == "class.cohort_edit"]
    assert edits == [{"cohort_id": world[ONE], "fields": ["class_name", "label"]}]


def _second_liaison(make_member: Any, db: Any, keyring: Keyring, cohort_id: int) -> Member:
    """A class liaison appointed to ``cohort_id`` alone."""
    member: Member = make_member("class_liaison")
    with db.session(write=True) as session:
        liaisons.appoint(
            session,
            keyring,
            cohort_id,
            name="赵老师",
            role="primary",
            term_start=date(2026, 1, 1),
            staff_account_id=member.id,
            actor="test",
        )
    return member


def _register_group(app: Flask, cohort_id: int, **changes: Any) -> bytes:
    image = qr_png(WECHAT_LINK)
    rt = app.extensions["xiaoyou"]
    with rt.db.session(write=True) as session:
        group = groups.register(
            session,
            cohort_id,
            settings=rt.settings.classes,
            platform="wechat",
            name="软件1501 同学群",
            owner=None,
            qr=image,
            expires_at=None,
            member_count=None,
            actor="test",
        )
        for field, value in changes.items():
            setattr(group, field, value)
    return image


def test_the_cohort_page_shows_the_group_qr_to_the_office_and_the_cohorts_liaison_only(
    console_app: Flask, signed_in: Any, world: Any, make_member: Any, keyring: Keyring, db: Any
) -> None:
    page, qr = f"/admin/classes/{world[ONE]}", f"/admin/classes/{world[ONE]}/group/qr"
    officer, _ = signed_in("officer")
    assert officer.get(qr).status_code == 404 and 'id="group-qr"' not in text(officer.get(page))  # none registered
    image = _register_group(console_app, world[ONE])

    liaison = _client(console_app, world["liaison"])
    for client in (officer, liaison, signed_in("viewer")[0]):
        served = client.get(qr)
        assert served.status_code == 200 and served.data == image and served.mimetype == "image/png"
        assert served.headers["Cache-Control"] == "private, no-store"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    shown = text(liaison.get(page))
    assert f'<img src="{qr}" alt="软件1501 同学群 的入群二维码"' in shown and "入群二维码有效期至" in shown
    assert 'class="class-qr group-qr" id="group-qr"' in shown and 'id="group-expired"' not in shown

    other = _client(console_app, _second_liaison(make_member, db, keyring, world[TWO]))
    roster = other.get(f"/admin/classes/{world[ONE]}/roster")
    refused = other.get(qr)
    assert roster.status_code == refused.status_code == 404
    assert text(refused) == text(roster) and image not in refused.data
    assert other.get(f"/admin/classes/{world[TWO]}/group/qr").status_code == 404  # their own cohort: no group yet

    with db.session(write=True) as session:  # WeChat expired it: the page says so, staff still see which it was
        current = session.scalars(select(ClassGroup).where(ClassGroup.replaced_at.is_(None))).one()
        current.qr_expires_at = utcnow() - timedelta(minutes=1)
    expired = text(liaison.get(page))
    assert 'class="class-qr group-qr expired" id="group-qr"' in expired and 'id="group-expired"' in expired
    assert "入群二维码已过期" in expired and liaison.get(qr).data == image


def test_nomination_evidence_downloads_are_scoped_and_audited(
    console_app: Flask, signed_in: Any, world: Any, make_member: Any, keyring: Keyring, db: Any
) -> None:
    liaison = _client(console_app, world["liaison"])
    page = f"/admin/classes/{world[ONE]}"
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    files = {"evidence": [(io.BytesIO(real_png()), "a.png"), (io.BytesIO(pdf), "b.pdf")]}
    li = world["people"]["李娜"]
    assert _upload(liaison, f"{page}/nominations", page, files, person_id=li, citation="获奖").status_code == 302
    with db.session() as session:
        nomination = session.scalars(select(Nomination)).one().id
        png_id, pdf_id = session.scalars(select(NominationEvidence.id).order_by(NominationEvidence.id)).all()
    png_url = f"/admin/classes/nominations/{nomination}/evidence/{png_id}"
    pdf_url = f"/admin/classes/nominations/{nomination}/evidence/{pdf_id}"
    shown = text(liaison.get(page))
    assert f'href="{png_url}" id="evidence-{png_id}" download>材料 1（PNG，' in shown
    assert f'href="{pdf_url}" id="evidence-{pdf_id}" download>材料 2（PDF，' in shown
    assert "下载材料会记入审计日志" in shown

    got = liaison.get(pdf_url)
    assert got.status_code == 200 and got.data == pdf and got.mimetype == "application/pdf"
    assert got.headers["Content-Disposition"] == f'attachment; filename="nomination-{nomination}-evidence-{pdf_id}.pdf"'
    assert got.headers["Cache-Control"] == "private, no-store" and got.headers["Content-Length"] == str(len(pdf))
    officer, officer_member = signed_in("officer")
    png = officer.get(png_url)
    assert png.status_code == 200 and png.data == real_png() and png.mimetype == "image/png"
    assert png.headers["Content-Disposition"].startswith("attachment;")

    viewer, _ = signed_in("viewer")  # may see the roster masked, not read personal data in clear
    assert viewer.get(png_url).status_code == 403 and 'id="evidence-' not in text(viewer.get(page))
    other = _client(console_app, _second_liaison(make_member, db, keyring, world[TWO]))
    roster = other.get(f"/admin/classes/{world[ONE]}/roster")
    refused = other.get(png_url)
    assert roster.status_code == refused.status_code == 404 and text(refused) == text(roster)
    for wrong in (
        f"/admin/classes/nominations/{nomination + 1}/evidence/{png_id}",  # not that nomination's file
        f"/admin/classes/nominations/{nomination}/evidence/{pdf_id + 1}",
    ):
        assert officer.get(wrong).status_code == 404, wrong

    reads = [(actor, d) for actor, action, d in _audit(console_app) if action == "class.nomination_evidence_view"]
    detail = {"cohort_id": world[ONE], "nomination_id": nomination}
    assert reads == [
        (f"staff:{world['liaison'].username}", {**detail, "evidence_id": pdf_id}),
        (f"staff:{officer_member.username}", {**detail, "evidence_id": png_id}),
    ]
    with db.session() as session:  # each read names whose evidence it was
        people = session.scalars(
            select(AuditEntry.person_id).where(AuditEntry.action == "class.nomination_evidence_view")
        ).all()
    assert people == [li, li]
