"""WeChat tags of mass sends, against the emulator: the gateway's tag deletion and its errors, a broadcast's tag
deleted once its mass send finished (MASSSENDJOBFINISH, cancelled, or never reported), orphans a crash left swept,
and WeChat's 100-tag limit failing the mass rows once instead of looping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select, update

from core.db import Database
from core.errors import WeChatAPIError
from emulator.testing import RunningEmulator
from jobs import JOBS, JobContext
from models import Broadcast, utcnow
from models.broadcast import CANCELLED, FINISHED, SENDING
from services.broadcasts import delivery, tags
from tests.broadcasts.delivery_helpers import TEXT, add_broadcast, add_followers, ids
from wechat.gateway import Gateway, build_gateway


@pytest.fixture
def tag_settings(gateway_settings: Any) -> Any:
    return gateway_settings(broadcasts={"send_rate_per_second": 2000, "send_concurrency": 4, "send_batch": 50})


@pytest.fixture
def tdb(tag_settings: Any) -> Iterator[Database]:
    database = Database(tag_settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def tgateway(tag_settings: Any, cache: redis.Redis) -> Gateway:
    return build_gateway(tag_settings, cache)


def _names(gateway: Gateway) -> dict[str, int]:
    return {t.name: t.count for t in gateway.official.list_tags()}


def _sweep(tdb: Database, gateway: Gateway, keep_hours: int = 24) -> tags.SweepReport:
    return tags.sweep(lambda: tdb.session(write=True), gateway.official, keep_hours=keep_hours)


def _mass_broadcast(tdb: Database, gateway: Gateway, settings: Any, emulator: RunningEmulator, n: int) -> int:
    with tdb.session() as session:
        add_followers(session, emulator, ids(n))
        bid = add_broadcast(session, "mass", TEXT)
    with tdb.session() as session:
        delivery.start_due(session, settings)
    delivery.send_pass(lambda: tdb.session(write=True), gateway, settings)
    return bid


def _broadcast(tdb: Database, bid: int) -> Broadcast:
    with tdb.session() as session:
        found = session.get(Broadcast, bid)
        assert found is not None
        session.expunge(found)
        return found


def test_the_gateway_deletes_tags_with_wechats_errors(tgateway: Gateway, emulator: RunningEmulator) -> None:
    official = tgateway.official
    emulator.add_followers(*ids(5))
    tag = official.create_tag("校友会理事")
    official.tag_users(tag, ids(5))
    assert _names(tgateway) == {"校友会理事": 5}
    with pytest.raises(WeChatAPIError) as system:
        official.delete_tag(2)  # 星标组, a system tag
    assert system.value.errcode == 45058
    emulator.configure(tag_delete_max_fans=3)
    with pytest.raises(WeChatAPIError) as crowded:
        official.delete_tag(tag)
    assert crowded.value.errcode == 45057
    page = official.tag_members(tag)
    assert sorted(page.openids) == sorted(ids(5))
    assert official.untag_users(tag, page.openids[:2]) == 1
    official.delete_tag(tag)  # 3 fans left: allowed, and they are untagged
    assert _names(tgateway) == {}
    assert all(tag not in emulator.control("GET", f"/users/{o}")["tagids"] for o in ids(5))
    with pytest.raises(WeChatAPIError) as unknown:
        official.delete_tag(tag)
    assert unknown.value.errcode == 45159


def test_mass_send_finished_event_lets_the_sweep_delete_the_tag(
    tdb: Database, tgateway: Gateway, tag_settings: Any, emulator: RunningEmulator
) -> None:
    bid = _mass_broadcast(tdb, tgateway, tag_settings, emulator, 60)
    b = _broadcast(tdb, bid)
    assert b.status == FINISHED and b.mass_tag_id is not None
    name = f"{tags.TAG_PREFIX}{bid}-"
    (ours,) = [n for n in _names(tgateway) if n.startswith(name)]
    report = _sweep(tdb, tgateway)  # WeChat has not reported the job yet: the tag stays
    assert (report.deleted, report.kept) == (0, 1) and ours in _names(tgateway)
    with tdb.session() as session:
        assert delivery.mass_job_finished(session, int(b.mass_msg_id or 0), sent=60, errors=0) == bid
    assert _broadcast(tdb, bid).mass_tag_id is None
    report = _sweep(tdb, tgateway)
    assert (report.deleted, report.kept) == (1, 0)
    assert _names(tgateway) == {}
    assert emulator.control("GET", f"/users/{ids(1)[0]}")["tagids"] == []
    assert _sweep(tdb, tgateway).deleted == 0  # nothing left to do


def test_a_finished_send_whose_event_never_came_gives_its_tag_up_later(
    tdb: Database, tgateway: Gateway, tag_settings: Any, emulator: RunningEmulator
) -> None:
    bid = _mass_broadcast(tdb, tgateway, tag_settings, emulator, 3)
    assert _sweep(tdb, tgateway, keep_hours=1).kept == 1
    with tdb.session() as session:
        session.execute(update(Broadcast).where(Broadcast.id == bid).values(finished_at=utcnow().replace(year=2025)))
    report = _sweep(tdb, tgateway, keep_hours=1)
    assert (report.released, report.deleted) == (1, 1)
    assert _names(tgateway) == {}


def test_cancelled_broadcast_and_crash_orphans_are_swept_but_not_staff_tags(
    tdb: Database, tgateway: Gateway, tag_settings: Any, emulator: RunningEmulator
) -> None:
    official = tgateway.official
    with tdb.session() as session:
        add_followers(session, emulator, ids(4))
        cancelled = add_broadcast(session, "mass", TEXT, status=CANCELLED)
        sending = add_broadcast(session, "mass", TEXT, status=SENDING)
        untagged = add_broadcast(session, "mass", TEXT, status=SENDING)
    now = utcnow()
    made = {bid: official.create_tag(tags.tag_name(bid, now)) for bid in (cancelled, sending, untagged)}
    official.tag_users(made[cancelled], ids(4))
    orphan = official.create_tag(tags.tag_name(99999, now))  # its broadcast never recorded it (crash)
    staff = official.create_tag("xy-board")  # not our naming: never ours to delete
    with tdb.session() as session:
        for bid in (cancelled, sending):
            session.execute(update(Broadcast).where(Broadcast.id == bid).values(mass_tag_id=made[bid]))
    report = _sweep(tdb, tgateway)
    # The cancelled broadcast's tag and the orphan go; the sending one keeps its tag; the one that made a tag but
    # has not recorded it yet (it may be doing so right now) keeps it too.
    assert (report.released, report.deleted, report.kept) == (1, 2, 2)
    left = {t.id for t in official.list_tags()}
    assert left == {made[sending], made[untagged], staff} and orphan not in left
    with tdb.session() as session:
        held = {i: t for i, t in session.execute(select(Broadcast.id, Broadcast.mass_tag_id))}
    assert (held[cancelled], held[sending], held[untagged]) == (None, made[sending], None)
    # Once the sending broadcast records a second tag, the first it made (before a crash) is an orphan.
    with tdb.session() as session:
        session.execute(update(Broadcast).where(Broadcast.id == untagged).values(mass_tag_id=staff + 1000))
    assert _sweep(tdb, tgateway).deleted == 1
    assert {t.id for t in official.list_tags()} == {made[sending], staff}


def test_a_tag_with_too_many_fans_is_untagged_then_deleted(
    tdb: Database, tgateway: Gateway, emulator: RunningEmulator
) -> None:
    emulator.add_followers(*ids(120))
    tag = tgateway.official.create_tag(tags.tag_name(424242, utcnow()))
    tgateway.official.tag_users(tag, ids(120))
    emulator.configure(tag_delete_max_fans=20)
    report = _sweep(tdb, tgateway)
    assert report.deleted == 1 and report.untagged == 100  # 50 a round until at most 20 were left
    assert _names(tgateway) == {}


def test_at_100_tags_the_sender_sweeps_first_then_fails_the_mass_rows_once(
    tdb: Database, tgateway: Gateway, tag_settings: Any, emulator: RunningEmulator
) -> None:
    emulator.configure(tags_max=3)
    official = tgateway.official
    for name in ("理事会", "志愿者"):
        official.create_tag(name)
    official.create_tag(tags.tag_name(88888, utcnow()))  # an orphan of ours: the sender sweeps it and goes on
    first = _mass_broadcast(tdb, tgateway, tag_settings, emulator, 5)
    assert _broadcast(tdb, first).status == FINISHED
    assert len(emulator.deliveries(channel="mass")) == 5
    # Now the account is full with tags that are not ours to delete (and the first send's, still awaiting its event).
    with tdb.session() as session:
        second = add_broadcast(session, "mass", TEXT)
        delivery.start_due(session, tag_settings)
    counts = delivery.send_pass(lambda: tdb.session(write=True), tgateway, tag_settings)
    assert counts.get("finished") == 1
    b = _broadcast(tdb, second)
    assert (b.status, b.failed_count, b.sent_count, b.mass_tag_id) == (FINISHED, 5, 0, None)
    with tdb.session() as session:
        assert delivery.progress(session, second) == {"failed:45056": 5}
    # 3 by hand; each broadcast: one refused, a sweep, one more (the first got it, the second did not): no loop.
    assert emulator.calls().get("/cgi-bin/tags/create") == 7
    assert len(emulator.deliveries(channel="mass")) == 5


def test_the_tags_job_runs_the_sweep(tag_settings: Any, tgateway: Gateway, emulator: RunningEmulator) -> None:
    from core.runtime import Runtime

    orphan = tgateway.official.create_tag(tags.tag_name(77777, utcnow()))
    rt = Runtime.build(tag_settings)
    try:
        (spec,) = [spec for spec in JOBS if spec.id == "broadcasts.tags"]
        report = spec.func(JobContext(rt))
    finally:
        rt.close()
    assert report.deleted == 1
    assert orphan not in {t.id for t in tgateway.official.list_tags()}


def test_a_mass_send_refused_for_its_content_fails_once_and_gives_its_tag_up(
    tdb: Database, tgateway: Gateway, tag_settings: Any, emulator: RunningEmulator
) -> None:
    with tdb.session() as session:
        add_followers(session, emulator, ids(3))
        bid = add_broadcast(session, "mass", {"kind": "text", "text": ""})  # WeChat answers 44004: empty content
        delivery.start_due(session, tag_settings)
    delivery.send_pass(lambda: tdb.session(write=True), tgateway, tag_settings)
    b = _broadcast(tdb, bid)
    assert (b.status, b.failed_count, b.mass_msg_id) == (FINISHED, 3, None)
    with tdb.session() as session:
        assert delivery.progress(session, bid) == {"failed:44004": 3}
    assert emulator.calls().get("/cgi-bin/message/mass/sendall") == 1  # not again next pass
    delivery.send_pass(lambda: tdb.session(write=True), tgateway, tag_settings)
    assert emulator.calls().get("/cgi-bin/message/mass/sendall") == 1
    report = _sweep(tdb, tgateway)  # finished without a mass send: its tag goes at once
    assert (report.released, report.deleted) == (1, 1) and _names(tgateway) == {}
