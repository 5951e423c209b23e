"""The card's QR token and the scanners' endpoint: status changes take effect at once; replayed, expired, forged
and tampered codes fail; scans are logged and purged; forged codes and enumeration hit their rate limits."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from core import redis_keys
from models import Card, ScanLog, utcnow
from services import cards
from services.cards import applications as card_applications
from tests.card.conftest import CLAIM_LI, CLAIM_ZHANG


def verify(api, scanner, token: str):
    # buffered: the response is sent and closed at once, as a WSGI server does (close runs the after-send work)
    return api.post("/api/v1/card/verify", json={"token": token}, headers=scanner, buffered=True)


def issued(mp_user, n: int, claim: dict[str, str]) -> tuple[Any, str]:
    user = mp_user(n)
    applied = user.post("/card/applications", json=claim)
    assert applied.json["status"] == "issued"
    return user, applied.json["card_number"]


def card_id(db, number: str) -> int:
    with db.session() as session:
        return session.scalars(select(Card.id).where(Card.number == number)).one()


def test_suspend_reinstate_revoke_take_effect_at_once(api, mp_user, alumni, db, scanner) -> None:
    user, number = issued(mp_user, 1, CLAIM_ZHANG)
    cid = card_id(db, number)
    before = user.get("/card/code").json["token"]
    with db.session() as session:
        cards.suspend(session, cid, actor="staff", reason="核查中")
    assert verify(api, scanner, before).json == {"result": "suspended", "holder_name": None, "card_status": None}
    assert user.get("/card").json["status"] == "suspended"
    assert user.get("/card/code").status_code == 404  # no code for a card that cannot be used
    with db.session() as session:
        cards.reinstate(session, cid, actor="staff")
    assert verify(api, scanner, before).json["result"] == "expired"  # signed for the old version
    fresh = user.get("/card/code").json["token"]
    with db.session() as session:
        cards.revoke(session, cid, actor="staff", reason="身份冒用")
    assert verify(api, scanner, fresh).json["result"] == "revoked"


def test_lost_card_is_replaced_and_the_old_one_stops(api, mp_user, alumni, db, scanner, card_settings) -> None:
    user, number = issued(mp_user, 2, CLAIM_ZHANG)
    old_token = user.get("/card/code").json["token"]
    with db.session() as session:
        new = cards.report_lost(session, card_settings.card, card_id(db, number), actor="staff")
        new_number = new.number
    assert new_number != number and cards.is_valid_number(new_number)
    assert verify(api, scanner, old_token).json["result"] == "revoked"
    shown = user.get("/card").json
    assert shown["number"] == new_number and shown["status"] == "active"
    assert verify(api, scanner, user.get("/card/code").json["token"]).json["result"] == "valid"


def test_replayed_expired_forged_and_tampered_codes(api, mp_user, alumni, db, scanner, card_settings) -> None:
    user, number = issued(mp_user, 3, CLAIM_ZHANG)
    token = user.get("/card/code").json["token"]
    assert verify(api, scanner, token).json["result"] == "valid"
    assert verify(api, scanner, token).json["result"] == "expired"  # replayed: each code verifies once

    cid = card_id(db, number)
    past = int(time.time()) - 1
    stale = cards.sign_token(card_settings.card, cid, 1, past, secrets.token_bytes(8))
    assert verify(api, scanner, stale).json["result"] == "expired"  # a screenshot a minute later

    other_key = card_settings.card.model_copy(update={"code_keys": "c1:" + base64.b64encode(b"x" * 32).decode()})
    forged = cards.sign_token(other_key, cid, 1, int(time.time()) + 60, secrets.token_bytes(8))
    assert verify(api, scanner, forged).json["result"] == "forged"

    fresh = user.get("/card/code").json["token"]
    kid, body = fresh.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=="))
    raw[3] ^= 0x01  # another card id, same signature
    tampered = kid + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert verify(api, scanner, tampered).json["result"] == "forged"
    for junk in ("x", "c1.", "c1.!!!!", "zz." + body, fresh + "A"):
        assert verify(api, scanner, junk).json["result"] == "forged"
    assert verify(api, scanner, fresh).json["result"] == "valid"  # the untampered one still works


def test_verify_needs_a_scanner_credential(api, mp_user, alumni, db, scanner) -> None:
    user, _ = issued(mp_user, 4, CLAIM_ZHANG)
    token = user.get("/card/code").json["token"]
    assert verify(api, {}, token).status_code == 401
    assert verify(api, user.headers, token).status_code == 401  # a user's session is not a scanner
    assert verify(api, {"Authorization": "Bearer 1.wrong"}, token).status_code == 401
    with db.session() as session:
        scanner_id = int(scanner["Authorization"].split()[1].split(".")[0])
        cards.revoke_scanner(session, scanner_id, actor="staff")
    assert verify(api, scanner, token).status_code == 401


def test_scans_are_logged_and_purged(api, mp_user, alumni, db, scanner, card_settings, redis_url) -> None:
    user, _ = issued(mp_user, 5, CLAIM_ZHANG)
    verify(api, scanner, user.get("/card/code").json["token"])
    verify(api, scanner, "forged")
    with db.session() as session:
        assert session.scalars(select(ScanLog.result)).all() == []  # queued in Redis, written in batches
    client = redis.Redis.from_url(redis_url)
    assert client.llen(redis_keys.card_scan_queue()) == 2
    with db.session() as session:
        assert card_applications.purge_expired(db.session, client, card_settings.card) == {"evidence": 0, "scans": 0}
    client.close()
    with db.session() as session:
        results = sorted(session.scalars(select(ScanLog.result)))
        assert results == ["forged", "valid"]
        assert cards.purge_scans(session, card_settings.card.scan_log_retention_days) == 0
        later = utcnow() + timedelta(days=card_settings.card.scan_log_retention_days + 1)
        assert cards.purge_scans(session, card_settings.card.scan_log_retention_days, now=later) == 2


def test_forged_codes_hit_the_scanner_limit(api, scanner, card_settings) -> None:
    limit = card_settings.card.forged_per_scanner
    answers = [verify(api, scanner, f"c1.{'A' * 54}").status_code for _ in range(limit + 1)]
    assert answers[:limit] == [200] * limit and answers[limit] == 429


def test_one_user_cannot_see_or_change_another_users_application(api, mp_user, alumni) -> None:
    owner = mp_user(6)
    app_id = owner.post("/card/applications", json={**CLAIM_LI, "id_last4": "0000"}).json["id"]
    other = mp_user(7)
    assert other.get(f"/card/applications/{app_id}").status_code == 404
    upload = other.post(f"/card/applications/{app_id}/evidence", data=b"%PDF-1.4\n%%EOF\n")
    assert upload.status_code == 404
    assert other.get("/card").status_code == 404
    assert owner.get(f"/card/applications/{app_id}").status_code == 200


def test_enumerating_applications_hits_the_rate_limit(api, mp_user, card_settings) -> None:
    user = mp_user(8)
    limit = card_settings.card.not_found_per_user
    statuses = [user.get(f"/card/applications/{1000 + i}").status_code for i in range(limit + 1)]
    assert statuses[:limit] == [404] * limit and statuses[limit] == 429
    assert user.get(f"/card/applications/{5000}").json["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("held", ["active", "suspended"])
def test_at_most_one_held_card_per_person_in_the_database(db, alumni, held) -> None:
    person = alumni["张晓明"]
    now = utcnow()
    row = {"person_id": person, "tier": "standard", "status": held, "version": 1, "issued_at": now,
           "updated_at": now}  # fmt: skip
    with db.session() as session:
        session.execute(insert(Card).values(number=cards.new_number(2026), **row))
    for second in ("active", "suspended"):
        with pytest.raises(IntegrityError), db.session() as session:
            session.execute(insert(Card).values(number=cards.new_number(2026), **{**row, "status": second}))
    with db.session() as session:  # cards no longer held do not count
        for gone in ("revoked", "expired", "lost"):
            session.execute(insert(Card).values(number=cards.new_number(2026), **{**row, "status": gone}))


def test_card_numbers_are_year_random_and_check_digit() -> None:
    numbers = {cards.new_number(2026) for _ in range(200)}
    assert len(numbers) == 200 and all(cards.is_valid_number(n) and n.startswith("2026") for n in numbers)
    n = cards.new_number(2026)
    wrong = n[:-1] + str((int(n[-1]) + 1) % 10)
    assert not cards.is_valid_number(wrong)
    ordered = sorted(numbers)
    assert any(int(b) - int(a) > 1000 for a, b in itertools.pairwise(ordered))  # not sequential


def test_scan_log_is_written_in_batches(api, mp_user, alumni, db, scanner) -> None:
    user, _ = issued(mp_user, 9, CLAIM_ZHANG)
    for _ in range(cards.SCAN_BATCH - 1):
        assert verify(api, scanner, user.get("/card/code").json["token"]).json["result"] == "valid"
    with db.session() as session:
        assert session.scalars(select(ScanLog.id)).all() == []  # queued
    unbuffered = api.post("/api/v1/card/verify", json={"token": user.get("/card/code").json["token"]}, headers=scanner)
    assert unbuffered.json["result"] == "valid"
    with db.session() as session:
        assert session.scalars(select(ScanLog.id)).all() == []  # the answer is out before the batch is written
    unbuffered.close()
    with db.session() as session:
        assert len(session.scalars(select(ScanLog.id)).all()) == cards.SCAN_BATCH


def test_a_request_writes_one_batch_and_leaves_a_long_queue_to_others(api, mp_user, alumni, db, scanner, redis_url):
    user, _ = issued(mp_user, 10, CLAIM_ZHANG)
    client = redis.Redis.from_url(redis_url)
    scanner_id = int(scanner["Authorization"].split()[1].split(".")[0])
    backlog = [json.dumps([scanner_id, None, "forged", time.time()]) for _ in range(2 * cards.SCAN_BATCH + 50)]
    client.rpush(redis_keys.card_scan_queue(), *backlog)  # a backlog, as a burst of scans leaves it
    assert verify(api, scanner, user.get("/card/code").json["token"]).json["result"] == "valid"
    with db.session() as session:
        assert len(session.scalars(select(ScanLog.id)).all()) == cards.SCAN_BATCH
    # the rest waits for the next trigger or the job
    assert client.llen(redis_keys.card_scan_queue()) == cards.SCAN_BATCH + 51
    client.close()


def test_scans_of_deleted_cards_and_scanners_never_block_the_queue(api, mp_user, alumni, db, scanner, redis_url):
    user, number = issued(mp_user, 11, CLAIM_ZHANG)
    assert verify(api, scanner, user.get("/card/code").json["token"]).json["result"] == "valid"
    client = redis.Redis.from_url(redis_url)
    # a scanner since deleted
    client.rpush(redis_keys.card_scan_queue(), json.dumps([2**31 - 1, None, "forged", time.time()]))
    with db.session() as session:  # the holder's record is deleted while the scan waits in the queue
        session.delete(session.get(Card, card_id(db, number)))
    assert cards.flush_scans(db.session, client) == 1
    assert client.llen(redis_keys.card_scan_queue()) == 0
    client.close()
    with db.session() as session:
        assert session.execute(select(ScanLog.card_id, ScanLog.result)).all() == [(None, "valid")]


def test_a_revoked_holder_applying_again_waits_for_staff(api, mp_user, alumni, db) -> None:
    user, number = issued(mp_user, 10, CLAIM_ZHANG)
    with db.session() as session:
        cards.revoke(session, card_id(db, number), actor="staff", reason="身份冒用")
    again = user.post("/card/applications", json=CLAIM_ZHANG)
    assert again.status_code == 201 and again.json["status"] == "review" and again.json["card_number"] is None
    assert user.get("/card").json["status"] == "revoked"
