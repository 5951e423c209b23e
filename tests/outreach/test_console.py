"""The console's outreach page over the test client: the responders by country and graduation year (a chart and its
table; counts only), starting a campaign (the notice forecasts who will be asked, and nobody is marked yet: the sender
marks them; bad or missing years re-render with the message and a 400, nothing written; nobody reachable is a 409),
and the permissions (a viewer sees the report, not the form)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select, update

from core import texts
from models import Broadcast, Consent, EducationRecord, Follower, Person, Segment, WeChatIdentity, utcnow
from services import outreach
from services.databank import importer
from tests.admin import conftest as console
from tests.admin.conftest import post, text
from tests.databank.conftest import HEADER, row

console_app, console_settings, keyring, make_member, rds, signed_in = (
    console.console_app,
    console.console_settings,
    console.keyring,
    console.make_member,
    console.rds,
    console.signed_in,
)
T = texts.CONSOLE


@pytest.fixture
def answered(console_app: Flask, keyring: Any) -> dict[str, int]:
    """Three international graduates: two answered from London (2019, 2017), one from Toronto (2019)."""
    rt = console_app.extensions["xiaoyou"]
    rows = [
        row("张伟", "2015001"),
        row("李娜", "2013002", 入学年份="2013", 毕业年份="2017"),
        row("王芳", "2015003"),
    ]
    with rt.db.session() as s:
        importer.import_rows(s, HEADER, rows, keyring=keyring, settings=rt.settings.databank, actor="t", label="r")
    with rt.db.session() as s:
        people = {p.name: p.id for p in s.scalars(select(Person))}
        s.execute(update(EducationRecord).values(international=True))
        for name, where in (("张伟", "伦敦"), ("李娜", "London, UK"), ("王芳", "多伦多")):
            place = outreach.locate(where)
            assert place is not None
            outreach.record_answer(s, people[name], place, campaign="outreach:2017-2019:1", actor="wechat:outreach")
    return people


def test_the_report_counts_responders_by_country_and_year(answered: dict[str, int], signed_in: Any) -> None:
    client, _ = signed_in("viewer")
    response = client.get("/admin/outreach")
    assert response.status_code == 200
    body = text(response)
    assert T["outreach_responders"].format(count=3) in body
    assert 'id="chart-outreach"' in body
    assert T["outreach_chart_mark"].format(country="英国", count=2) in body
    table = body.split('id="outreach-table"')[1]
    assert table.index("<td>英国</td><td>2017</td>") > 0 and "<td>加拿大</td><td>2019</td>" in table
    assert "张伟" not in body and 'id="outreach-launch"' not in body  # counts only; a viewer may not start one
    refused = post(client, "/admin/outreach", {"year_from": "2019", "year_to": "2019"}, page="/admin/outreach")
    assert refused.status_code == 403


def test_the_nav_links_the_page(signed_in: Any) -> None:
    client, _ = signed_in("officer")
    assert 'href="/admin/outreach"' in text(client.get("/admin/"))


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"year_from": "", "year_to": "2019"}, 400, texts.OUTREACH_ERRORS["years"]),
        ({"year_from": "2020", "year_to": "2019"}, 400, None),
        ({"year_from": "abc", "year_to": "2019"}, 400, None),
        ({"year_from": "2019", "year_to": "2019"}, 409, None),  # nobody has the news consent: nobody reachable
    ],
)
def test_starting_a_campaign_refuses_bad_years_and_an_empty_audience(
    answered: dict[str, int], signed_in: Any, console_app: Flask, form: dict[str, str], status: int, message: Any
) -> None:
    client, _ = signed_in("officer")
    response = post(client, "/admin/outreach", form, page="/admin/outreach")
    assert response.status_code == status
    body = text(response)
    assert 'id="outreach-error"' in body
    if message:
        assert message in body
    rt = console_app.extensions["xiaoyou"]
    with rt.db.session() as s:
        assert s.scalars(select(Broadcast)).all() == []  # nothing half-written
        assert s.scalars(select(Segment)).all() == []


def test_starting_a_campaign_forecasts_who_will_be_asked_and_marks_nobody_yet(
    answered: dict[str, int], signed_in: Any, console_app: Flask, rds: redis.Redis
) -> None:
    rt = console_app.extensions["xiaoyou"]
    wrote = {"张伟": utcnow(), "王芳": utcnow() - timedelta(days=3)}  # 王芳's window is closed now
    with rt.db.session() as s:
        for name, at in wrote.items():
            openid = f"oOutreachConsole{answered[name]:010d}"
            s.add(Consent(person_id=answered[name], purpose="news", version="v1", channel="t"))
            s.add(WeChatIdentity(person_id=answered[name], kind="oa_openid", value=openid))
            s.add(Follower(openid=openid, subscribed=True, last_interaction_at=at))
    client, _ = signed_in("officer")
    response = post(client, "/admin/outreach", {"year_from": "2019", "year_to": "2019"}, page="/admin/outreach")
    assert response.status_code == 200
    status = texts.BROADCAST_STATUS_NAMES["scheduled"]
    assert T["outreach_launched"].format(status=status, reachable=1) in text(response)
    with rt.db.session() as s:
        [broadcast] = s.scalars(select(Broadcast)).all()
        assert broadcast.audience == 2 and str(broadcast.campaign_key).startswith("outreach:2019-2019:")
    for name in wrote:  # the greeting has not gone yet: nobody's next message is taken for an answer
        assert outreach.awaiting(rds, f"oOutreachConsole{answered[name]:010d}") is None
