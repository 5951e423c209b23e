"""Delivering staff answers (services/inquiries/delivery.py) end to end against the emulator over HTTP: inside the
customer-service window, split answers, the closed window's template message and held answer, the mini-program's
subscribe message, failures staff must see, the outbox's crash recovery, and chat media for staff; a push and a
mini-program read racing for one held answer (it is shown once, neither deadlocks)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select, update

from core import i18n, texts
from core.db import Database
from core.errors import NotFound, ValidationFailed
from core.settings import Settings
from emulator.testing import RunningEmulator, openid, wait_for
from models import Inquiry, InquiryEvent, OutboundMessage, utcnow
from models.inquiry import MESSAGE
from services import followers, outbox
from services.inquiries import delivery
from services.inquiries.delivery import CS_TEXT_MAX_BYTES, MediaExpired, Senders
from tests.gateway.conftest import cache, emulator, gateway_settings  # noqa: F401 - fixtures
from wechat.gateway import Gateway, build_gateway

TEMPLATE = "tmpl_inquiry_answer"
SUBSCRIBE = "tmpl_inquiry_answer_mp"
ALICE = openid(1)
MP_ALICE = openid(2, "oMp")
STAFF = "staff:wang"
PARA = "您好，关于补办校友卡的问题：请携带身份证到校友办办理。" * 14  # ~ 400 characters, 1,200 bytes


@pytest.fixture
def desk_settings(gateway_settings: Any) -> Settings:  # noqa: F811
    settings: Settings = gateway_settings(
        inquiries={"answer_template_id": TEMPLATE, "answer_subscribe_template_id": SUBSCRIBE},
        outbox={"max_attempts": 3, "retry_interval_seconds": 60},
    )
    return settings


@pytest.fixture
def db(desk_settings: Settings) -> Iterator[Database]:
    database = Database(desk_settings.database.url)
    yield database
    database.dispose()


@pytest.fixture
def gw(desk_settings: Settings, cache: redis.Redis) -> Gateway:  # noqa: F811
    return build_gateway(desk_settings, cache)


@pytest.fixture
def senders(gw: Gateway) -> Senders:
    return Senders(gw.official, gw.official, gw.miniprogram)


def file(db: Database, channel: str = "wechat", who: str | None = ALICE, question: str = "校友卡丢了怎么补办？") -> int:
    with db.session() as session:
        inquiry = Inquiry(openid=who, source_key=f"test:{channel}:{who}:{question}", question=question, channel=channel)
        session.add(inquiry)
        session.flush()
        return inquiry.id


def answer(db: Database, settings: Settings, inquiry_id: int, body: str) -> int:
    with db.session() as session:
        return delivery.reply(session, settings, inquiry_id, body, actor=STAFF).id


def event(db: Database, event_id: int) -> InquiryEvent:
    with db.session() as session:
        found = session.get(InquiryEvent, event_id)
        assert found is not None
        return found


def inquiry(db: Database, inquiry_id: int) -> Inquiry:
    with db.session() as session:
        found = session.get(Inquiry, inquiry_id)
        assert found is not None
        return found


def open_window(emulator: RunningEmulator, gw: Gateway, who: str = ALICE) -> None:  # noqa: F811
    """The user wrote to the account just now: WeChat (the emulator) and our tracker both know."""
    emulator.interact(who, "message")
    gw.official.record_interaction(who, "message")


def run_outbox(db: Database, gw: Gateway, settings: Settings) -> dict[str, int]:
    """One pass of the scheduler's outbox job, as jobs.deliver_outbox runs it."""
    return outbox.deliver_due(
        db.session,
        gw.official,
        settings.outbox.max_attempts,
        settings.outbox.retry_interval_seconds,
        templates=gw.official,
        subscriber=gw.miniprogram,
    )


def texts_sent(emulator: RunningEmulator, who: str = ALICE) -> list[str]:  # noqa: F811
    return [d["message"]["text"]["content"] for d in emulator.deliveries(who, "custom")]


def without_marker(part: str) -> str:
    return re.sub(r"\n（\d+/\d+）$", "", part)


# --- inside the window ---------------------------------------------------------------------------------------------


def test_answer_inside_the_window_reaches_the_user_as_a_customer_service_message(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    senders: Senders,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    open_window(emulator, gw)
    inquiry_id = file(db)
    event_id = answer(db, desk_settings, inquiry_id, "  请携带身份证到校友办补办。\r\n工作日 9:00-17:00。 ")

    queued = event(db, event_id)
    assert queued.kind == "reply" and queued.actor == STAFF and queued.delivery == "queued"
    assert queued.body == "请携带身份证到校友办补办。\n工作日 9:00-17:00。"
    first_answer = inquiry(db, inquiry_id).answered_at
    assert first_answer is not None

    assert delivery.send_now(db.session, senders, desk_settings, event_id) == "sent"
    header = texts.INQUIRY_ANSWER_HEADER.format(number=inquiry_id)
    assert texts_sent(emulator) == [header + "请携带身份证到校友办补办。\n工作日 9:00-17:00。"]
    sent = event(db, event_id)
    assert sent.delivery == "sent" and sent.delivered_at is not None

    second = answer(db, desk_settings, inquiry_id, "补充：也可以邮寄办理。")
    assert run_outbox(db, gw, desk_settings) == {"sent": 1}
    assert event(db, second).delivery == "sent"
    assert inquiry(db, inquiry_id).answered_at == first_answer  # the first answer's time stays
    assert texts_sent(emulator)[-1] == header + "补充：也可以邮寄办理。"


def test_a_follower_who_reads_english_gets_the_answer_and_its_notice_in_english(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    senders: Senders,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    open_window(emulator, gw)
    with db.session() as session:
        followers.choose_language(session, ALICE, "en")
    inquiry_id = file(db)
    event_id = answer(db, desk_settings, inquiry_id, "Bring your ID card to the alumni office.")
    assert delivery.send_now(db.session, senders, desk_settings, event_id) == "sent"
    with i18n.use("en"):
        header = texts.INQUIRY_ANSWER_HEADER.format(number=inquiry_id)
        hint = texts.INQUIRY_ANSWER_NOTICE_HINT
    assert header != texts.INQUIRY_ANSWER_HEADER.format(number=inquiry_id)  # a translation, not the Chinese
    assert texts_sent(emulator) == [header + "Bring your ID card to the alumni office."]

    bob = openid(3)  # reads English too, but has not written for 48 hours: the template notice, in English
    emulator.add_followers(bob)
    with db.session() as session:
        followers.choose_language(session, bob, "en")
    held = answer(db, desk_settings, file(db, who=bob), "Bring your ID card.")
    assert delivery.send_now(db.session, senders, desk_settings, held) == "notified_template"
    [notice] = emulator.deliveries(bob, "template")
    assert notice["message"]["data"]["remark"]["value"] == hint != texts.INQUIRY_ANSWER_NOTICE_HINT


def test_a_long_answer_goes_in_numbered_parts_in_order_split_at_paragraphs(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    open_window(emulator, gw)
    body = "\n\n".join(f"第{n}段。" + PARA for n in (1, 2, 3))
    event_id = answer(db, desk_settings, file(db), body)
    with db.session() as session:  # one part queued at a time: the next follows when it is sent
        assert session.scalar(select(OutboundMessage.idempotency_key)) == f"inquiry-reply:{event_id}:0#0"

    assert run_outbox(db, gw, desk_settings) == {"sent": 3}  # the chained parts go in the same pass
    parts = texts_sent(emulator)
    assert len(parts) == 3
    assert all(len(p.encode()) <= CS_TEXT_MAX_BYTES for p in parts)
    assert [p[-5:] for p in parts] == ["（1/3）", "（2/3）", "（3/3）"]
    assert [without_marker(p).split("\n")[-1][:3] for p in parts] == ["第1段", "第2段", "第3段"]
    joined = "".join(without_marker(p) for p in parts)
    header = texts.INQUIRY_ANSWER_HEADER.format(number=inquiry(db, event(db, event_id).inquiry_id).id)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", header + body)  # nothing lost, nothing cut
    assert event(db, event_id).delivery == "sent"


def test_split_text_prefers_sentences_then_cuts_hard_and_never_drops_a_character() -> None:
    sentences = "一句话说完了。" * 200
    pieces = delivery.split_text(sentences, 100)
    assert "".join(pieces) == sentences
    assert all(len(p.encode()) <= 100 and p.endswith("。") for p in pieces)
    solid = "字" * 1000  # no boundary at all: a hard cut at a character, never inside one
    pieces = delivery.split_text(solid, 100)
    assert "".join(pieces) == solid and all(len(p.encode()) <= 100 for p in pieces)
    assert delivery.split_text("短", 100) == ["短"]


def test_bad_answers_are_refused_with_a_precise_message_and_nothing_recorded(
    db: Database, desk_settings: Settings
) -> None:
    inquiry_id = file(db)
    too_long = "\n\n".join(PARA for _ in range(9))  # one part per paragraph: 9 parts; a user's window allows 5
    for body, message in (
        (" \n\t ", texts.INQUIRY_REPLY_EMPTY),
        ("答复\x00内容", texts.INQUIRY_REPLY_BINARY),
    ):
        with pytest.raises(ValidationFailed) as refused:
            answer(db, desk_settings, inquiry_id, body)
        assert refused.value.user_message == message
    with pytest.raises(ValidationFailed) as refused:
        answer(db, desk_settings, inquiry_id, too_long)
    assert "拆成 9 条" in refused.value.user_message and "5 条" in refused.value.user_message
    assert "链接" in refused.value.user_message
    with pytest.raises(NotFound):
        answer(db, desk_settings, inquiry_id + 999, "答复")
    phone = file(db, "phone", None)
    with pytest.raises(ValidationFailed):
        answer(db, desk_settings, phone, "字" * (delivery.RECORD_MAX_CHARS + 1))
    with db.session() as session:
        assert session.scalars(select(InquiryEvent)).all() == []
        assert session.scalars(select(OutboundMessage)).all() == []
        assert all(i.answered_at is None for i in session.scalars(select(Inquiry)))


# --- outside the window --------------------------------------------------------------------------------------------


def test_window_closed_sends_a_template_message_and_holds_the_answer_for_the_next_message(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    senders: Senders,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)  # a follower who has not written for 48 hours: no window
    inquiry_id = file(db)
    event_id = answer(db, desk_settings, inquiry_id, "请携带身份证到校友办补办。")

    assert delivery.send_now(db.session, senders, desk_settings, event_id) == "notified_template"
    assert emulator.deliveries(ALICE, "custom") == []
    assert emulator.calls().get("/cgi-bin/message/custom/send", 0) == 0  # the tracker refused before calling
    templates = emulator.deliveries(ALICE, "template")
    assert len(templates) == 1
    message = templates[0]["message"]
    assert message["template_id"] == TEMPLATE and message["client_msg_id"] == f"inquiry-reply:{event_id}:template"
    assert message["data"]["remark"]["value"] == texts.INQUIRY_ANSWER_NOTICE_HINT
    with db.session() as session:
        statuses = dict(session.execute(select(OutboundMessage.channel, OutboundMessage.status)).all())
    assert statuses == {"custom": "failed:45015", "template": "sent"}
    assert inquiry(db, inquiry_id).answer_waiting is True

    with db.session() as session:
        held = delivery.held_answers(session, ALICE)
    assert held == [texts.INQUIRY_HELD_ANSWER.format(number=inquiry_id, body="请携带身份证到校友办补办。")]
    shown = event(db, event_id)
    assert shown.delivery == "shown" and shown.delivered_at is not None
    assert inquiry(db, inquiry_id).answer_waiting is False
    with db.session() as session:
        assert delivery.held_answers(session, ALICE) == []  # once


def test_window_used_up_mid_answer_holds_only_the_parts_not_sent(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    open_window(emulator, gw)
    for _ in range(3):  # three of the five messages of the window are used already
        gw.official.cs.take(ALICE)
    body = "\n\n".join(f"第{n}段。" + PARA for n in (1, 2, 3))
    inquiry_id = file(db)
    event_id = answer(db, desk_settings, inquiry_id, body)

    assert run_outbox(db, gw, desk_settings) == {"sent": 3, "failed:45047": 1}  # two parts, then the template
    parts = texts_sent(emulator)
    assert [p[-5:] for p in parts] == ["（1/3）", "（2/3）"]
    assert len(emulator.deliveries(ALICE, "template")) == 1
    assert event(db, event_id).delivery == "notified_template"

    with db.session() as session:
        held = delivery.held_answers(session, ALICE)
    assert len(held) == 1
    assert held[0].startswith(texts.INQUIRY_HELD_ANSWER.format(number=inquiry_id, body="")) and "第3段" in held[0]
    assert "第2段" not in held[0]  # what was sent is not repeated


def test_no_template_configured_still_holds_the_answer(
    db: Database,
    gateway_settings: Any,  # noqa: F811
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    settings = gateway_settings(inquiries={"answer_template_id": ""})
    emulator.add_followers(ALICE)
    event_id = answer(db, settings, file(db), "请到校友办补办。")
    assert run_outbox(db, gw, settings) == {"failed:45015": 1}
    assert event(db, event_id).delivery == "held" and emulator.deliveries(ALICE) == []
    with db.session() as session:
        assert len(delivery.held_answers(session, ALICE)) == 1


def test_a_permanent_failure_is_recorded_on_the_answer(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    senders: Senders,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    open_window(emulator, gw)
    emulator.control("POST", f"/users/{ALICE}/subscription", {"subscribed": False})  # unfollowed meanwhile
    inquiry_id = file(db)
    event_id = answer(db, desk_settings, inquiry_id, "请到校友办补办。")
    assert delivery.send_now(db.session, senders, desk_settings, event_id) == "failed:43004"
    assert emulator.deliveries(ALICE) == []
    assert inquiry(db, inquiry_id).answer_waiting is False  # not held: nobody would see it
    with db.session() as session:
        assert delivery.held_answers(session, ALICE) == []
        assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 1  # no template queued


def test_a_row_stuck_in_sending_after_a_crash_is_requeued_and_the_answer_still_ends_right(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    open_window(emulator, gw)
    event_id = answer(db, desk_settings, file(db), "请到校友办补办。")
    with db.session() as session:  # a worker claimed the row and died before recording the outcome
        session.execute(update(OutboundMessage).values(status="sending", attempts=1, next_attempt_at=utcnow()))
    assert run_outbox(db, gw, desk_settings) == {}  # not yet: it may still be sending
    assert event(db, event_id).delivery == "queued"
    with db.session() as session:
        stale = utcnow() - outbox.STUCK_AFTER - timedelta(seconds=1)
        session.execute(update(OutboundMessage).values(next_attempt_at=stale))
    assert run_outbox(db, gw, desk_settings) == {"sent": 1}
    assert event(db, event_id).delivery == "sent"
    assert len(texts_sent(emulator)) == 1


def test_a_caller_without_the_template_port_leaves_the_template_row_for_the_job(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    event_id = answer(db, desk_settings, file(db), "请到校友办补办。")
    with db.session() as session:
        first = session.scalar(select(OutboundMessage.id))
    assert first is not None
    # The webhook's immediate delivery knows customer-service messages only.
    assert outbox.deliver(db.session, gw.official, first, 3, 60) == "failed:45015"
    with db.session() as session:
        template = session.scalar(select(OutboundMessage).where(OutboundMessage.channel == "template"))
        assert template is not None
        template_id = template.id
    assert outbox.deliver(db.session, gw.official, template_id, 3, 60) == "pending"
    with db.session() as session:
        left = session.get(OutboundMessage, template_id)
        assert left is not None and left.status == "pending" and left.attempts == 0
    assert event(db, event_id).delivery == "held"
    assert run_outbox(db, gw, desk_settings) == {"sent": 1}
    assert event(db, event_id).delivery == "notified_template"


# --- mini-program and offline inquiries ----------------------------------------------------------------------------


def test_miniprogram_inquiry_gets_a_subscribe_message_and_without_consent_is_shown_in_the_app(
    db: Database,
    desk_settings: Settings,
    senders: Senders,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.control("POST", "/consents", {"openid": MP_ALICE, "template_id": SUBSCRIBE})
    inquiry_id = file(db, "miniprogram", MP_ALICE)
    first = answer(db, desk_settings, inquiry_id, "请到校友办补办。")
    assert delivery.send_now(db.session, senders, desk_settings, first) == "notified_subscribe"
    sent = emulator.deliveries(MP_ALICE, "subscribe")
    assert len(sent) == 1
    assert sent[0]["message"]["template_id"] == SUBSCRIBE
    assert sent[0]["message"]["page"] == f"{delivery.MP_PAGE}?id={inquiry_id}"
    assert all(len(v["value"]) <= 20 for v in sent[0]["message"]["data"].values())

    second = answer(db, desk_settings, inquiry_id, "补充：也可以邮寄。")  # the one consent is used
    assert delivery.send_now(db.session, senders, desk_settings, second) == "in_app"
    assert len(emulator.deliveries(MP_ALICE, "subscribe")) == 1
    assert inquiry(db, inquiry_id).answer_waiting is False  # the app shows it; the chat does not hold it


@pytest.mark.parametrize("channel", ["phone", "letter", "email", "in_person"])
def test_offline_inquiries_record_the_written_answer(db: Database, desk_settings: Settings, channel: str) -> None:
    event_id = answer(db, desk_settings, file(db, channel, None), "已电话告知：请携带身份证补办。")
    recorded = event(db, event_id)
    assert recorded.delivery == "recorded" and recorded.delivered_at is not None
    with db.session() as session:
        assert session.scalars(select(OutboundMessage)).all() == []


# --- media for staff -----------------------------------------------------------------------------------------------


def media_event(db: Database, inquiry_id: int, media_id: str | None, msg_type: str = "image") -> int:
    with db.session() as session:
        row = InquiryEvent(inquiry_id=inquiry_id, kind=MESSAGE, actor="user", msg_type=msg_type, media_id=media_id)
        session.add(row)
        session.flush()
        return row.id


def test_chat_media_is_fetched_for_staff_until_wechat_lets_it_expire(
    db: Database,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    image = emulator.user_media(ALICE, "image")
    voice = emulator.user_media(ALICE, "voice", content_base64="IyFBTVIKAAAA", content_type="audio/amr")
    assert image["fields"]["MsgType"] == "image" and image["fields"]["MediaId"] == image["media_id"]
    inquiry_id = file(db)
    image_event = media_event(db, inquiry_id, image["media_id"])
    voice_event = media_event(db, inquiry_id, voice["media_id"], "voice")
    text_event = media_event(db, inquiry_id, None, "text")

    with db.session() as session:
        content, content_type = delivery.fetch_media(session, gw.official, inquiry_id, image_event)
        assert content.startswith(b"\x89PNG") and content_type == "image/png"
        assert delivery.fetch_media(session, gw.official, inquiry_id, voice_event) == (
            b"#!AMR\n\x00\x00\x00",
            "audio/amr",
        )
        with pytest.raises(NotFound):
            delivery.fetch_media(session, gw.official, inquiry_id, text_event)
        with pytest.raises(NotFound):
            delivery.fetch_media(session, gw.official, inquiry_id + 1, image_event)  # not this inquiry's

    emulator.advance(3 * 24 * 3600 + 1)  # WeChat keeps temporary media 3 days
    with db.session() as session, pytest.raises(MediaExpired) as expired:
        delivery.fetch_media(session, gw.official, inquiry_id, image_event)
    assert expired.value.status == 410 and expired.value.user_message == texts.INQUIRY_MEDIA_EXPIRED


@pytest.mark.parametrize("first", ["bot", "mini-program"])
def test_a_push_and_a_mini_program_read_at_once_show_the_held_answer_once(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
    first: str,
) -> None:
    emulator.add_followers(ALICE)
    inquiry_id = file(db)
    event_id = answer(db, desk_settings, inquiry_id, "请到校友办补办。")
    assert run_outbox(db, gw, desk_settings) == {"failed:45015": 1, "sent": 1}  # the answer, then its template

    def bot(session: Any) -> int:
        return len(delivery.held_answers(session, ALICE))

    def mini_program(session: Any) -> int:
        return delivery.shown_in_app(session, inquiry_id)

    ways = {"bot": bot, "mini-program": mini_program}
    one, other = ways[first], ways["mini-program" if first == "bot" else "bot"]
    later: list[int] = []

    def second() -> None:
        with db.session(write=True) as session:  # both are writing units of work (a push; read_own's marking)
            later.append(other(session))

    with db.session(write=True) as session:
        assert one(session) == 1  # claimed, not yet committed
        racer = threading.Thread(target=second)
        racer.start()
        if db.engine.dialect.name == "postgresql":  # let the other reach the row lock before this commits

            def waiting() -> bool:  # on a connection of its own: a transaction sees one snapshot of the activity
                query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                with db.engine.connect() as conn:
                    return bool(conn.exec_driver_sql(query + " AND datname = current_database()").scalar())

            assert wait_for(waiting, timeout=10)
    racer.join(timeout=60)
    assert not racer.is_alive() and later == [0]  # it waited, then found nothing: no deadlock, no second delivery
    shown = event(db, event_id)
    assert shown.delivery == "shown" and inquiry(db, inquiry_id).answer_waiting is False


def test_an_answer_not_held_is_left_alone_by_a_mini_program_read(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(ALICE)
    open_window(emulator, gw)
    inquiry_id = file(db)
    event_id = answer(db, desk_settings, inquiry_id, "请到校友办补办。")
    assert run_outbox(db, gw, desk_settings) == {"sent": 1}
    with db.session() as session:
        assert delivery.shown_in_app(session, inquiry_id) == 0
    assert event(db, event_id).delivery == "sent"
