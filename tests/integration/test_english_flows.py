"""Every conversation of the bot end to end in English (issue 15: "every conversation works end to end in English").

One test per diagram in docs/flows/ (classes, card, events, associations, ask and desk, checkin): the WeChat emulator
pushes signed, encrypted messages to the real webhook on a live server, as the Chinese tests of each flow do (their
fixtures and helpers are reused), with a follower who reads English (WeChat's language "en", or the "English"
switch). Every reply along the way (each step, the wrong answers, and what reaches the user later through the outbox
as a customer-service message) must hold no Chinese character or punctuation, and equals the English text where
that is practical; the final state (membership, registration, inquiry, consent) is asserted, so no test can pass by
saying nothing.

Data staff or the databank wrote are data, not copy: the tests pick English names for them (a college, a class, a
group, an event, a knowledge-base entry, an association's en name). Where a Chinese value is genuinely shown (a
person's name), :func:`assert_english` is told that exact value.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bot.state import RedisStateStore
from core import i18n, texts
from emulator.testing import ChatUser as Alumnus
from emulator.testing import wait_for
from jobs import JobContext, deliver_outbox
from models import (
    ClassCohort,
    ClassMembership,
    Consent,
    EventRegistration,
    Follower,
    Inquiry,
    Person,
    WeChatIdentity,
)
from services import cards, classes
from services.classes import groups
from services.databank import importer
from services.events import catalog, checkin, registration
from services.inquiries import knowledge
from tests.associations import test_bot as associations_bot
from tests.associations.test_bot import ADMIN_OPENID, Bot
from tests.classes import test_bot_join
from tests.classes.test_bot_join import Bot as ClassBot
from tests.classes.test_bot_join import qr_png
from tests.databank.conftest import HEADER, row
from tests.events.conftest import make_event
from tests.gateway.conftest import cache, emulator
from tests.inquiries import test_bot_desk
from tests.inquiries.test_bot_desk import Desk

bot = associations_bot.bot  # the webhook on a live server behind the emulator, with a roster (张伟, 李娜) imported
make_bot = test_bot_join.make_bot  # the same, with the class cohorts built
make_desk = test_bot_desk.make_desk  # the same, with the help desk's knowledge base
__all__ = ["bot", "cache", "emulator", "make_bot", "make_desk"]

# Han characters, and the CJK and full-width punctuation that comes with Chinese copy (、。「」（）：，).
CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def english(read: Callable[[], Any]) -> Any:
    with i18n.use("en"):
        return read()


def assert_english(reply: str, *data: str) -> str:
    """``reply`` is said (not empty) and holds nothing Chinese, once each named data value is taken out of it."""
    assert reply, "the bot said nothing"
    rest = reply
    for value in data:
        rest = rest.replace(value, "")
    assert not CHINESE.search(rest), reply
    return reply


def set_wechat_language(the_bot: Bot, openid: str, language: str) -> None:
    """What the follow linker or the nightly sync stores from WeChat's user info."""
    with the_bot.rt.db.session() as s:
        s.execute(update(Follower).where(Follower.openid == openid).values(language=language))


def in_english(alumnus: Any) -> None:
    """The follower's own switch."""
    assert alumnus.say("English") == english(lambda: texts.LANGUAGE_SWITCHED)


# --- 加入班级群 (docs/flows/classes.md) -----------------------------------------------------------------------------

COLLEGE = "School of Computing"
CLASS_NAME = "SE1701"
STORED_LABEL = f"{COLLEGE} 2017级 {CLASS_NAME}"  # the cohort's stored label, built in the source language
GROUP = "SE1701 alumni"


def test_joining_a_class_group_in_english(make_bot: Callable[..., ClassBot]) -> None:
    the_bot = make_bot()
    with the_bot.rt.db.session() as s:  # a class whose college and class name the registrar wrote in English
        english_row = row(
            "Tom Smith", "2017101", 学院=COLLEGE, 专业="Software", 班级=CLASS_NAME, 入学年份="2017", 毕业年份="2021"
        )
        importer.import_rows(
            s, HEADER, [english_row], keyring=the_bot.keyring, settings=the_bot.settings.databank, actor="t", label="en"
        )
    with the_bot.rt.db.session() as s:
        classes.build(s)
        cohort = s.scalars(select(ClassCohort).where(ClassCohort.class_name == CLASS_NAME)).one()
        assert cohort.label == STORED_LABEL
        groups.register(
            s,
            cohort.id,
            settings=the_bot.settings.classes,
            platform="wechat",
            name=GROUP,
            owner="Tom Smith",
            qr=qr_png(),
            expires_at=None,
            member_count=30,
            actor="liaison:t",
        )
    label = english(
        lambda: texts.COHORT_LABELS["class"].format(
            college=COLLEGE, year=texts.COHORT_YEAR["entry"].format(year=2017), class_name=CLASS_NAME
        )
    )
    assert label == "SE1701, School of Computing, 2017 entry"
    user = the_bot.alumnus("oEnglishClass000000000000001")
    in_english(user)

    def step(said: str | None, expected: Callable[[], str]) -> None:
        reply = user.say(said) if said is not None else user.send_image()
        assert assert_english(reply) == english(expected), said

    step("join class group", lambda: texts.CLASS_JOIN_ASK_YEAR)

    def bad_year() -> str:
        return str(texts.CLASS_JOIN_BAD_YEAR.format(first=1920, last=time.gmtime().tm_year + 8))

    step("last year", bad_year)
    step(None, lambda: texts.CLASS_JOIN_NOT_TEXT + bad_year())
    step("1990", lambda: texts.CLASS_JOIN_NO_YEAR.format(year=1990))
    step("2021", lambda: texts.CLASS_JOIN_ASK_COLLEGE.format(year=2021, choices=f"1. {COLLEGE}"))
    step("7", lambda: texts.CLASS_JOIN_BAD_COLLEGE.format(count=1))
    step("1", lambda: texts.CLASS_JOIN_ASK_CLASS.format(college=COLLEGE, year=2021, choices=f"1. {label}"))
    step("9", lambda: texts.CLASS_JOIN_BAD_CLASS.format(count=1))
    step("law", lambda: texts.CLASS_JOIN_NO_MATCH.format(words="law"))
    step("1", lambda: texts.CLASS_JOIN_CONFIRM.format(cohort=label))
    step("maybe", lambda: texts.CLASS_JOIN_BAD_CONFIRM.format(cohort=label))
    joined = assert_english(user.say("yes"))
    platform = english(lambda: texts.CLASS_GROUP_PLATFORMS["wechat"])
    assert joined == english(
        lambda: "\n".join(
            [
                texts.CLASS_JOINED["waiting"].format(cohort=label),
                texts.CLASS_JOIN_QR_FOLLOWS.format(group=GROUP, platform=platform),
            ]
        )
    )
    # What follows through the outbox: the group's QR, as an image (no words to read).
    assert wait_for(lambda: [m["msgtype"] for m in user.received()], timeout=10) == ["image"]
    with the_bot.rt.db.session() as s:
        membership = s.scalars(select(ClassMembership).where(ClassMembership.openid == user.openid)).one()
        assert (membership.cohort_id, membership.channel) == (cohort.id, "bot")
    assert the_bot.step(user.openid) is None


# --- 校友卡 (docs/flows/card.md) -------------------------------------------------------------------------------------


def test_the_alumni_card_in_english(bot: Bot) -> None:
    stranger = bot.alumnus("oEnglishNoCard00000000000001")
    stranger.say("help")
    set_wechat_language(bot, stranger.openid, "en")
    link = {
        "appid": bot.settings.miniprogram.appid,
        "page": bot.settings.card.page,
        "fallback_url": bot.settings.card.fallback_url,
    }
    assert assert_english(stranger.say("alumni card")) == english(lambda: texts.CARD_OA_HOW_TO_APPLY.format(**link))

    holder = bot.alumnus("oEnglishCard000000000000001", person="张伟")
    holder.say("help")
    set_wechat_language(bot, holder.openid, "en")
    with bot.rt.db.session() as s:
        person_id = s.scalars(select(Person.id).where(Person.name == "张伟")).one()
        card = cards.issue(s, bot.settings.card, person_id, actor="staff:t")
        card_id, number, tier = card.id, card.number, card.tier
    active = english(
        lambda: texts.CARD_OA_ACTIVE.format(
            number=number, tier=texts.CARD_TIER_NAMES.get(tier, tier), status=texts.CARD_STATUS_NAMES["active"], **link
        )
    )
    assert assert_english(holder.say("my card")) == active
    assert holder.click("CARD") == active
    with bot.rt.db.session() as s:
        cards.suspend(s, card_id, actor="staff:t", reason="checking")
    inactive = english(
        lambda: texts.CARD_OA_INACTIVE.format(number=number, status=texts.CARD_STATUS_NAMES["suspended"])
    )
    assert assert_english(holder.say("card")) == inactive


# --- 活动 (docs/flows/events.md) -------------------------------------------------------------------------------------


def test_registering_for_an_event_and_cancelling_in_english(bot: Bot) -> None:
    questions = catalog.parse_questions("*Guests: 1/2/3\nDietary needs")
    with bot.rt.db.session() as s:
        event_id = make_event(s, title="Homecoming Day", venue="Main Hall", capacity=1, questions=questions).id
    first, second = bot.alumnus("oEnglishEventA0000000000001"), bot.alumnus("oEnglishEventB0000000000001")
    in_english(first)  # the first by the switch, the second by WeChat's language
    second.say("帮助")
    set_wechat_language(bot, second.openid, "en")

    def step(said: str | None, expected: Callable[[], str] | None = None, who: Alumnus = first) -> str:
        reply = who.send_image() if said is None else who.say(said)
        assert_english(reply)
        if expected is not None:
            assert reply == english(expected), said
        return reply

    listed = step("events")
    assert listed.startswith(english(lambda: texts.EVENT_BOT["list_head"])) and "1. Homecoming Day" in listed
    step("9", lambda: texts.EVENT_BOT["pick_again"].format(count=1))
    detail = step("1")
    assert "Homecoming Day" in detail and "Main Hall" in detail
    step("hmm", lambda: texts.EVENT_BOT["detail_action"])
    step(None, lambda: texts.EVENT_BOT["not_text"])
    step("back", lambda: listed)
    step("1", lambda: detail)
    assert step("register").startswith(
        english(
            lambda: texts.EVENT_BOT["question"].format(
                n=1,
                total=2,
                label="Guests",
                choices=texts.EVENT_BOT["question_choices"].format(choices="1/2/3"),
                optional="",
            )
        )
    )
    step("5", lambda: texts.EVENT_ANSWER_ERRORS["not_a_choice"].format(label="Guests", choices="1/2/3"))
    assert step("2") == english(
        lambda: texts.EVENT_BOT["question"].format(
            n=2, total=2, label="Dietary needs", choices="", optional=texts.EVENT_BOT["question_optional"]
        )
    )
    summary = step("skip")
    assert "Homecoming Day" in summary and "Guests" in summary
    step("hmm", lambda: texts.EVENT_BOT["confirm_again"])
    assert step("confirm").startswith(english(lambda: texts.EVENT_REGISTERED["confirmed"].split("{")[0]))
    assert bot.step(first.openid) is None

    # The second registrant is waitlisted, in their WeChat's language.
    for said in ("events", "1", "register", "1", "skip"):
        step(said, who=second)
    step("confirm", lambda: texts.EVENT_REGISTERED["waitlisted"].format(title="Homecoming Day", position=1), second)

    mine = step("my events")
    assert mine.startswith(english(lambda: texts.EVENT_BOT["mine_head"])) and "1. Homecoming Day" in mine
    step("1", lambda: texts.EVENT_BOT["mine_pick"].format(count=1))
    step("cancel registration 1", lambda: texts.EVENT_CANCELLED_OK.format(title="Homecoming Day"))
    step("my events", lambda: texts.EVENT_BOT["mine_none"])
    step("events")  # leaving the conversation, by the word and by the timeout
    step("cancel", lambda: texts.CANCELLED)
    step("events")
    store = RedisStateStore(bot.rt.redis)
    state = store.get(first.openid)
    assert state is not None
    store.set(first.openid, dataclasses.replace(state, expires_at=time.time() - 1))
    step("1", lambda: texts.TIMED_OUT["events"])
    with bot.rt.db.session() as s:
        rows = s.execute(
            select(EventRegistration.oa_openid, EventRegistration.status, EventRegistration.answers_json)
            .where(EventRegistration.event_id == event_id)
            .order_by(EventRegistration.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (first.openid, "cancelled", '{"q1": "2"}'),
        (second.openid, "confirmed", '{"q1": "1"}'),
    ]
    # The promotion reaches the second registrant through the outbox, in English.
    assert deliver_outbox(JobContext(bot.rt)) == {"sent": 1}
    [notice] = [d["message"]["text"]["content"] for d in bot.emulator.deliveries(second.openid, "custom")]
    assert_english(notice)
    assert "Homecoming Day" in notice


# --- 找校友会 (docs/flows/associations.md) ---------------------------------------------------------------------------


def test_finding_and_joining_an_association_abroad_in_english(bot: Bot) -> None:
    uk = bot.association(
        "英国校友会",
        ("country", "英国"),
        name_en="UK Alumni Association",
        kind="overseas",
        abroad=True,
        contact="uk@alumni.example",
    )
    bot.appoint(uk, "uk_admin", ADMIN_OPENID)  # a branch admin who reads Chinese
    user = bot.alumnus("oEnglishAssoc00000000000001", person="李娜")
    in_english(user)
    name = "UK Alumni Association"

    def step(said: str, expected: Callable[[], str]) -> None:
        assert assert_english(user.say(said)) == english(expected), said

    def found() -> str:
        how = texts.ASSOCIATION_HOW["country"].format(country="United Kingdom")
        return associations_bot.offer("London", associations_bot.choice(1, name, how, "uk@alumni.example"))

    step("in London", found)
    step("9", lambda: texts.ASSOCIATION_BAD_CHOICE.format(count=1))

    def notice() -> str:
        return str(texts.ASSOCIATION_CONSENT_ABROAD.format(association=name, contact="uk@alumni.example"))

    step("join", lambda: texts.ASSOCIATION_CONSENT_PROMPT.format(notice=notice()))
    step("hmm", lambda: texts.ASSOCIATION_BAD_CONSENT)
    step("no", lambda: texts.ASSOCIATION_NOT_CONSENTED)
    assert bot.members() == []
    step("London alumni", found)
    step("1", lambda: texts.ASSOCIATION_CONSENT_PROMPT.format(notice=notice()))
    joined = assert_english(user.say("agree"))
    assert joined == english(
        lambda: "\n".join(
            [texts.ASSOCIATION_JOINED["requested"].format(association=name), texts.ASSOCIATION_INTRODUCED]
        )
    )
    # The introduction reaches the admin in their own language, not in the alumnus's.
    assert bot.deliver().get("sent") == 1
    [intro] = bot.templates_to(ADMIN_OPENID)
    assert intro["data"]["first"]["value"] == texts.ASSOCIATION_INTRO_TITLE["requested"].format(
        association="英国校友会"
    )
    assert intro["data"]["keyword1"]["value"] == "李娜（法学院 2018届）"
    assert bot.members() == [(uk, "requested")]
    with bot.rt.db.session() as s:
        [consent] = s.scalars(select(Consent)).all()
        assert consent.purpose == f"association_introduction:{uk}" and consent.withdrawn_at is None
    step("leave association", lambda: texts.ASSOCIATION_LEFT.format(association=name))
    assert bot.members() == [(uk, "left")]


# --- 提问 and the help desk (docs/flows/ask.md, docs/flows/desk.md) --------------------------------------------------

QUESTION = "How do I apply for the electronic alumni card?"
ANSWER = "Verify your identity on the Alumni Card page of the mini-program and the card is issued at once."


def test_asking_the_office_and_the_help_desk_in_english(make_desk: Callable[..., Desk]) -> None:
    office = make_desk()
    with office.rt.db.session() as s:
        draft = knowledge.Draft(question=QUESTION, answer=ANSWER, keywords="card apply alumni", category="card")
        knowledge.create(s, office.rt.redis, draft, actor="staff:test")
    user = office.alumnus("oEnglishDesk000000000000001")
    in_english(user)

    def step(said: str | None, expected: Callable[[], str]) -> None:
        reply = user.say(said) if said is not None else user.send_image()
        assert assert_english(reply) == english(expected), said

    # 提问: the prompt, a too short question, an image, then the question is filed.
    step("ask", lambda: texts.ASK_START.format(max_chars=1000))
    step("a", lambda: texts.ASK_TOO_SHORT.format(min_chars=2))
    step(None, lambda: texts.ASK_NOT_TEXT)
    asked = assert_english(user.say("Can we book the alumni hall for our reunion?"))
    [inquiry] = office.inquiries(user.openid)
    assert asked == english(lambda: texts.ASK_RECEIVED.format(number=inquiry.id))

    # Staff answer in the console and close it: both reach the user in English, and a digit rates it.
    office.answer(inquiry.id, "Yes: please send us the venue form.")
    office.close(inquiry.id, "Venue booked.")
    office.run_outbox()
    answer = english(lambda: texts.INQUIRY_ANSWER_HEADER.format(number=inquiry.id))
    closed = english(lambda: texts.DESK_CLOSED_NOTICE.format(number=inquiry.id, resolution="Venue booked."))
    received = wait_for(lambda: user.texts_received() if len(user.texts_received()) == 2 else None, timeout=10)
    assert received == [answer + "Yes: please send us the venue form.", closed]
    for message in received:
        assert_english(message)
    step("5", lambda: texts.DESK_RATED.format(number=inquiry.id, rating=5))
    assert office.inquiries(user.openid)[0].rating == 5

    # Free text: a confident knowledge-base answer, then 转人工 files it.
    step(QUESTION, lambda: texts.DESK_FAQ_ANSWER.format(answer=ANSWER))
    filed = assert_english(user.say("human"))
    inquiries = office.inquiries(user.openid)
    assert len(inquiries) == 2 and inquiries[1].question == QUESTION and inquiries[1].status == "open"
    assert filed == english(lambda: texts.DESK_FILED.format(number=inquiries[1].id, minutes=30))
    step("I also lost my student card.", lambda: texts.DESK_FOLLOW_UP_JOINED.format(number=inquiries[1].id))


# --- 活动签到 (docs/flows/checkin.md) --------------------------------------------------------------------------------


def test_checking_in_by_the_events_qr_in_english(bot: Bot) -> None:
    with bot.rt.db.session() as s:
        event = make_event(s, starts_in=timedelta(hours=1), title="Homecoming Day", venue="Main Hall")
        event_id, scene, token = event.id, checkin.scene(event), event.checkin_token
    guest, stranger = bot.alumnus("oEnglishGuest00000000000001"), bot.alumnus("oEnglishStranger000000000001")
    for who in (guest, stranger):
        who.say("help")
        set_wechat_language(bot, who.openid, "en")
    with bot.rt.db.session() as s:
        registration.register(s, event_id, registration.Registrant(None, oa_openid=guest.openid), channel="bot")
    moment = iter(range(1, 100))

    def scan(who: Alumnus, key: str) -> str:
        return assert_english(who.scan(key, at=int(time.time()) + next(moment)))

    reply = scan(guest, scene)
    with bot.rt.db.session() as s:
        reg = s.scalars(select(EventRegistration).where(EventRegistration.oa_openid == guest.openid)).one()
    assert reg.checked_in_at is not None
    at = checkin.CheckIn(checkin.CHECKED_IN, checked_in_at=reg.checked_in_at)._at()
    assert reply == english(lambda: texts.CHECKIN_BOT["checked_in"].format(title="Homecoming Day", at=at))
    assert scan(guest, scene) == english(lambda: texts.CHECKIN_BOT["already"].format(title="Homecoming Day", at=at))
    assert scan(stranger, scene) == english(
        lambda: texts.CHECKIN_BOT["not_registered"].format(title="Homecoming Day", at="")
    )
    forged = f"checkin:{event_id}:{'x' * len(token)}"
    assert scan(stranger, forged) == english(lambda: texts.CHECKIN_BOT["wrong_event"])


# The English help ends with the way back to Chinese, written in Chinese on purpose (a Chinese reader put in English
# by WeChat's language must still find it): the one Chinese sentence an English reader is shown, by design.
SWITCH_BACK = "回复「中文」使用中文。"


def test_nothing_stays_chinese_for_an_english_reader_of_the_help(bot: Bot) -> None:
    """The guard itself: the same words in Chinese are caught (the tests above cannot pass on empty replies)."""
    user = bot.alumnus("oEnglishGuard00000000000001")
    assert CHINESE.search(user.say("帮助"))
    set_wechat_language(bot, user.openid, "en")
    help_text = assert_english(user.say("帮助"), SWITCH_BACK)
    assert help_text == english(lambda: texts.HELP) and help_text.endswith(SWITCH_BACK)
    with bot.rt.db.session() as s:
        assert s.scalar(select(WeChatIdentity.id).where(WeChatIdentity.value == user.openid)) is None
        assert s.scalar(select(Inquiry.id)) is None
