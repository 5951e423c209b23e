"""Checking in at an event (services/events/checkin.py) through its real edges: the alumni card's rotating code
scanned through POST /api/v1/card/verify with a scanner credential scoped to the event (once only; another person's
code; revoked, suspended, expired cards and old codes; a waitlisted registrant; the wrong event's scanner; an
unscoped scanner answering exactly as before), the event's check-in QR scanned through the webhook (SCAN and a
follow with the scene), and the console's check-in desk (counts, the live feed, search and manual check-in, scanner
credentials, the QR from the emulator, branch scoping 403). The browser test is in test_checkin_browser.py."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import texts
from core.errors import NotFound
from models import AuditEntry, Card, Event, EventRegistration, Follower, ScannerCredential, utcnow
from models.association import Association, AssociationAdmin
from models.event import CHECKIN_CARD, CHECKIN_DESK, CHECKIN_SCENE
from services import cards
from services.cards.scanners import VALID, Verification
from services.events import checkin, registration
from services.events.registration import Registrant
from tests.admin import conftest as admin_fixtures
from tests.admin import test_cards
from tests.admin.conftest import post, text
from tests.card.conftest import CLAIM_LI, CLAIM_ZHANG, MpUser
from tests.conftest import WeChatUser
from tests.events.conftest import make_event

# The card tests' world on the console's app (test_cards.py): the emulator, three alumni in the databank, mini-program
# users who apply for and show their card; and the console's staff accounts.
emulator, card_settings_factory, console_settings = (
    test_cards.emulator,
    test_cards.card_settings_factory,
    test_cards.console_settings,
)
api, db, alumni, mp_user = test_cards.api, test_cards.db, test_cards.alumni, test_cards.mp_user
card_app, card_settings = test_cards.card_app, test_cards.card_settings
console_app, keyring, make_member, signed_in = (
    admin_fixtures.console_app, admin_fixtures.keyring, admin_fixtures.make_member, admin_fixtures.signed_in,
)  # fmt: skip


# --- helpers ------------------------------------------------------------------------------------------------------


def holder(mp_user: Any, n: int, claim: dict[str, str]) -> MpUser:
    """A mini-program user who applied with matching details: their card is issued at once."""
    user: MpUser = mp_user(n)
    applied = user.post("/card/applications", json=claim)
    assert applied.status_code == 201 and applied.json["status"] == "issued", applied.json
    return user


def code(user: MpUser) -> str:
    shown = user.get("/card/code")
    assert shown.status_code == 200, shown.json
    return str(shown.json["token"])


def event_with(
    db: Any, *, people: tuple[int, ...] = (), starts_in: timedelta = timedelta(hours=1), **fields: Any
) -> int:
    """A published event starting soon (its check-in window is open), with ``people`` registered in order."""
    with db.session() as session:
        event = make_event(session, starts_in=starts_in, **fields)
        for person_id in people:
            registration.register(session, event.id, Registrant(person_id), channel="console")
        return event.id


def scoped_scanner(db: Any, event_id: int, label: str = "礼堂正门") -> dict[str, str]:
    with db.session() as session:
        _, credential = checkin.create_event_scanner(session, event_id, label=label, actor="staff:test")
    return {"Authorization": f"Bearer {credential}"}


def verify(api: FlaskClient, scanner: dict[str, str], token: str) -> Any:
    return api.post("/api/v1/card/verify", json={"token": token}, headers=scanner)


def registration_of(db: Any, event_id: int, person_id: int) -> EventRegistration:
    with db.session() as session:
        return session.scalars(
            select(EventRegistration).where(
                EventRegistration.event_id == event_id, EventRegistration.person_id == person_id
            )
        ).one()


def card_id(db: Any, person_id: int) -> int:
    with db.session() as session:
        return int(session.scalars(select(Card.id).where(Card.person_id == person_id)).one())


# --- by card, through the real verify endpoint ----------------------------------------------------------------------


def test_a_scoped_scanner_checks_the_holder_in_once(api, db, mp_user, alumni) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    event_id = event_with(db, people=(alumni["张晓明"],), capacity=10)
    door = scoped_scanner(db, event_id)

    first_code = code(zhang)
    first = verify(api, door, first_code)
    assert first.status_code == 200
    assert first.json["result"] == "valid" and first.json["holder_name"] == "张晓明"
    done = first.json["checkin"]
    assert done["outcome"] == "checked_in" and done["event_id"] == event_id
    reg = registration_of(db, event_id, alumni["张晓明"])
    assert done["registration_id"] == reg.id
    assert reg.checked_in_at is not None and reg.checkin_method == CHECKIN_CARD
    with db.session() as session:
        scanner = session.scalars(select(ScannerCredential).where(ScannerCredential.event_id == event_id)).one()
    assert reg.checkin_scanner_id == scanner.id
    hhmm = checkin.CheckIn(checkin.CHECKED_IN, checked_in_at=reg.checked_in_at).message.split("（")[1][:5]
    assert done["message"] == texts.CHECKIN_OUTCOMES["checked_in"].format(at=hhmm)

    # A second scan, with a fresh code: recorded once, and the desk is told when.
    again = verify(api, door, code(zhang))
    assert again.json["result"] == "valid"
    assert again.json["checkin"]["outcome"] == "already"
    assert again.json["checkin"]["message"] == texts.CHECKIN_OUTCOMES["already"].format(at=hhmm)
    assert registration_of(db, event_id, alumni["张晓明"]).checked_in_at == reg.checked_in_at

    # The first code again (a screenshot): the card path says it is used, and nothing is checked in.
    replay = verify(api, door, first_code)
    assert replay.json["result"] == "expired"
    assert replay.json["checkin"]["outcome"] == "card_invalid"
    assert replay.json["checkin"]["message"] == texts.CHECKIN_CARD_REFUSED.format(
        reason=texts.CHECKIN_CARD_REASONS["expired"]
    )


def test_an_unscoped_scanner_answers_exactly_as_before_and_checks_nobody_in(api, db, mp_user, alumni) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    event_id = event_with(db, people=(alumni["张晓明"],))
    with db.session() as session:
        _, credential = cards.create_scanner(session, label="图书馆东门", actor="staff")
    answer = verify(api, {"Authorization": f"Bearer {credential}"}, code(zhang))
    assert answer.json == {"result": "valid", "holder_name": "张晓明", "card_status": "active"}
    assert registration_of(db, event_id, alumni["张晓明"]).checked_in_at is None


def test_the_verify_answer_documents_its_optional_checkin(api) -> None:
    schemas = api.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert "checkin" in schemas["VerifyResult"]["properties"]
    assert "checkin" not in schemas["VerifyResult"].get("required", [])
    assert set(schemas["CheckinView"]["properties"]["outcome"]["enum"]) == set(checkin.OUTCOMES)


def test_a_card_of_someone_not_registered_and_another_persons_code(api, db, mp_user, alumni) -> None:
    zhang, li = holder(mp_user, 1, CLAIM_ZHANG), holder(mp_user, 2, CLAIM_LI)
    event_id = event_with(db, people=(alumni["张晓明"],))
    door = scoped_scanner(db, event_id)

    # 李娜 holds a valid card but did not register: the desk is told, and decides.
    answer = verify(api, door, code(li))
    assert answer.json["result"] == "valid" and answer.json["holder_name"] == "李娜"
    assert answer.json["checkin"]["outcome"] == "not_registered"
    assert answer.json["checkin"]["message"] == texts.CHECKIN_OUTCOMES["not_registered"]
    assert registration_of(db, event_id, alumni["张晓明"]).checked_in_at is None

    # 张晓明's code, forwarded to 李娜 after 张晓明 used it: refused with the card path's reason.
    forwarded = code(zhang)
    assert verify(api, door, forwarded).json["checkin"]["outcome"] == "checked_in"
    refused = verify(api, door, forwarded)
    assert refused.json["result"] == "expired" and refused.json["holder_name"] is None
    assert refused.json["checkin"]["outcome"] == "card_invalid"
    with db.session() as session:
        checked = session.scalars(select(EventRegistration).where(EventRegistration.checked_in_at.is_not(None))).all()
    assert [r.person_id for r in checked] == [alumni["张晓明"]]  # the holder, never the one presenting the code


@pytest.mark.parametrize("change", ["suspended", "revoked", "expired", "old_code"])
def test_refused_cards_check_nobody_in(api, db, mp_user, alumni, change) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    event_id = event_with(db, people=(alumni["张晓明"],))
    door = scoped_scanner(db, event_id)
    token = code(zhang)
    held = card_id(db, alumni["张晓明"])
    with db.session() as session:
        if change == "suspended":
            cards.suspend(session, held, actor="staff", reason="核查中")
        elif change == "revoked":
            cards.revoke(session, held, actor="staff", reason="冒领")
        elif change == "expired":
            cards.expire(session, held, actor="system")
        else:  # suspended and reinstated: the code signed before is for an older version of the card
            cards.suspend(session, held, actor="staff", reason="核查中")
            cards.reinstate(session, held, actor="staff")
    result = {"old_code": "expired"}.get(change, change)
    answer = verify(api, door, token)
    assert answer.status_code == 200
    assert answer.json["result"] == result
    assert answer.json["checkin"]["outcome"] == "card_invalid"
    assert answer.json["checkin"]["message"] == texts.CHECKIN_CARD_REFUSED.format(
        reason=texts.CHECKIN_CARD_REASONS[result]
    )
    assert registration_of(db, event_id, alumni["张晓明"]).checked_in_at is None


def test_the_wrong_events_scanner_and_a_revoked_one(api, db, mp_user, alumni) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    mine = event_with(db, people=(alumni["张晓明"],), title="返校日")
    other = event_with(db, title="学术交流会")
    other_door = scoped_scanner(db, other, "交流会门口")
    answer = verify(api, other_door, code(zhang))
    assert answer.json["result"] == "valid"
    assert answer.json["checkin"]["outcome"] == "not_registered" and answer.json["checkin"]["event_id"] == other
    assert registration_of(db, mine, alumni["张晓明"]).checked_in_at is None

    with db.session() as session:
        scanner_id = session.scalars(select(ScannerCredential.id).where(ScannerCredential.event_id == other)).one()
        checkin.revoke_event_scanner(session, other, scanner_id, actor="staff:test")
        with pytest.raises(NotFound):
            checkin.revoke_event_scanner(session, mine, scanner_id, actor="staff:test")  # not this event's
    assert verify(api, other_door, code(zhang)).status_code == 401


def test_a_registration_made_before_the_card_is_found_by_the_bound_openid(api, db, mp_user, alumni) -> None:
    """Registered in the mini-program before verifying (the registrant is the openid, not the person): the card,
    issued later to that openid's person, still finds and checks in that registration."""
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    with db.session() as session:
        event = make_event(session, starts_in=timedelta(hours=1))
        early = registration.register(
            session, event.id, Registrant(None, mp_openid=zhang.openid), channel="miniprogram"
        )
        event_id, early_id = event.id, early.id
        assert early.registrant == f"mp:{zhang.openid}" and early.person_id is None
    answer = verify(api, scoped_scanner(db, event_id), code(zhang))
    assert answer.json["checkin"]["outcome"] == "checked_in"
    assert answer.json["checkin"]["registration_id"] == early_id


def test_a_waitlisted_registrant_is_not_confirmed(api, db, mp_user, alumni) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    event_id = event_with(db, people=(alumni["李娜"], alumni["张晓明"]), capacity=1)
    assert registration_of(db, event_id, alumni["张晓明"]).status == "waitlisted"
    answer = verify(api, scoped_scanner(db, event_id), code(zhang))
    assert answer.json["result"] == "valid"
    assert answer.json["checkin"]["outcome"] == "not_confirmed"
    assert registration_of(db, event_id, alumni["张晓明"]).checked_in_at is None


def test_outside_the_window_and_a_cancelled_event(api, db, mp_user, alumni) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    later = event_with(db, people=(alumni["张晓明"],), starts_in=timedelta(days=2))
    assert verify(api, scoped_scanner(db, later), code(zhang)).json["checkin"]["outcome"] == "not_open"
    soon = event_with(db, people=(alumni["张晓明"],))
    door = scoped_scanner(db, soon)
    from services.events import catalog

    with db.session() as session:
        catalog.cancel_event(session, soon, actor="staff:test")
    assert verify(api, door, code(zhang)).json["checkin"]["outcome"] == "event_closed"


def test_two_desks_scanning_the_same_registrant_record_one_check_in(db, alumni) -> None:
    """The conditional UPDATE decides: the second of two check-ins is told "already", with the first one's time."""
    event_id = event_with(db, people=(alumni["张晓明"],))
    now = utcnow()
    with db.session() as session:
        reg = session.scalars(select(EventRegistration).where(EventRegistration.event_id == event_id)).one()
        first = checkin.check_in_at_desk(session, event_id, reg.id, actor="staff:a", now=now)
        second = checkin.check_in_at_desk(session, event_id, reg.id, actor="staff:b", now=now + timedelta(minutes=3))
    assert first.outcome == "checked_in" and second.outcome == "already"
    assert second.checked_in_at == first.checked_in_at
    with db.session() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "events.checkin.desk")).all()
    assert [a.actor for a in audited] == ["staff:a"]


def test_eight_desks_scanning_one_registrant_at_once_record_one_check_in(db, alumni) -> None:
    """Eight concurrent check-ins of one registrant, each in its own transaction (PostgreSQL: row locks; SQLite: one
    writer at a time): exactly one checks in, the other seven are told "already" with the winner's time."""
    event_id = event_with(db, people=(alumni["张晓明"],))
    with db.session() as session:
        scanner, _ = checkin.create_event_scanner(session, event_id, label="门口", actor="staff:test")
        scanner_id = scanner.id
    scanned = Verification(
        VALID, "张晓明", "active", scanner_id=scanner_id, event_id=event_id, person_id=alumni["张晓明"]
    )
    barrier = threading.Barrier(8)
    results: list[checkin.CheckIn] = []

    def desk() -> None:
        barrier.wait()
        with db.session(write=True) as session:
            results.append(checkin.check_in_by_card(session, scanned))

    threads = [threading.Thread(target=desk) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.outcome for r in results) == ["already"] * 7 + ["checked_in"]
    winner = next(r for r in results if r.outcome == "checked_in")
    assert {r.checked_in_at for r in results} == {winner.checked_in_at}
    assert registration_of(db, event_id, alumni["张晓明"]).checked_in_at == winner.checked_in_at


# --- by the event's scene QR, through the webhook -----------------------------------------------------------------


_SECONDS = itertools.count(1)


def scan(user: WeChatUser, scene: str) -> str:
    """A scan while following; each a second apart, as WeChat tells pushes apart (a same-second repeat is a retry)."""
    at = int(time.time()) + next(_SECONDS)
    return user.reply(user.fields(MsgType="event", Event="SCAN", EventKey=scene, CreateTime=at)).get("Content", "")


def follow(user: WeChatUser, scene: str) -> str:
    return user.reply(user.fields(MsgType="event", Event="subscribe", EventKey=f"qrscene_{scene}")).get("Content", "")


def test_scanning_the_events_qr_checks_the_follower_in(card_app: Flask, account, db, mp_user, alumni) -> None:
    client = card_app.test_client()
    with db.session() as session:
        event = make_event(session, starts_in=timedelta(hours=1), title="返校日")
        registration.register(session, event.id, Registrant(None, oa_openid="o_oa_guest"), channel="bot")
        event_id, scene = event.id, checkin.scene(event)
        token = event.checkin_token
    guest = WeChatUser(client, account, "o_oa_guest")
    reply = scan(guest, scene)
    reg = registration_of_openid(db, event_id, "o_oa_guest")
    assert reg.checked_in_at is not None and reg.checkin_method == CHECKIN_SCENE
    at = checkin.CheckIn(checkin.CHECKED_IN, checked_in_at=reg.checked_in_at)._at()
    assert reply == texts.CHECKIN_BOT["checked_in"].format(title="返校日", at=at)
    assert scan(guest, scene) == texts.CHECKIN_BOT["already"].format(title="返校日", at=at)

    stranger = WeChatUser(client, account, "o_oa_stranger")
    assert scan(stranger, scene) == texts.CHECKIN_BOT["not_registered"].format(title="返校日", at="")
    forged = f"checkin:{event_id}:{'x' * len(token)}"
    assert scan(stranger, forged) == texts.CHECKIN_BOT["wrong_event"]
    for junk in ("checkin:abc", "checkin:²:x", f"checkin:{event_id}:", f"checkin:{'9' * 12}:{token}"):
        assert scan(stranger, junk) == texts.CHECKIN_BOT["wrong_event"]

    # A renewed token: the old QR stops working at once.
    with db.session() as session:
        checkin.renew_token(session, event_id, actor="staff:test")
    assert scan(guest, scene) == texts.CHECKIN_BOT["wrong_event"]


def test_the_desk_names_registrants_the_databank_does_not_know(signed_in, db) -> None:
    """A name as given is masked like a databank name; a registrant with no name at all reads as such."""
    with db.session() as session:
        event = make_event(session, starts_in=timedelta(hours=1))
        named = registration.register(
            session, event.id, Registrant(None, oa_openid="o_oa_tom", display_name="Tom Lee"), channel="bot"
        )
        nameless = registration.register(session, event.id, Registrant(None, mp_openid="o_mp_anon"), channel="bot")
        for reg in (named, nameless):
            checkin.check_in_at_desk(session, event.id, reg.id, actor="staff:test")
        event_id = event.id
    client, _ = signed_in("officer")
    feed = client.get(f"/admin/events/{event_id}/checkin/feed").json
    assert sorted(row["name"] for row in feed["latest"]) == sorted(["T****", texts.CHECKIN_NAMELESS])
    found = text(client.get(f"/admin/events/{event_id}/checkin", query_string={"q": "Tom"}))
    assert "T****" in found and "Tom Lee" not in found


def test_a_follow_through_the_qr_of_a_person_registered_in_the_miniprogram(
    card_app: Flask, account, db, mp_user, alumni, emulator
) -> None:
    """The card holder registered as a person; they follow the account at the door through the check-in QR: the
    follow is recorded with its scene, their openid shares the unionid of their mini-program, and they are in."""
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    event_id = event_with(db, people=(alumni["张晓明"],), title="返校日")
    with db.session() as session:
        session.add(Follower(openid="o_oa_zhang", subscribed=False, unionid=zhang.unionid))
        event = session.get(Event, event_id)
        assert event is not None
        scene = checkin.scene(event)
    reply = follow(WeChatUser(card_app.test_client(), account, "o_oa_zhang"), scene)
    reg = registration_of(db, event_id, alumni["张晓明"])
    assert reg.checked_in_at is not None and reg.checkin_method == CHECKIN_SCENE
    at = checkin.CheckIn(checkin.CHECKED_IN, checked_in_at=reg.checked_in_at)._at()
    answer = texts.CHECKIN_BOT["checked_in"].format(title="返校日", at=at)
    assert reply == texts.CHECKIN_BOT_WELCOME.format(answer=answer)
    with db.session() as session:
        follower = session.scalars(select(Follower).where(Follower.openid == "o_oa_zhang")).one()
    assert follower.subscribed and follower.subscribe_scene == scene


def registration_of_openid(db: Any, event_id: int, openid: str) -> EventRegistration:
    with db.session() as session:
        return session.scalars(
            select(EventRegistration).where(
                EventRegistration.event_id == event_id, EventRegistration.oa_openid == openid
            )
        ).one()


# --- the console's desk ---------------------------------------------------------------------------------------------


def test_the_desk_counts_searches_and_checks_in_by_hand(signed_in, db, alumni) -> None:
    event_id = event_with(db, people=(alumni["张晓明"], alumni["李娜"]), capacity=1, title="返校日")
    client, member = signed_in("officer")
    page = client.get(f"/admin/events/{event_id}/checkin")
    assert page.status_code == 200
    body = text(page)
    assert f'href="/admin/events/{event_id}"' in body and "返校日" in body
    assert 'id="count-confirmed">1<' in body and 'id="count-waitlisted">1<' in body
    assert 'id="count-remaining">1<' in body

    found = text(client.get(f"/admin/events/{event_id}/checkin", query_string={"q": "张晓明"}))
    assert "张****" in found and "张晓明" not in found.split('id="checkin-found"')[1]
    zhang = registration_of(db, event_id, alumni["张晓明"])
    li = registration_of(db, event_id, alumni["李娜"])
    assert li.status == "waitlisted"
    url = f"/admin/events/{event_id}/checkin/registrations/{zhang.id}"
    assert f'action="{url}"' in found
    page_url = f"/admin/events/{event_id}/checkin"
    done = post(client, url, page=page_url)
    assert done.status_code == 302
    landed = text(client.get(done.headers["Location"]))
    assert f"报名 {zhang.id}：签到成功" in landed
    assert registration_of(db, event_id, alumni["张晓明"]).checkin_method == CHECKIN_DESK

    again = post(client, url, page=page_url)
    assert "已于" in text(client.get(again.headers["Location"]))
    waitlisted = post(client, f"/admin/events/{event_id}/checkin/registrations/{li.id}", page=page_url)
    assert texts.CHECKIN_OUTCOMES["not_confirmed"] in text(client.get(waitlisted.headers["Location"]))

    feed = client.get(f"/admin/events/{event_id}/checkin/feed").json
    assert feed["counts"] == {"confirmed": 1, "checked_in": 1, "remaining": 0, "waitlisted": 1}
    assert [(r["registration_id"], r["name"], r["method"]) for r in feed["latest"]] == [
        (zhang.id, "张****", texts.CHECKIN_METHOD_NAMES["desk"])
    ]
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "events.checkin.desk")).one()
    assert entry.actor == f"staff:{member.username}" and entry.person_id == alumni["张晓明"]

    other = event_with(db, people=(alumni["王芳"],), title="别的活动")
    wrong = post(
        client,
        f"/admin/events/{event_id}/checkin/registrations/{registration_of(db, other, alumni['王芳']).id}",
        page=page_url,
    )
    assert texts.CHECKIN_OUTCOMES["wrong_event"] in text(client.get(wrong.headers["Location"]))
    assert client.get("/admin/events/99999999/checkin").status_code == 404
    assert client.get("/admin/events/99999999999/checkin").status_code == 404


def test_the_desk_makes_scoped_scanners_and_shows_the_qr(signed_in, db, api, mp_user, alumni, emulator) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    event_id = event_with(db, people=(alumni["张晓明"],))
    client, _ = signed_in("officer")
    page_url = f"/admin/events/{event_id}/checkin"
    page = text(client.get(page_url))
    assert 'id="checkin-qr-image"' in page and "<svg" in page  # made at the emulator, drawn here
    qr = page.split('id="checkin-qr-image">')[1].split("</div>")[0]
    assert qr in text(client.get(page_url))  # the same QR, kept: WeChat is not asked again

    created = post(client, f"{page_url}/scanners", {"label": "礼堂正门"}, page=page_url)
    assert created.status_code == 200
    credential = text(created).split('id="scanner-credential">')[1].split("<")[0]
    assert credential not in text(client.get(page_url))  # shown once
    with db.session() as session:
        scanner = session.scalars(select(ScannerCredential)).one()
    assert scanner.event_id == event_id and scanner.label == "礼堂正门"
    door = {"Authorization": f"Bearer {credential}"}
    assert verify(api, door, code(zhang)).json["checkin"]["outcome"] == "checked_in"

    empty = post(client, f"{page_url}/scanners", {"label": "  "}, page=page_url)
    assert empty.status_code == 400 and 'id="checkin-error"' in text(empty)
    revoked = post(client, f"{page_url}/scanners/{scanner.id}/revoke", page=page_url)
    assert revoked.status_code == 302
    assert verify(api, door, code(zhang)).status_code == 401
    assert post(client, f"{page_url}/scanners/99999/revoke", page=page_url).status_code == 404

    screen = client.get(f"{page_url}/screen")
    assert screen.status_code == 200 and "<svg" in text(screen)
    renewed = post(client, f"{page_url}/token", page=page_url)
    after = text(client.get(renewed.headers["Location"]))
    assert "签到码已更换" in after and "<svg" in after and qr not in after  # a new token, a new QR


def test_a_branch_admin_reaches_only_their_associations_desk(console_app, signed_in, db, alumni) -> None:
    with db.session() as session:
        east = Association(kind="regional", name_zh="上海校友会", name_en="Shanghai", created_by="test")
        west = Association(kind="regional", name_zh="成都校友会", name_en="Chengdu", created_by="test")
        session.add_all([east, west])
        session.flush()
        east_id, west_id = east.id, west.id
    mine = event_with(db, people=(alumni["张晓明"],), association_id=east_id, title="上海聚会")
    theirs = event_with(db, people=(alumni["张晓明"],), association_id=west_id, title="成都聚会")
    office = event_with(db, title="校友总会年会")
    client, member = signed_in("branch_admin")
    with db.session() as session:
        session.add(AssociationAdmin(association_id=east_id, staff_account_id=member.id, appointed_by="test"))
    assert client.get(f"/admin/events/{mine}/checkin").status_code == 200
    for event_id in (theirs, office):
        base = f"/admin/events/{event_id}/checkin"
        assert client.get(base).status_code == 403
        assert client.get(f"{base}/feed").status_code == 403
        assert client.get(f"{base}/screen").status_code == 403
        reg = registration_of(db, theirs, alumni["张晓明"])
        page = f"/admin/events/{mine}/checkin"
        assert post(client, f"{base}/registrations/{reg.id}", page=page).status_code == 403
        assert post(client, f"{base}/scanners", {"label": "门口"}, page=page).status_code == 403
    assert registration_of(db, theirs, alumni["张晓明"]).checked_in_at is None
    viewer, _ = signed_in("viewer")
    assert viewer.get(f"/admin/events/{mine}/checkin").status_code == 403  # events.checkin is not a viewer's
