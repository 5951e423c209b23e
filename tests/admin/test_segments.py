"""The segment pages through the Flask client: who may see and change them (broadcasts.view / broadcasts.compose),
create with field errors shown and nothing saved, the preview of a form not saved yet, the saved segment's count and
reach per channel with the unreachable by reason, edit, archive, and the audit rows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from models import AuditEntry, Segment
from models.base import utcnow
from tests.admin.conftest import post, text
from tests.broadcasts.test_segments import follower, person


def seed(app: Flask) -> None:
    """Four followers: two 2015 computer-science graduates (one in the window), one from 2010, one withdrawn."""
    with app.extensions["xiaoyou"].db.session() as session:
        follower(session, "o-1", person(session, "张一"), last=utcnow() - timedelta(hours=2))
        follower(session, "o-2", person(session, "张二"), subscribed=False)
        follower(session, "o-3", person(session, "张三", grad_year=2010))
        follower(session, "o-4", person(session, "张四", consent="withdrawn"))
        session.commit()


def form(name: str = "2015届计算机", **fields: Any) -> dict[str, Any]:
    values = {"name": name, "description": "十周年返校", "grad_year_from": "2015", "grad_year_to": "2015",
              "colleges": "計算機學院", "majors": "", "regions": "", "countries": "", "cohort_ids": "",
              "follower_status": "any", "require_news_consent": "1"}  # fmt: skip
    return values | fields


def reach_row(page: str, channel: str) -> str:
    found = re.search(rf'<tr data-channel="{channel}">(.*?)</tr>', page, re.S)
    assert found, channel
    return found.group(1)


def test_who_may_see_and_change_segments(signed_in: Any) -> None:
    viewer, _ = signed_in("viewer")
    page = viewer.get("/admin/segments")
    assert page.status_code == 200 and "推送人群" in text(page) and 'id="segments-add"' not in text(page)
    assert viewer.get("/admin/segments/new").status_code == 403
    assert post(viewer, "/admin/segments/new", form(), page="/admin/segments").status_code == 403
    officer, _ = signed_in("officer")
    assert 'href="/admin/segments"' in text(officer.get("/admin/"))  # linked from the navigation
    assert officer.get("/admin/segments/new").status_code == 200
    liaison, _ = signed_in("class_liaison")
    assert liaison.get("/admin/segments").status_code == 403
    assert 'href="/admin/segments"' not in text(liaison.get("/admin/"))


def test_create_preview_edit_archive(console_app: Flask, signed_in: Any) -> None:
    seed(console_app)
    client, _ = signed_in("broadcaster")
    tried = post(client, "/admin/segments/preview", form(), page="/admin/segments/new")
    assert tried.status_code == 200
    assert 'data-total="2"' in text(tried) and "另有 1 人撤回了推送同意" in text(tried)
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert session.scalar(select(Segment.id)) is None  # a preview saves nothing

    saved = post(client, "/admin/segments/new", form(), page="/admin/segments/new")
    assert saved.status_code == 302
    page = text(client.get(saved.headers["Location"]))
    assert "人群「2015届计算机」已保存" in page and "学院：计算机学院" in page
    mass = reach_row(page, "mass")
    assert '<td class="num reachable">1</td>' in mass and 'data-reason="unsubscribed">已取消关注：1' in mass
    custom = reach_row(page, "custom")
    assert (
        '<td class="num reachable">1</td>' in custom and 'data-reason="consent_withdrawn">已撤回推送同意：1' in custom
    )
    assert "统计用时" in page

    with console_app.extensions["xiaoyou"].db.session() as session:
        segment_id = session.scalars(select(Segment.id)).one()
    edited = post(client, f"/admin/segments/{segment_id}/edit", form(grad_year_from="2010"),
                  page=f"/admin/segments/{segment_id}/edit")  # fmt: skip
    assert edited.status_code == 302
    assert 'data-total="3"' in text(client.get(f"/admin/segments/{segment_id}"))
    archived = post(client, f"/admin/segments/{segment_id}/archive", page="/admin/segments")
    assert archived.status_code == 302 and "已归档" in text(client.get(archived.headers["Location"]))
    assert f'id="segment-{segment_id}"' not in text(client.get("/admin/segments"))
    with console_app.extensions["xiaoyou"].db.session() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("segment.%"))))
    assert actions == ["segment.create", "segment.edit", "segment.archive"]


def test_bad_filters_are_shown_by_field_and_nothing_is_saved(console_app: Flask, signed_in: Any) -> None:
    client, _ = signed_in("officer")
    refused = post(client, "/admin/segments/new", form(grad_year_from="2016", levels=["phd"]),
                   page="/admin/segments/new")  # fmt: skip
    assert refused.status_code == 400
    page = text(refused)
    assert 'data-field="levels"' in page and "学历层次没有「phd」" in page
    assert 'value="2016"' in page  # the form comes back as typed
    bad_years = post(client, "/admin/segments/new", form(grad_year_from="2016"), page="/admin/segments/new")
    assert bad_years.status_code == 400 and "不能晚于截止年" in text(bad_years)
    assert post(client, "/admin/segments/new", form(), page="/admin/segments/new").status_code == 302
    taken = post(client, "/admin/segments/new", form(), page="/admin/segments/new")
    assert taken.status_code == 409 and "已有名为「2015届计算机」的人群" in text(taken)
    nameless = post(client, "/admin/segments/new", form(name=" "), page="/admin/segments/new")
    assert nameless.status_code == 400 and "请填写人群名称" in text(nameless)
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert len(list(session.scalars(select(Segment)))) == 1
    assert client.get("/admin/segments/999999").status_code == 404


def test_language_and_branch_association_filters_in_the_form(console_app: Flask, signed_in: Any) -> None:
    client, _ = signed_in("officer")
    refused = post(client, "/admin/segments/new", form(languages="zh_CN\n中文", association_ids="7"),
                   page="/admin/segments/new")  # fmt: skip
    assert refused.status_code == 400
    page = text(refused)
    assert 'data-field="languages"' in page and "「中文」不是微信的语言代码" in page
    saved = post(client, "/admin/segments/new", form(languages="zh-cn, en", association_ids="7, 9"),
                 page="/admin/segments/new")  # fmt: skip
    assert saved.status_code == 302
    with console_app.extensions["xiaoyou"].db.session() as session:
        segment = session.scalars(select(Segment)).one()
        assert '"languages":["zh_CN","en"]' in segment.filters_json
        assert '"association_ids":[7,9]' in segment.filters_json
    listing = text(client.get("/admin/segments"))
    assert "微信语言：zh_CN、en" in listing and "地方校友会编号：7、9" in listing
