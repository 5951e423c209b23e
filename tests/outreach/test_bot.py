"""Outreach end to end: a campaign over the international graduates of a year is launched (nobody marked yet), the
broadcast sender sends the greeting through the WeChat emulator and marks as awaited exactly those it reached (a
window closed since launch, 45015, marks nobody; a window opened since launch is reached and marked); their answer
through the real webhook (the emulator pushing signed messages to a live server) is placed by the gazetteer,
recorded to the profile with provenance ``self`` and handed to the associations' offer; in English and Chinese; a
keyword of another conversation (help, 校友卡, 活动) gets its own answer and the mark stays for the real answer; an
answer the gazetteer cannot place is asked again; 取消 ends it with nothing recorded."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.state import RedisStateStore
from core import i18n, texts
from core.runtime import Runtime
from core.settings import Settings
from emulator.testing import ChatUser as Alumnus
from emulator.testing import RunningEmulator
from models import (
    AuditEntry,
    Broadcast,
    Consent,
    DatabankBatch,
    EducationRecord,
    Employment,
    Follower,
    Person,
    WeChatIdentity,
    utcnow,
)
from services import outreach
from services.associations import directory, places
from services.broadcasts import delivery
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, row
from wechat.gateway import build_gateway

# 张伟 (2019), 赵敏 (2019) and 王芳 (2012) studied as international students; 李娜 (2019) did not.
ROSTER = [
    row("张伟", "2015001"),
    row("李娜", "2015002"),
    row("王芳", "2008003", 入学年份="2008", 毕业年份="2012"),
    row("赵敏", "2015004"),
]
INTERNATIONAL = ("张伟", "王芳", "赵敏")


@dataclasses.dataclass
class World:
    rt: Runtime
    settings: Settings
    emulator: RunningEmulator
    cache: Any

    def alumnus(self, openid: str, person: str) -> Alumnus:
        self.emulator.add_followers(openid)
        with self.rt.db.session() as s:
            person_id = s.scalars(select(Person.id).where(Person.name == person)).one()
            s.add(WeChatIdentity(person_id=person_id, kind="oa_openid", value=openid))
        return Alumnus(self.emulator, openid)

    def step(self, openid: str) -> str | None:
        current = RedisStateStore(self.rt.redis).get(openid)
        return current.step if current is not None else None

    def jobs(self, person: str) -> list[Employment]:
        with self.rt.db.session() as s:
            person_id = s.scalars(select(Person.id).where(Person.name == person)).one()
            found = list(s.scalars(select(Employment).where(Employment.person_id == person_id)))
            s.expunge_all()
            return found


@pytest.fixture
def world(settings_factory: Any, make_app: Any, live_server: Any, emulator: RunningEmulator, cache: Any) -> World:
    settings: Settings = settings_factory(
        wechat={"api_base_url": emulator.url, "transient_retries": 1},
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        broadcasts={"quiet_start": "00:00", "quiet_end": "00:00"},  # whatever the hour the test runs at
    )
    app = make_app(settings)
    emulator.configure(webhook_url=f"{live_server(app).url}/wechat")
    rt: Runtime = app.extensions["xiaoyou"]
    with rt.db.session() as s:
        keyring = Keyring.from_settings(settings.privacy)
        importer.import_rows(s, HEADER, ROSTER, keyring=keyring, settings=settings.databank, actor="t", label="r")
    with rt.db.session() as s:
        people = {p.name: p.id for p in s.scalars(select(Person))}
        ids = [people[name] for name in INTERNATIONAL]
        s.execute(update(EducationRecord).where(EducationRecord.person_id.in_(ids)).values(international=True))
        for person_id in people.values():
            s.add(Consent(person_id=person_id, purpose="news", version="v1", channel="t"))
        uk = directory.Details(
            name_zh="英国校友会", name_en="UK Alumni", kind="overseas", abroad=True, contact="uk@a.example"
        )
        created = directory.create(s, uk, actor="staff:t")
        directory.add_region(s, created.id, "country", "英国", actor="staff:t")
    places.warm()
    return World(rt, settings, emulator, cache)


def test_the_sender_marks_whom_the_greeting_reached_and_an_english_answer_is_recorded_as_their_own(
    world: World,
) -> None:
    zhang = world.alumnus("oOutreachZhang000000000001", "张伟")
    li = world.alumnus("oOutreachLi000000000000001", "李娜")
    wang = world.alumnus("oOutreachWang00000000000001", "王芳")
    zhao = world.alumnus("oOutreachZhao00000000000001", "赵敏")
    with world.rt.db.session() as s:  # she follows, and last wrote three days ago: the window is closed at launch
        s.add(Follower(openid=zhao.openid, subscribed=True, last_interaction_at=utcnow() - timedelta(days=3)))
    for user in (zhang, li, wang):
        user.say("帮助")  # each has written: the customer-service window is open
    with world.rt.db.session() as s:
        launched = outreach.launch(s, world.settings, year_from=2019, year_to=2019, actor="staff:t")
    assert launched.reachable == 1 and launched.status == "scheduled"  # one reachable: under the approval threshold
    for user in (zhang, li, wang, zhao):  # nobody is marked before the greeting is sent
        assert outreach.awaiting(world.rt.redis, user.openid) is None
    # Before the sender runs, 张伟's window closes at WeChat (47 + 2 hours after he wrote) and 赵敏 writes (2 hours
    # before the send): the greeting reaches her, not him.
    world.emulator.advance(47 * 3600)
    assert zhao.say("你好") != ""  # she writes: her window opens
    world.emulator.advance(2 * 3600)
    with world.rt.db.session() as s:
        broadcast = s.get(Broadcast, launched.broadcast_id)
        assert broadcast is not None and broadcast.campaign_key == launched.campaign and broadcast.audience == 2
        assert json.loads(broadcast.content_json)["text"] == outreach.greeting()
        assert delivery.start_due(s, world.settings) == [launched.broadcast_id]
    gateway = build_gateway(world.settings, world.cache)
    counts = delivery.send_pass(lambda: world.rt.db.session(write=True), gateway, world.settings, store=world.rt.redis)
    assert counts["sent"] == 1 and counts["skipped"] == 1
    with world.rt.db.session() as s:
        assert delivery.progress(s, launched.broadcast_id) == {"sent": 1, "skipped:window_closed": 1}
    [sent] = world.emulator.deliveries(zhao.openid, "custom")
    assert sent["message"]["text"]["content"] == outreach.greeting()  # the customer-service channel, both languages
    assert world.emulator.deliveries(zhang.openid, "custom") == []  # WeChat refused it: 45015
    assert outreach.awaiting(world.rt.redis, zhao.openid) == launched.campaign  # marked when sent
    assert outreach.awaiting(world.rt.redis, zhang.openid) is None  # never reached: his next text is his own
    assert outreach.awaiting(world.rt.redis, li.openid) is None  # not an international student
    assert outreach.awaiting(world.rt.redis, wang.openid) is None  # another year

    assert zhao.say("English") != ""
    with i18n.use("en"):
        assert zhao.say("help") == texts.HELP  # a keyword of another conversation: its answer, not a re-ask
    assert outreach.awaiting(world.rt.redis, zhao.openid) == launched.campaign  # the mark stays for the answer
    assert world.step(zhao.openid) is None
    reply = zhao.say("London, UK")
    with i18n.use("en"):
        assert reply.startswith(texts.OUTREACH_THANKS.format(place="London"))
    assert "uk@a.example" in reply  # the associations' offer follows (the UK association, named in her language)
    assert outreach.awaiting(world.rt.redis, zhao.openid) is None
    assert world.step(zhao.openid) == "offer"  # handed to the associations conversation's offer
    assert world.jobs("张伟") == []
    [job] = world.jobs("赵敏")
    assert (job.city, job.country, job.current) == ("伦敦", "英国", True)
    assert job.provenance["source"] == "self" and job.provenance["outreach"] == launched.campaign
    with world.rt.db.session() as s:
        batch = s.get(DatabankBatch, job.provenance["city"])
        assert batch is not None and batch.source == "self_reported" and batch.kind == "correction"
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == outreach.ANSWERED)).all()
        assert entry.person_id == job.person_id and entry.detail["country"] == "GB"
        assert "伦敦" not in str(entry.detail)  # the audit trail keeps the country, never the city
        report = outreach.report(s)
    assert report.responders == 1 and report.rows == [("GB", 2019, 1)]


def test_a_chinese_answer_after_one_the_gazetteer_cannot_place(world: World) -> None:
    wang = world.alumnus("oOutreachWang00000000000002", "王芳")
    assert wang.say("中文") != ""  # an international student's record reads English: she chose Chinese
    outreach.mark_awaiting(world.rt.redis, wang.openid, "outreach:2012-2012:1")
    assert (
        wang.say("火星基地七号")
        == texts.OUTREACH_UNPLACED.format(words="火星基地七号") + "\n" + texts.OUTREACH_ASK_AGAIN
    )
    assert world.step(wang.openid) == "where" and world.jobs("王芳") == []
    assert wang.say("我在伦敦").startswith(texts.OUTREACH_THANKS.format(place="伦敦"))
    [job] = world.jobs("王芳")
    assert (job.city, job.country) == ("伦敦", "英国") and job.provenance["outreach"] == "outreach:2012-2012:1"
    # A later answer (another campaign) updates the same current employment; the old value is kept in the change.
    outreach.mark_awaiting(world.rt.redis, wang.openid, "outreach:2012-2012:2")
    wang.say("取消")  # leaves the associations' offer the first answer led to
    assert wang.say("in Toronto").startswith(texts.OUTREACH_THANKS.format(place="多伦多"))
    [job] = world.jobs("王芳")
    assert (job.city, job.country) == ("多伦多", "加拿大") and job.provenance["source"] == "self"


def test_cancel_ends_the_re_ask_with_nothing_recorded(world: World) -> None:
    li = world.alumnus("oOutreachLi000000000000002", "李娜")
    outreach.mark_awaiting(world.rt.redis, li.openid, "outreach:2019-2019:9")
    assert li.say("不告诉你").startswith(texts.OUTREACH_UNPLACED.format(words="不告诉你"))
    li.say("取消")
    assert world.step(li.openid) is None and outreach.awaiting(world.rt.redis, li.openid) is None
    assert world.jobs("李娜") == []
    with world.rt.db.session() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == outreach.ANSWERED)).all() == []


def test_keywords_of_other_conversations_win_over_the_awaited_answer_and_the_mark_stays(world: World) -> None:
    wang = world.alumnus("oOutreachWang00000000000003", "王芳")
    li = world.alumnus("oOutreachLi000000000000003", "李娜")  # not awaited: the keywords' usual answers
    assert wang.say("中文") != ""
    campaign = "outreach:2012-2012:3"
    outreach.mark_awaiting(world.rt.redis, wang.openid, campaign)
    assert wang.say("帮助") == texts.HELP
    assert wang.say("校友卡") == li.say("校友卡")
    assert wang.say("活动") == li.say("活动")
    assert outreach.awaiting(world.rt.redis, wang.openid) == campaign and world.step(wang.openid) is None
    assert world.jobs("王芳") == []
    assert wang.say("in Toronto").startswith(texts.OUTREACH_THANKS.format(place="多伦多"))  # still taken
    assert outreach.awaiting(world.rt.redis, wang.openid) is None
    [job] = world.jobs("王芳")
    assert (job.city, job.country) == ("多伦多", "加拿大") and job.provenance["outreach"] == campaign


def test_a_user_in_another_conversation_answers_that_conversation_not_the_greeting(world: World) -> None:
    wang = world.alumnus("oOutreachWang00000000000004", "王芳")
    assert wang.say("中文") != ""
    assert "uk@a.example" in wang.say("伦敦校友会")  # the associations' offer: she is in that conversation now
    state = RedisStateStore(world.rt.redis).get(wang.openid)
    assert state is not None and (state.conversation, state.step) == ("association", "offer")
    campaign = "outreach:2012-2012:4"
    outreach.mark_awaiting(world.rt.redis, wang.openid, campaign)  # the greeting reaches her meanwhile
    wang.say("1")  # her choice in the offer, not an answer to the greeting
    state = RedisStateStore(world.rt.redis).get(wang.openid)
    assert state is not None and (state.conversation, state.step) == ("association", "consent")
    assert outreach.awaiting(world.rt.redis, wang.openid) == campaign and world.jobs("王芳") == []
    wang.say("取消")
    assert wang.say("我在伦敦").startswith(texts.OUTREACH_THANKS.format(place="伦敦"))  # now it is the answer
