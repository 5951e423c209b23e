"""活动 in the official account, end to end: the WeChat emulator pushes signed, encrypted messages to the real
webhook (a live server) and receives what the bot answers (docs/flows/events.md): the list, details, the questions
one by one with a wrong answer, confirmation, the same person registering again from the mini-program being one
registration, a card-holders event hidden from someone without a card, 我的活动 with cancel promoting the waitlist
head (whose notice reaches WeChat through the outbox job), 取消 and the timeout."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.state import RedisStateStore
from core import texts
from core.runtime import Runtime
from core.settings import Settings
from emulator.testing import ChatUser as Alumnus
from emulator.testing import RunningEmulator
from jobs import JobContext, deliver_outbox
from models import Event, EventRegistration, Person, WeChatIdentity, utcnow
from services import cards
from services.databank import importer
from services.databank.keys import Keyring
from services.events import catalog, registration
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, row
from tests.events.conftest import make_event

ROSTER = [row("张伟", "2015001"), row("李娜", "2015002")]


@dataclasses.dataclass
class Bot:
    rt: Runtime
    settings: Settings
    emulator: RunningEmulator

    def alumnus(self, openid: str) -> Alumnus:
        self.emulator.add_followers(openid)
        return Alumnus(self.emulator, openid)

    def bind(self, name: str, *, oa: str | None = None, mp: str | None = None, card: bool = False) -> int:
        with self.rt.db.session() as s:
            person_id = int(s.scalars(select(Person.id).where(Person.name == name)).one())
            for kind, value in (("oa_openid", oa), ("mp_openid", mp)):
                if value:
                    s.add(WeChatIdentity(person_id=person_id, kind=kind, value=value))
            if card:
                cards.issue(s, self.settings.card, person_id, actor="staff:test")
        return person_id

    def event(self, **fields: Any) -> int:
        with self.rt.db.session() as s:
            return make_event(s, **fields).id

    def registrations(self, event_id: int) -> list[tuple[str, str, str]]:
        with self.rt.db.session() as s:
            rows = s.scalars(
                select(EventRegistration).where(EventRegistration.event_id == event_id).order_by(EventRegistration.id)
            )
            return [(r.registrant, r.status, r.answers_json) for r in rows]

    def step(self, openid: str) -> str | None:
        current = RedisStateStore(self.rt.redis).get(openid)
        return current.step if current is not None else None

    def expire_conversation(self, openid: str) -> None:
        store = RedisStateStore(self.rt.redis)
        current = store.get(openid)
        assert current is not None
        store.set(openid, dataclasses.replace(current, expires_at=time.time() - 1))


@pytest.fixture
def bot(settings_factory: Any, make_app: Any, live_server: Any, emulator: RunningEmulator) -> Bot:
    settings: Settings = settings_factory(
        wechat={"api_base_url": emulator.url, "transient_retries": 1},
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
    )
    app = make_app(settings)
    emulator.configure(webhook_url=f"{live_server(app).url}/wechat")
    rt: Runtime = app.extensions["xiaoyou"]
    with rt.db.session() as s:
        keyring = Keyring.from_settings(settings.privacy)
        importer.import_rows(s, HEADER, ROSTER, keyring=keyring, settings=settings.databank, actor="t", label="r")
    return Bot(rt, settings, emulator)


def test_registering_through_the_bot_with_questions(bot: Bot) -> None:
    questions = catalog.parse_questions("*参加人数：1/2/3\n饮食要求")
    event_id = bot.event(title="校友返校日", venue="主校区礼堂", capacity=50, questions=questions)
    bot.event(title="还没发布的活动", publish=False)
    zhang = bot.alumnus("o_zhang")
    listed = zhang.say("活动")
    assert listed.startswith(texts.EVENT_BOT["list_head"]) and "1. 校友返校日" in listed
    assert "还没发布" not in listed
    assert zhang.say("9") == texts.EVENT_BOT["pick_again"].format(count=1)
    detail = zhang.say("１")  # full-width digits too
    assert detail.startswith("「校友返校日」") and "剩余 50 / 50" in detail
    assert zhang.say("好的") == texts.EVENT_BOT["detail_action"]
    assert zhang.say("报名").startswith("（1/2）参加人数\n可选：1/2/3")
    assert zhang.say("5") == texts.EVENT_ANSWER_ERRORS["not_a_choice"].format(label="参加人数", choices="1/2/3")
    assert zhang.send_image() == texts.EVENT_BOT["not_text"]
    assert zhang.say("2").startswith("（2/2）饮食要求") and bot.step("o_zhang") == "question"
    summary = zhang.say("跳过")
    assert summary.startswith("请确认报名「校友返校日」") and "参加人数：2" in summary and "饮食要求：-" in summary
    assert zhang.say("嗯") == texts.EVENT_BOT["confirm_again"]
    assert zhang.say("确认").startswith("报名成功！「校友返校日」")
    assert bot.step("o_zhang") is None
    assert bot.registrations(event_id) == [("oa:o_zhang", "confirmed", '{"q1": "2"}')]
    assert "（已报名：报名成功）" in zhang.say("活动")
    zhang.say("1")
    assert zhang.say("报名") == texts.EVENT_ALREADY.format(title="校友返校日", status="报名成功")


def test_a_person_bound_to_both_channels_registers_once(bot: Bot) -> None:
    person_id = bot.bind("张伟", oa="o_zhang", mp="m_zhang")
    event_id = bot.event(title="校友讲座")
    with bot.rt.db.session() as s:  # the mini-program first
        registration.register(s, event_id, registration.registrant_for_mp(s, "m_zhang"), channel="miniprogram")
    zhang = bot.alumnus("o_zhang")
    zhang.say("活动")
    zhang.say("1")
    assert zhang.say("报名") == texts.EVENT_ALREADY.format(title="校友讲座", status="报名成功")
    assert bot.registrations(event_id) == [(f"person:{person_id}", "confirmed", "{}")]


def test_card_holders_events_are_listed_only_to_card_holders(bot: Bot) -> None:
    bot.event(title="持卡校友专场", eligibility="card_holders")
    li = bot.alumnus("o_li")
    assert li.say("活动") == texts.EVENT_BOT["none"] + texts.EVENT_BOT["unbound_hint"]
    bot.bind("张伟", oa="o_zhang", card=True)
    zhang = bot.alumnus("o_zhang")
    assert "1. 持卡校友专场" in zhang.say("活动")
    zhang.say("1")
    zhang.say("报名")
    assert zhang.say("确认").startswith("报名成功！「持卡校友专场」")


def test_my_events_cancel_promotes_the_waitlist_head_who_is_told(bot: Bot) -> None:
    event_id = bot.event(title="小型沙龙", capacity=1)
    first, second = bot.alumnus("o_first"), bot.alumnus("o_second")
    for who in (first, second):
        who.say("活动")
        who.say("1")
        who.say("报名")
    assert first.say("确认").startswith("报名成功")
    assert second.say("确认") == texts.EVENT_REGISTERED["waitlisted"].format(title="小型沙龙", position=1)
    assert bot.step("o_second") is None
    mine = first.say("我的活动")
    assert mine.startswith(texts.EVENT_BOT["mine_head"]) and "1. 小型沙龙" in mine and "报名成功" in mine
    assert first.say("1") == texts.EVENT_BOT["mine_pick"].format(count=1)
    assert first.say("取消报名 1") == texts.EVENT_CANCELLED_OK.format(title="小型沙龙")
    assert [r[1] for r in bot.registrations(event_id)] == ["cancelled", "confirmed"]
    assert first.say("我的活动") == texts.EVENT_BOT["mine_none"]
    # The promoted registrant wrote to the account just now (their window is open): the outbox job delivers.
    counts = deliver_outbox(JobContext(bot.rt))
    assert counts == {"sent": 1}
    [notice] = second.texts_received()
    assert notice.startswith("候补成功：您已获得活动「小型沙龙」的名额")


def test_cancel_word_and_timeout_leave_the_conversation(bot: Bot) -> None:
    bot.event(title="校友讲座", starts_in=timedelta(days=3))
    zhang = bot.alumnus("o_zhang")
    zhang.say("活动")
    assert bot.step("o_zhang") == "pick"
    assert zhang.say("取消") == texts.CANCELLED and bot.step("o_zhang") is None
    zhang.say("活动")
    zhang.say("1")
    bot.expire_conversation("o_zhang")
    assert zhang.say("报名") == texts.TIMED_OUT["events"]


def test_closed_registration_is_refused_before_the_questions(bot: Bot) -> None:
    event_id = bot.event(title="即将截止", questions=catalog.parse_questions("*姓名"))
    zhang = bot.alumnus("o_zhang")
    zhang.say("活动")
    zhang.say("1")
    with bot.rt.db.session() as s:  # registration closes meanwhile
        found = s.get(Event, event_id)
        assert found is not None
        found.registration_closes_at = utcnow() - timedelta(minutes=1)
    assert zhang.say("报名") == texts.EVENT_ERRORS["closed"]
    assert bot.registrations(event_id) == []
