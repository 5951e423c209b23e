"""The broadcast sender against the emulator: recipient rows, per-user sends with fallback, quota pauses, mass
sends through a tag, pause/cancel, two workers at once, and WeChat's job-finished events."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from core import redis_keys
from core.db import Database
from emulator.testing import RunningEmulator
from models import Broadcast, Follower, OutboundMessage, utcnow
from models.broadcast import CANCELLED, FINISHED, PAUSED, QUOTA_PAUSED, SENDING, MassReceipt
from services.broadcasts import delivery, segments
from tests.broadcasts.delivery_helpers import (
    TEMPLATE,
    TEMPLATE_ID,
    TEXT,
    add_broadcast,
    add_followers,
    beijing,
    ids,
)
from wechat.gateway import Gateway, build_gateway


@pytest.fixture
def sender_settings(gateway_settings: Any) -> Any:
    return gateway_settings(broadcasts={"send_rate_per_second": 2000, "send_concurrency": 4, "send_batch": 50})


@pytest.fixture
def sdb(sender_settings: Any) -> Iterator[Database]:
    database = Database(sender_settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def sgateway(sender_settings: Any, cache: redis.Redis) -> Gateway:
    return build_gateway(sender_settings, cache)


def _start(sdb: Database, settings: Any, **kw: Any) -> list[int]:
    with sdb.session() as session:
        return delivery.start_due(session, settings, **kw)


def _pass(sdb: Database, gateway: Gateway, settings: Any, **kw: Any) -> dict[str, int]:
    return delivery.send_pass(lambda: sdb.session(write=True), gateway, settings, **kw)


def _broadcast(sdb: Database, broadcast_id: int) -> Broadcast:
    with sdb.session() as session:
        found = session.get(Broadcast, broadcast_id)
        assert found is not None
        session.expunge(found)
        return found


def _rows(sdb: Database, broadcast_id: int) -> dict[str, int]:
    with sdb.session() as session:
        return delivery.progress(session, broadcast_id)


def test_start_writes_one_row_per_recipient_outside_quiet_hours(sdb: Database, sender_settings: Any) -> None:
    with sdb.session() as session:
        add_followers(session, None, ids(40))
        quiet = add_broadcast(session, ignore_quiet_hours=False)
        loud = add_broadcast(session, "template,custom", ignore_quiet_hours=True)
        later = add_broadcast(session, scheduled_at=beijing(2030, 1, 1, 10))
    night = beijing(2026, 3, 2, 23, 30)
    assert _start(sdb, sender_settings, now=night) == [loud]  # 23:30 Beijing: only the one that ignores quiet hours
    assert _start(sdb, sender_settings, now=beijing(2026, 3, 3, 7, 59)) == []
    assert _start(sdb, sender_settings, now=beijing(2026, 3, 3, 8, 0)) == [quiet]
    assert _start(sdb, sender_settings, now=beijing(2026, 3, 3, 9)) == []  # started once, never twice
    with sdb.session() as session:
        rows = session.execute(
            select(OutboundMessage.idempotency_key, OutboundMessage.channel, OutboundMessage.status).where(
                OutboundMessage.broadcast_id == loud
            )
        ).all()
    assert len(rows) == 40
    assert {r.idempotency_key for r in rows} == {f"bc:{loud}:{o}" for o in ids(40)}
    assert {(r.channel, r.status) for r in rows} == {("template", "pending")}
    b = _broadcast(sdb, loud)
    assert b.status == SENDING and b.started_at is not None
    assert _broadcast(sdb, later).status == "scheduled"


def test_template_broadcast_reaches_each_follower_once(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    everyone = ids(60)
    with sdb.session() as session:
        add_followers(session, emulator, everyone[:57])
        add_followers(session, emulator, everyone[57:], subscribed=False)  # unfollowed: no template can reach them
        bid = add_broadcast(session)
    _start(sdb, sender_settings)
    counts = _pass(sdb, sgateway, sender_settings)
    assert counts["sent"] == 57 and counts["skipped"] == 3 and counts["finished"] == 1
    got = Counter(d["openid"] for d in emulator.deliveries(channel="template"))
    assert got == Counter(everyone[:57])
    one = emulator.deliveries(everyone[0], "template")[0]["message"]
    assert one["template_id"] == TEMPLATE_ID and one["client_msg_id"] == f"bc:{bid}:{everyone[0]}"
    assert _rows(sdb, bid) == {"sent": 57, "skipped:unsubscribed": 3}
    b = _broadcast(sdb, bid)
    assert (b.status, b.sent_count, b.failed_count, b.skipped_count) == (FINISHED, 57, 0, 3)
    assert _pass(sdb, sgateway, sender_settings) == {}  # nothing left, nothing sent again
    assert len(emulator.deliveries(channel="template")) == 57


def test_fallback_from_customer_service_to_template(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    inside, outside = ids(3, "oIn"), ids(4, "oOut")
    with sdb.session() as session:
        add_followers(session, emulator, inside, last_interaction_at=utcnow() - timedelta(hours=2))
        add_followers(session, emulator, outside, last_interaction_at=utcnow() - timedelta(hours=60))
        content = {**TEXT, "template": TEMPLATE["template"]}
        bid = add_broadcast(session, "custom,template", content)
    for o in inside:
        emulator.interact(o, "message")
        sgateway.official.record_interaction(o, "message")
    _start(sdb, sender_settings)
    _pass(sdb, sgateway, sender_settings)
    assert sorted(d["openid"] for d in emulator.deliveries(channel="custom")) == sorted(inside)
    assert sorted(d["openid"] for d in emulator.deliveries(channel="template")) == sorted(outside)
    with sdb.session() as session:
        channels = dict(
            session.execute(
                select(OutboundMessage.openid, OutboundMessage.channel).where(OutboundMessage.broadcast_id == bid)
            ).all()
        )
    assert {channels[o] for o in inside} == {"custom"} and {channels[o] for o in outside} == {"template"}
    assert _broadcast(sdb, bid).sent_count == 7


def test_custom_only_skips_those_outside_the_window(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    with sdb.session() as session:
        add_followers(session, emulator, ids(5), last_interaction_at=utcnow() - timedelta(hours=49))
        bid = add_broadcast(session, "custom", TEXT)
    _start(sdb, sender_settings)
    _pass(sdb, sgateway, sender_settings)
    assert emulator.deliveries(channel="custom") == []
    assert _rows(sdb, bid) == {"skipped:window_closed": 5}
    assert _broadcast(sdb, bid).status == FINISHED


def test_quota_pauses_until_beijing_midnight_then_resumes(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator, cache: redis.Redis
) -> None:
    emulator.configure(template_per_day=5)
    everyone = ids(12)
    with sdb.session() as session:
        add_followers(session, emulator, everyone)
        bid = add_broadcast(session)
    day1 = beijing(2026, 5, 6, 15)
    _start(sdb, sender_settings, now=day1)
    counts = _pass(sdb, sgateway, sender_settings, now=day1)
    assert counts["sent"] == 5 and counts["quota_paused"] == 1
    b = _broadcast(sdb, bid)
    assert b.status == QUOTA_PAUSED and b.paused_until == beijing(2026, 5, 7, 0)
    assert _rows(sdb, bid) == {"sent": 5, "pending": 7}  # nothing lost, nothing failed
    assert _pass(sdb, sgateway, sender_settings, now=day1 + timedelta(hours=8, minutes=59)) == {}  # 23:59: still
    assert len(emulator.deliveries(channel="template")) == 5

    def next_day() -> None:  # WeChat's quota and our pause both reset at 00:00 Beijing time
        emulator.advance(86400)
        cache.delete(redis_keys.wechat_paused(sender_settings.wechat.appid, "template"))

    next_day()
    counts = _pass(sdb, sgateway, sender_settings, now=beijing(2026, 5, 7, 0, 1))
    assert counts["sent"] == 5 and _broadcast(sdb, bid).paused_until == beijing(2026, 5, 8, 0)
    next_day()
    counts = _pass(sdb, sgateway, sender_settings, now=beijing(2026, 5, 8, 9))
    assert counts["sent"] == 2 and counts["finished"] == 1
    assert Counter(d["openid"] for d in emulator.deliveries(channel="template")) == Counter(everyone)
    assert _broadcast(sdb, bid).sent_count == 12


def test_paused_and_cancelled_broadcasts_are_respected(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    with sdb.session() as session:
        add_followers(session, emulator, ids(120))
        paused, cancelled = add_broadcast(session), add_broadcast(session)
    _start(sdb, sender_settings)
    _pass(sdb, sgateway, sender_settings, budget=50)  # the first batch of the first broadcast only
    assert _rows(sdb, paused) == {"sent": 50, "pending": 70}
    with sdb.session() as session:
        session.get(Broadcast, paused).status = PAUSED  # type: ignore[union-attr]
        session.get(Broadcast, cancelled).status = CANCELLED  # type: ignore[union-attr]
    counts = _pass(sdb, sgateway, sender_settings)
    assert counts.get("sent", 0) == 0
    assert _rows(sdb, paused) == {"sent": 50, "pending": 70}
    assert _rows(sdb, cancelled) == {"skipped:cancelled": 120}
    assert _broadcast(sdb, cancelled).skipped_count == 120
    assert len(emulator.deliveries(channel="template")) == 50
    with sdb.session() as session:
        session.get(Broadcast, paused).status = SENDING  # type: ignore[union-attr]
    _pass(sdb, sgateway, sender_settings)
    assert _rows(sdb, paused) == {"sent": 120}
    assert Counter(d["openid"] for d in emulator.deliveries(channel="template")) == Counter(ids(120))


def test_two_workers_at_once_send_each_row_once(
    sdb: Database, sender_settings: Any, emulator: RunningEmulator, cache: redis.Redis
) -> None:
    everyone = ids(400)
    with sdb.session() as session:
        add_followers(session, emulator, everyone)
        bid = add_broadcast(session)
    _start(sdb, sender_settings)
    results: list[dict[str, int]] = []

    def worker() -> None:
        gateway = build_gateway(sender_settings, cache)
        results.append(_pass(sdb, gateway, sender_settings, batch=20))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.get("sent", 0) for r in results) == 400
    assert all(r.get("sent", 0) > 0 for r in results)  # both took part
    assert Counter(d["openid"] for d in emulator.deliveries(channel="template")) == Counter(everyone)
    assert _broadcast(sdb, bid).sent_count == 400


def test_a_stuck_template_row_is_sent_again_without_a_second_delivery(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    with sdb.session() as session:
        add_followers(session, emulator, ids(3))
        bid = add_broadcast(session)
    _start(sdb, sender_settings)
    # A worker claimed the first row, reached WeChat, and died before recording it.
    with sdb.session() as session:
        row = session.scalars(select(OutboundMessage).where(OutboundMessage.broadcast_id == bid)).first()
        assert row is not None
        row.status, row.attempts, row.next_attempt_at = "sending", 1, utcnow() - timedelta(minutes=3)
        first = row.openid
    payload = TEMPLATE["template"]
    data = {k: {"value": v} for k, v in payload["fields"].items()}
    sgateway.official.send_template(first, TEMPLATE_ID, data, client_msg_id=f"bc:{bid}:{first}")
    counts = _pass(sdb, sgateway, sender_settings)
    assert counts["sent"] == 3
    assert Counter(d["openid"] for d in emulator.deliveries(channel="template")) == Counter(ids(3))


def test_mass_send_tags_in_fifties_skips_the_monthly_limit_and_sends_once(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    everyone = ids(120)
    limited = everyone[:2]
    now = utcnow()
    with sdb.session() as session:
        add_followers(session, emulator, everyone)
        earlier = [add_broadcast(session, "mass", TEXT, status=FINISHED) for _ in range(4)]
        month = segments.beijing_month(now)
        for e in earlier:
            session.add_all([MassReceipt(openid=o, broadcast_id=e, month=month) for o in limited])
        bid = add_broadcast(session, "mass", TEXT)
    _start(sdb, sender_settings)
    _pass(sdb, sgateway, sender_settings)
    calls = emulator.calls()
    assert calls.get("/cgi-bin/tags/members/batchtagging") == 3  # 118 recipients, 50 a call
    assert calls.get("/cgi-bin/message/mass/sendall") == 1
    got = Counter(d["openid"] for d in emulator.deliveries(channel="mass"))
    assert got == Counter(everyone[2:])
    assert _rows(sdb, bid) == {"sent": 118, "skipped:mass_limit": 2}
    b = _broadcast(sdb, bid)
    assert (b.status, b.sent_count, b.skipped_count, b.mass_tag_id is not None) == (FINISHED, 118, 2, True)
    with sdb.session() as session:
        receipts = session.scalar(select(func.count()).where(MassReceipt.broadcast_id == bid))
    assert receipts == 118
    # WeChat's report: one of them was filtered at WeChat's end. Applying it twice changes nothing more.
    with sdb.session() as session:
        assert delivery.mass_job_finished(session, int(b.mass_msg_id or 0), sent=117, errors=0) == bid
        delivery.mass_job_finished(session, int(b.mass_msg_id or 0), sent=117, errors=0)
    b = _broadcast(sdb, bid)
    assert (b.sent_count, b.failed_count, b.skipped_count) == (117, 0, 3)


def test_mass_send_repeated_after_a_crash_is_not_delivered_twice(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    everyone = ids(30)
    with sdb.session() as session:
        add_followers(session, emulator, everyone)
        bid = add_broadcast(session, "mass,template", {**TEXT, "template": TEMPLATE["template"]})
    _start(sdb, sender_settings)
    _pass(sdb, sgateway, sender_settings)
    # The sender died after WeChat took the mass send and before it recorded it: the rows go back to tagged.
    with sdb.session() as session:
        for row in session.scalars(select(OutboundMessage).where(OutboundMessage.broadcast_id == bid)):
            row.status = "tagged"
        b = session.get(Broadcast, bid)
        assert b is not None
        b.status, b.sent_count = SENDING, 0
    emulator.advance(120)  # past the one-minute 45066 window: a repeat now answers 45065 with the first msg_id
    _pass(sdb, sgateway, sender_settings)
    assert Counter(d["openid"] for d in emulator.deliveries(channel="mass")) == Counter(everyone)
    assert emulator.deliveries(channel="template") == []
    b = _broadcast(sdb, bid)
    assert (b.status, b.sent_count) == (FINISHED, 30)


def test_over_the_mass_limit_falls_back_to_template(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    everyone = ids(10)
    with sdb.session() as session:
        add_followers(session, emulator, everyone)
        earlier = [add_broadcast(session, "mass", TEXT, status=FINISHED) for _ in range(4)]
        month = segments.beijing_month(utcnow())
        for e in earlier:
            session.add(MassReceipt(openid=everyone[0], broadcast_id=e, month=month))
        bid = add_broadcast(session, "mass,template", {**TEXT, "template": TEMPLATE["template"]})
    _start(sdb, sender_settings)
    _pass(sdb, sgateway, sender_settings)
    assert [d["openid"] for d in emulator.deliveries(channel="template")] == [everyone[0]]
    assert sorted(d["openid"] for d in emulator.deliveries(channel="mass")) == everyone[1:]
    assert _broadcast(sdb, bid).sent_count == 10


def test_template_job_failure_event_moves_the_count(
    sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    with sdb.session() as session:
        add_followers(session, emulator, ids(2))
        bid = add_broadcast(session)
    _start(sdb, sender_settings)
    _pass(sdb, sgateway, sender_settings)
    with sdb.session() as session:
        assert delivery.template_job_finished(session, ids(2)[0], "success") is None
        assert delivery.template_job_finished(session, ids(2)[0], "failed:user block") is not None
        assert delivery.template_job_finished(session, ids(2)[0], "failed:user block") is None  # already moved
    assert _rows(sdb, bid) == {"sent": 1, "failed:user_block": 1}
    b = _broadcast(sdb, bid)
    assert (b.sent_count, b.failed_count) == (1, 1)


def test_job_finished_events_are_not_answered(client: Any, user: Any, settings: Any) -> None:
    db = Database(settings.database_url)
    with db.session() as session:
        session.add(Follower(openid=user.openid, subscribed=True))
        bid = add_broadcast(session, "mass", TEXT, status=FINISHED)
        b = session.get(Broadcast, bid)
        assert b is not None
        b.mass_msg_id, b.sent_count = 777, 0
        session.add(
            OutboundMessage(
                idempotency_key=f"bc:{bid}:x", openid=user.openid, channel="mass", payload_json="{}", status="sent",
                broadcast_id=bid,
            )
        )  # fmt: skip
    fields = user.fields(
        MsgType="event", Event="MASSSENDJOBFINISH", MsgID=777, Status="send success", TotalCount=1, FilterCount=1,
        SentCount=1, ErrorCount=0,
    )  # fmt: skip
    response = user.push(fields)
    assert response.status_code == 200 and response.data in (b"", b"success")
    with db.session() as session:
        assert session.get(Broadcast, bid).sent_count == 1  # type: ignore[union-attr]
    db.dispose()


def test_template_job_finished_is_matched_by_openid_and_msgid(
    client: Any, user: Any, sdb: Database, sgateway: Gateway, sender_settings: Any, emulator: RunningEmulator
) -> None:
    """Through the webhook: WeChat's TEMPLATESENDJOBFINISH names the user (FromUserName) and the msgid; only the
    broadcast row that got that msgid moves, and a template that is not a broadcast's (an inquiry's answer to the
    same user) moves nothing."""
    other = ids(1)[0]
    with sdb.session() as session:
        add_followers(session, emulator, [user.openid, other])
        bid = add_broadcast(session)
    _start(sdb, sender_settings)
    assert _pass(sdb, sgateway, sender_settings)["sent"] == 2
    (ours,) = [d["msgid"] for d in emulator.deliveries(user.openid, "template")]
    answer = sgateway.official.send_template(
        user.openid, TEMPLATE_ID, {"first": {"value": "答复"}}, client_msg_id="inq:9"
    )
    with sdb.session() as session:
        row = session.scalars(
            select(OutboundMessage).where(OutboundMessage.broadcast_id == bid, OutboundMessage.openid == user.openid)
        ).one()
        assert row.payload_json == delivery.msgid_payload(ours)  # the sender kept WeChat's msgid on the row

    pushed = iter(range(1_700_000_000, 1_700_000_100))  # each push its own CreateTime (the same one is a retry)

    def finished(msgid: int, status: str, created: int | None = None) -> None:
        fields = user.fields(MsgType="event", Event="TEMPLATESENDJOBFINISH", MsgID=msgid, Status=status,
                             CreateTime=created or next(pushed))  # fmt: skip
        response = user.push(fields)
        assert response.status_code == 200 and response.data in (b"", b"success")

    finished(answer, "failed:user block")  # the inquiry's template: not a broadcast's row
    assert _rows(sdb, bid) == {"sent": 2}
    finished(ours, "success")
    assert _rows(sdb, bid) == {"sent": 2}
    finished(ours, "failed:user block", created=1_800_000_000)
    finished(ours, "failed:user block", created=1_800_000_000)  # WeChat repeats a push: nothing more
    finished(ours, "failed:user block")  # and the same report again: the row is no longer "sent"
    assert _rows(sdb, bid) == {"sent": 1, "failed:user_block": 1}
    with sdb.session() as session:
        failed = session.scalars(select(OutboundMessage).where(OutboundMessage.status == "failed:user_block")).one()
    assert failed.openid == user.openid
    b = _broadcast(sdb, bid)
    assert (b.sent_count, b.failed_count) == (1, 1)


def test_the_send_job_starts_due_broadcasts_and_sends_them(
    sdb: Database, sender_settings: Any, emulator: RunningEmulator
) -> None:
    """The scheduler's ``broadcasts.send`` job itself, as ``python -m jobs`` runs it: a due broadcast is started
    (its rows written) and sent in the same run; one scheduled later waits; the next run finds nothing to do."""
    from core.runtime import Runtime
    from jobs import JOBS, JobContext

    with sdb.session() as session:
        add_followers(session, emulator, ids(25))
        due = add_broadcast(session)
        later = add_broadcast(session, scheduled_at=utcnow() + timedelta(days=2))
    rt = Runtime.build(sender_settings)
    try:
        (spec,) = [spec for spec in JOBS if spec.id == "broadcasts.send"]
        first = spec.func(JobContext(rt))
        second = spec.func(JobContext(rt))
    finally:
        rt.close()
    assert (first.get("sent"), first.get("finished")) == (25, 1)
    assert second == {}
    assert Counter(d["openid"] for d in emulator.deliveries(channel="template")) == Counter(ids(25))
    assert (_broadcast(sdb, due).status, _broadcast(sdb, later).status) == (FINISHED, "scheduled")
    assert _rows(sdb, later) == {}
