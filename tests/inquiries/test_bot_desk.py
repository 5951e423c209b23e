"""Free text in the official account, end to end (docs/flows/desk.md): the WeChat emulator pushes signed,
encrypted messages to the real webhook (a live server) and receives what the bot sends back, passively or as
customer-service messages; staff answer through the help desk's services and the scheduler's outbox pass.

Covered: a confident knowledge-base answer and 转人工 after it (filed once); a weaker match offering three by
number; a miss filing an inquiry; follow-ups (text and image) joining it and a late message opening a new one; a
staff answer reaching the user inside the window; outside it a template message, and the held answer following
the user's next message; closing, the notice, and a rating taken once; two users at once; a held answer read in the
mini-program (over HTTP) first is not pushed again, and one the bot brought first still reads there.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from bot.state import RedisStateStore
from core import i18n, redis_keys, texts
from core.runtime import Runtime
from core.settings import Settings
from emulator.testing import ChatUser as Alumnus
from emulator.testing import RunningEmulator, wait_for
from models import Follower, Inquiry, InquiryEvent, OutboundMessage
from services import outbox
from services.inquiries import delivery, desk, knowledge, matcher
from tests.gateway.conftest import MP_APPID, MP_SECRET, emulator  # noqa: F401 - fixture
from wechat.gateway import build_gateway

TEMPLATE = "tmpl_answer_waiting"
ENTRIES = [
    ("电子校友卡怎么申请？", "在小程序「校友卡」页面实名认证后即可申领电子校友卡。", "校友卡 申请 办理", "card"),
    ("校友卡丢了怎么补办？", "电子校友卡不会丢失：换手机后重新登录小程序即可。", "补办 挂失", "card"),
    ("怎样给母校捐赠？", "可以通过教育基金会官网或小程序「捐赠」页面在线捐赠。", "捐赠 捐款 基金会", "donation"),
    ("如何开具成绩单？", "成绩单请向教务处档案室申请，校友办可代为转交。", "成绩单 档案", "archive"),
]


@dataclasses.dataclass
class Desk:
    rt: Runtime
    settings: Settings
    emulator: RunningEmulator
    url: str = ""  # the live server (webhook and mini-program API)

    def alumnus(self, openid: str) -> Alumnus:
        self.emulator.add_followers(openid)
        return Alumnus(self.emulator, openid)

    def inquiries(self, openid: str) -> list[Inquiry]:
        with self.rt.db.session() as s:
            return list(s.scalars(select(Inquiry).where(Inquiry.openid == openid).order_by(Inquiry.id)))

    def transcript(self, inquiry_id: int) -> list[tuple[str, str | None, str | None]]:
        with self.rt.db.session() as s:
            events = s.scalars(
                select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry_id).order_by(InquiryEvent.id)
            )
            return [(e.kind, e.msg_type, e.body) for e in events]

    def answer(self, inquiry_id: int, body: str) -> int:
        with self.rt.db.session() as s:
            return delivery.reply(s, self.settings, inquiry_id, body, actor="staff:wang").id

    def run_outbox(self) -> dict[str, int]:
        gw = build_gateway(self.settings, self.rt.redis)
        return outbox.deliver_due(
            self.rt.db.session, gw.official, 3, 60, templates=gw.official, subscriber=gw.miniprogram
        )

    def close(self, inquiry_id: int, resolution: str) -> None:
        with self.rt.db.session() as s:
            desk.close(s, inquiry_id, resolution=resolution, actor="staff:wang")

    def step(self, openid: str) -> str | None:
        current = RedisStateStore(self.rt.redis).get(openid)
        return current.step if current is not None else None

    def window_closes(self, openid: str) -> None:
        """48 hours pass without a message from the user: WeChat (the emulator) and our tracker both know."""
        self.emulator.control("POST", "/clock/advance", {"seconds": 49 * 3600})
        self.rt.redis.delete(redis_keys.wechat_cs_window(self.settings.wechat.appid, openid))


@pytest.fixture
def make_desk(settings_factory: Any, make_app: Any, live_server: Any, emulator: RunningEmulator) -> Callable[..., Desk]:  # noqa: F811
    def make(**overrides: Any) -> Desk:
        settings: Settings = settings_factory(
            wechat={"api_base_url": emulator.url, "transient_retries": 1},
            inquiries={"answer_template_id": TEMPLATE, **overrides.pop("inquiries", {})},
            **overrides,
        )
        app = make_app(settings)
        url = live_server(app).url
        emulator.configure(webhook_url=f"{url}/wechat")
        rt: Runtime = app.extensions["xiaoyou"]
        with rt.db.session() as s:
            for question, answer, keywords, category in ENTRIES:
                draft = knowledge.Draft(
                    question=question, answer=answer, keywords=keywords, category=category, enabled=True
                )
                knowledge.create(s, rt.redis, draft, actor="staff:test")
        return Desk(rt, settings, emulator, url)

    return make


@pytest.fixture
def office(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk()


def test_a_confident_match_answers_at_once_and_transfer_files_the_question_once(office: Desk) -> None:
    user = office.alumnus("oDeskConfident00000000000001")
    reply = user.say("电子校友卡怎么申请？")
    assert reply == texts.DESK_FAQ_ANSWER.format(answer=ENTRIES[0][1])
    assert office.step(user.openid) == "answered"
    assert office.inquiries(user.openid) == []

    filed = user.say("转人工")
    [inquiry] = office.inquiries(user.openid)
    assert filed == texts.DESK_FILED.format(number=inquiry.id, minutes=30)
    assert inquiry.question == "电子校友卡怎么申请？" and inquiry.channel == "wechat"
    assert office.step(user.openid) is None
    # 转人工 again is no longer after an answer: it does not file the question twice.
    user.say("转人工")
    assert [i.question for i in office.inquiries(user.openid)] == ["电子校友卡怎么申请？"]


def test_a_weaker_match_offers_the_best_three_by_number_and_a_digit_answers(make_desk: Callable[..., Desk]) -> None:
    # Every score below 100 is "not sure" here, so the offer is certain; its order is the matcher's.
    office = make_desk(inquiries={"confident_score": 100, "suggest_score": 1})
    user = office.alumnus("oDeskSuggest0000000000000001")
    with office.rt.db.session() as s:
        best = matcher.scores(s, office.rt.redis, "校友卡补办、申请和捐赠的问题", limit=3)
    offer = user.say("校友卡补办、申请和捐赠的问题")
    choices = "\n".join(f"{n}. {e.question}" for n, e in enumerate(best, 1))
    assert offer == texts.DESK_FAQ_SUGGEST.format(choices=choices)
    assert office.step(user.openid) == "choosing"

    assert user.say("9") == texts.DESK_FAQ_PICK_AGAIN.format(count=3)
    assert user.say("2") == texts.DESK_FAQ_ANSWER.format(answer=best[1].answer)
    assert office.step(user.openid) == "answered"
    with office.rt.db.session() as s:
        assert knowledge.get(s, best[1].entry_id).hits == 1
    assert office.inquiries(user.openid) == []

    # A new question while an answer is on screen is matched afresh, not taken as part of the old one.
    # (the exact question scores 100, so even here it is answered at once).
    assert user.say("怎样给母校捐赠？") == texts.DESK_FAQ_ANSWER.format(answer=ENTRIES[2][1])


def test_a_miss_files_an_inquiry_and_follow_ups_join_it_until_the_window_passes(office: Desk) -> None:
    user = office.alumnus("oDeskMiss0000000000000000001")
    reply = user.say("我想申请校友会场地举办毕业十周年聚会")
    [inquiry] = office.inquiries(user.openid)
    assert reply == texts.DESK_FILED.format(number=inquiry.id, minutes=30)
    assert user.say("大概三十人，十二月底") == texts.DESK_FOLLOW_UP_JOINED.format(number=inquiry.id)
    assert user.send_image() == texts.DESK_FOLLOW_UP_JOINED.format(number=inquiry.id)
    kinds = office.transcript(inquiry.id)
    assert kinds == [
        ("message", "text", "我想申请校友会场地举办毕业十周年聚会"),
        ("message", "text", "大概三十人，十二月底"),
        ("message", "image", kinds[2][2]),
    ]
    # Past the follow-up window, a message is a new question (this one matches nothing either).
    with office.rt.db.session() as s:
        s.get(Inquiry, inquiry.id).last_message_at -= timedelta(minutes=31)  # type: ignore[union-attr]
    user.say("另外，学院的联系电话是多少")
    assert [i.question for i in office.inquiries(user.openid)] == [
        "我想申请校友会场地举办毕业十周年聚会",
        "另外，学院的联系电话是多少",
    ]


def test_a_single_character_is_not_filed(office: Desk) -> None:
    user = office.alumnus("oDeskShort000000000000000001")
    assert user.say("好") == texts.FALLBACK
    assert office.inquiries(user.openid) == []


def test_staff_answer_reaches_the_user_inside_the_window(office: Desk) -> None:
    user = office.alumnus("oDeskAnswer00000000000000001")
    user.say("我想申请校友会场地举办毕业十周年聚会")
    [inquiry] = office.inquiries(user.openid)
    office.answer(inquiry.id, "可以，请填写场地申请表后发给我们。")
    office.run_outbox()
    expected = texts.INQUIRY_ANSWER_HEADER.format(number=inquiry.id) + "可以，请填写场地申请表后发给我们。"
    assert user.texts_received() == [expected]


def test_outside_the_window_a_template_says_an_answer_waits_and_the_next_message_brings_it(office: Desk) -> None:
    user = office.alumnus("oDeskHeld0000000000000000001")
    user.say("我想申请校友会场地举办毕业十周年聚会")
    [inquiry] = office.inquiries(user.openid)
    office.window_closes(user.openid)
    office.answer(inquiry.id, "可以，请填写场地申请表后发给我们。")
    office.run_outbox()
    assert user.texts_received() == []
    [template] = office.emulator.deliveries(user.openid, "template")
    assert template["message"]["template_id"] == TEMPLATE

    user.say("帮助")  # any message: its reply, then the answer it lets us send
    held = texts.INQUIRY_HELD_ANSWER.format(number=inquiry.id, body="可以，请填写场地申请表后发给我们。")
    assert wait_for(user.texts_received, timeout=10) == [held]
    user.say("帮助")  # nothing is owed any more: the second message queues no follow-up (it would be committed by now)
    with office.rt.db.session() as s:
        follow_ups = s.scalars(
            select(OutboundMessage.idempotency_key).where(
                OutboundMessage.openid == user.openid, OutboundMessage.idempotency_key.like("then%")
            )
        ).all()
    assert len(follow_ups) == 1
    assert user.texts_received() == [held]


def test_closing_tells_the_user_and_one_digit_rates_it_once(office: Desk) -> None:
    user = office.alumnus("oDeskRating00000000000000001")
    user.say("我想申请校友会场地举办毕业十周年聚会")
    [inquiry] = office.inquiries(user.openid)
    office.answer(inquiry.id, "可以，请填写场地申请表后发给我们。")
    office.close(inquiry.id, "已安排场地。")
    office.run_outbox()
    notice = texts.DESK_CLOSED_NOTICE.format(number=inquiry.id, resolution="已安排场地。")
    assert wait_for(lambda: notice in user.texts_received(), timeout=10)

    assert user.say("5") == texts.DESK_RATED.format(number=inquiry.id, rating=5)
    [rated] = office.inquiries(user.openid)
    assert rated.rating == 5
    assert user.say("1") != texts.DESK_RATED.format(number=inquiry.id, rating=1)  # once
    assert office.inquiries(user.openid)[0].rating == 5


def test_a_user_who_reads_english_gets_the_answer_and_the_closing_notice_in_english(office: Desk) -> None:
    user = office.alumnus("oDeskEnglish0000000000000001")
    user.say("English")
    user.say("我想申请校友会场地举办毕业十周年聚会")
    [inquiry] = office.inquiries(user.openid)
    office.answer(inquiry.id, "Yes: please send us the venue form.")  # staff act in the console, in Chinese
    office.close(inquiry.id, "Venue booked.")
    office.run_outbox()
    with i18n.use("en"):
        answer = texts.INQUIRY_ANSWER_HEADER.format(number=inquiry.id) + "Yes: please send us the venue form."
        notice = texts.DESK_CLOSED_NOTICE.format(number=inquiry.id, resolution="Venue booked.")
    assert notice != texts.DESK_CLOSED_NOTICE.format(number=inquiry.id, resolution="Venue booked.")
    assert wait_for(lambda: user.texts_received() == [answer, notice], timeout=10), user.texts_received()


def test_two_users_at_once_each_get_their_own_answer_and_inquiry(office: Desk) -> None:
    users = [office.alumnus(f"oDeskTwo{n}00000000000000000{n}") for n in (1, 2)]
    replies: dict[str, str] = {}

    def talk(user: Alumnus, text: str) -> None:
        replies[user.openid] = user.say(text)

    threads = [
        threading.Thread(target=talk, args=(users[0], "电子校友卡怎么申请？")),
        threading.Thread(target=talk, args=(users[1], "我想申请校友会场地举办毕业十周年聚会")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replies[users[0].openid] == texts.DESK_FAQ_ANSWER.format(answer=ENTRIES[0][1])
    [filed] = office.inquiries(users[1].openid)
    assert replies[users[1].openid] == texts.DESK_FILED.format(number=filed.id, minutes=30)
    assert office.inquiries(users[0].openid) == []


# --- the same answer, read in the mini-program --------------------------------------------------------------------

MINIPROGRAM = {"miniprogram": {"appid": MP_APPID, "secret": MP_SECRET}}


@dataclasses.dataclass
class MiniProgram:
    """The same person in the mini-program, over HTTP to the live server (logged in through the emulator)."""

    url: str
    token: str

    def inquiry(self, inquiry_id: int) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}/api/v1/inquiries/{inquiry_id}", headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def held_for(office: Desk, openid: str, unionid: str) -> tuple[Alumnus, MiniProgram, Inquiry]:
    """A follower (with a unionid WeChat tells us at the follow) asks in the chat; staff answer after the window
    closed: the answer is held. The same person logs in to the mini-program."""
    office.emulator.add_followers(openid, unionid=unionid)
    user = Alumnus(office.emulator, openid)
    user.push(MsgType="event", Event="subscribe")

    def unionid_known() -> bool:
        with office.rt.db.session() as s:
            return s.scalar(select(Follower.unionid).where(Follower.openid == openid)) == unionid

    wait_for(unionid_known, timeout=10)
    user.say("我想申请校友会场地举办毕业十周年聚会")
    [inquiry] = office.inquiries(openid)
    office.window_closes(openid)
    office.answer(inquiry.id, "可以，请填写场地申请表后发给我们。")
    office.run_outbox()
    assert user.texts_received() == [] and office.inquiries(openid)[0].answer_waiting
    code = office.emulator.login_code(f"oMp{openid[3:]}", unionid)
    login = requests.post(f"{office.url}/api/v1/auth/login", json={"code": code}, timeout=10)
    assert login.status_code == 200, login.text
    return user, MiniProgram(office.url, login.json()["token"]), inquiry


def test_an_answer_read_in_the_mini_program_first_is_not_pushed_again_by_the_bot(
    make_desk: Callable[..., Desk],
) -> None:
    office = make_desk(**MINIPROGRAM)
    user, app, inquiry = held_for(office, "oDeskReadInApp00000000000001", "uDeskReadInApp01")
    read = app.inquiry(inquiry.id)
    assert [(a["body"], a["delivery"]) for a in read["answers"]] == [("可以，请填写场地申请表后发给我们。", "shown")]

    assert user.say("帮助")  # the next message: its own reply, and nothing owed after it
    with office.rt.db.session() as s:
        follow_ups = s.scalars(
            select(OutboundMessage.idempotency_key).where(
                OutboundMessage.openid == user.openid, OutboundMessage.idempotency_key.like("then%")
            )
        ).all()
    assert follow_ups == [] and user.texts_received() == []
    assert app.inquiry(inquiry.id)["answers"][0]["delivery"] == "shown"


def test_an_answer_the_bot_brought_first_still_reads_in_the_mini_program(make_desk: Callable[..., Desk]) -> None:
    office = make_desk(**MINIPROGRAM)
    user, app, inquiry = held_for(office, "oDeskBotFirst000000000000001", "uDeskBotFirst001")
    user.say("帮助")
    held = texts.INQUIRY_HELD_ANSWER.format(number=inquiry.id, body="可以，请填写场地申请表后发给我们。")
    assert wait_for(user.texts_received, timeout=10) == [held]
    with office.rt.db.session() as s:
        event = s.scalar(
            select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == "reply")
        )
        assert event is not None and event.delivery == "shown"
        shown_at = event.delivered_at
    read = app.inquiry(inquiry.id)
    assert [(a["body"], a["delivery"]) for a in read["answers"]] == [("可以，请填写场地申请表后发给我们。", "shown")]
    with office.rt.db.session() as s:
        assert s.get(InquiryEvent, event.id).delivered_at == shown_at  # type: ignore[union-attr]
    user.say("帮助")
    assert user.texts_received() == [held]
