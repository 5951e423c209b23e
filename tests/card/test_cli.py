"""``python -m cli card …`` as staff run it against a live database, Redis and the WeChat emulator: scanner
credentials, the review queue with the applicant told, and status changes by card number."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.commands import main
from core.settings import Settings
from emulator.testing import RunningEmulator
from models import AuditEntry, Card, ScannerCredential
from services.databank import demo
from services.databank.keys import Keyring
from services.events import registration
from services.events.registration import Registrant
from tests.card.conftest import CLAIM_WANG_UNMATCHED, CLAIM_ZHANG, CODE_KEYS, TEMPLATE, ask_for_review
from tests.conftest import AES_KEY, APPID, TOKEN
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS
from tests.events.conftest import make_event
from tests.gateway.conftest import MP_APPID, MP_SECRET


@pytest.fixture
def env(card_settings: Settings, redis_url: str, emulator: RunningEmulator, tmp_path: Path) -> dict[str, str]:
    return {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": card_settings.database_url,
        "REDIS_URL": redis_url,
        "XIAOYOU__WECHAT__APPID": APPID,
        "XIAOYOU__WECHAT__SECRET": "test-secret",
        "XIAOYOU__WECHAT__TOKEN": TOKEN,
        "XIAOYOU__WECHAT__AES_KEY": AES_KEY,
        "XIAOYOU__WECHAT__API_BASE_URL": emulator.url,
        "XIAOYOU__MINIPROGRAM__APPID": MP_APPID,
        "XIAOYOU__MINIPROGRAM__SECRET": MP_SECRET,
        "XIAOYOU__PRIVACY__ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "XIAOYOU__PRIVACY__HMAC_KEYS": HMAC_KEYS,
        "XIAOYOU__CARD__CODE_KEYS": CODE_KEYS,
        "XIAOYOU__CARD__DECISION_TEMPLATE_ID": TEMPLATE,
    }


def card(env: dict[str, str], *args: str) -> Any:
    """Run ``card ARGS`` as staff:zhou (read-only commands take no actor)."""
    actor = [] if {"list", "pending", "show"} & set(args) else ["--actor", "staff:zhou"]
    return CliRunner().invoke(main, ["card", *args, *actor], env=env, catch_exceptions=False)


def test_a_desk_credential_is_shown_once_works_and_can_be_revoked(env, api, mp_user, alumni) -> None:
    added = card(env, "scanners", "add", "图书馆东门")
    assert added.exit_code == 0, added.output
    credential = added.stdout.strip()
    assert "shown only this once" in added.stderr and credential.count(".") == 1
    user = mp_user(31)
    user.post("/card/applications", json=CLAIM_ZHANG)
    desk = {"Authorization": f"Bearer {credential}"}
    scanned = api.post("/api/v1/card/verify", json={"token": user.get("/card/code").json["token"]}, headers=desk)
    assert scanned.json["result"] == "valid"

    scanner_id = credential.split(".")[0]
    listed = card(env, "scanners", "list")
    assert f"{scanner_id}\t图书馆东门\tlive" in listed.output and credential.split(".")[1] not in listed.output
    assert card(env, "scanners", "revoke", scanner_id).exit_code == 0
    assert "revoked" in card(env, "scanners", "list").output
    again = api.post("/api/v1/card/verify", json={"token": user.get("/card/code").json["token"]}, headers=desk)
    assert again.status_code == 401


def test_a_desk_credential_scoped_to_an_event_checks_the_holder_in(env, api, mp_user, alumni, db) -> None:
    """``scanners add --event ID``: the same event-scoped credential the console's check-in desk issues."""
    with db.session() as session:
        event_id = make_event(session, starts_in=timedelta(hours=1), title="返校日").id
        registration.register(session, event_id, Registrant(alumni["张晓明"]), channel="console")
    added = card(env, "scanners", "add", "礼堂正门", "--event", str(event_id))
    assert added.exit_code == 0, added.output
    assert f"for event {event_id} created" in added.stderr
    credential = added.stdout.strip()
    user = mp_user(41)
    user.post("/card/applications", json=CLAIM_ZHANG)
    desk = {"Authorization": f"Bearer {credential}"}
    scanned = api.post("/api/v1/card/verify", json={"token": user.get("/card/code").json["token"]}, headers=desk)
    assert scanned.json["result"] == "valid" and scanned.json["checkin"]["outcome"] == "checked_in"
    assert scanned.json["checkin"]["event_id"] == event_id
    scanner_id = credential.split(".")[0]
    assert f"{scanner_id}\t礼堂正门\tlive" in (listed := card(env, "scanners", "list").output)
    assert listed.splitlines()[0].endswith(f"\tevent {event_id}")
    with db.session() as session:
        scanner = session.get(ScannerCredential, int(scanner_id))
        assert scanner is not None and scanner.event_id == event_id
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "card.scanner.create")).one()
        assert audited.actor == "staff:zhou"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("999999", "Invalid value for --event: no event 999999"),
        ("abc", "Invalid value for '--event': 'abc' is not a valid integer"),
        ("0", "Invalid value for '--event': 0 is not in the range 1<=x<=2147483647"),
        ("99999999999", "Invalid value for '--event': 99999999999 is not in the range 1<=x<=2147483647"),
    ],
)
def test_an_unknown_or_malformed_event_is_refused_with_exit_2(env, db, event: str, message: str) -> None:
    refused = card(env, "scanners", "add", "礼堂正门", "--event", event)
    assert refused.exit_code == 2 and message in refused.output, refused.output
    assert "Traceback" not in refused.output
    with db.session() as session:
        assert session.scalars(select(ScannerCredential)).all() == []  # nothing was issued


def test_the_review_queue_approve_and_reject_tell_the_applicant(env, mp_user, alumni, emulator, db) -> None:
    first, second = mp_user(32), mp_user(33)
    approved_id, rejected_id = (ask_for_review(user, CLAIM_WANG_UNMATCHED) for user in (first, second))
    queue = card(env, "pending")
    assert f"{approved_id}\treview\tverification" in queue.output and f"{rejected_id}\treview" in queue.output

    emulator.control("POST", "/consents", {"openid": first.openid, "template_id": TEMPLATE})
    approved = card(env, "approve", str(approved_id), "--person", str(alumni["王芳"]))
    assert approved.exit_code == 0, approved.output
    with db.session() as session:
        number = session.scalars(select(Card.number).where(Card.person_id == alumni["王芳"])).one()
    assert f"approved: card {number}" in approved.output and "told by subscribe message" in approved.output
    assert first.get("/card").json["number"] == number

    no_reason = card(env, "reject", str(rejected_id))
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    rejected = card(env, "reject", str(rejected_id), "--reason", "学籍信息无法核实")
    assert rejected.exit_code == 0 and "could not be told" in rejected.stderr  # no consent, not a follower
    assert second.get(f"/card/applications/{rejected_id}").json["status"] == "rejected"
    twice = card(env, "reject", str(rejected_id), "--reason", "again")
    assert twice.exit_code == 1 and "conflict" in twice.output
    assert card(env, "pending").stderr.strip() == "nothing waiting"


def test_status_changes_by_card_number(env, mp_user, alumni, db) -> None:
    user = mp_user(34)
    number = user.post("/card/applications", json=CLAIM_ZHANG).json["card_number"]
    assert card(env, "suspend", number, "--reason", "核查中").exit_code == 0
    assert f"card {number}: suspended (核查中)" in card(env, "show", number).output
    assert user.get("/card").json["status"] == "suspended"
    assert card(env, "reinstate", number).exit_code == 0
    lost = card(env, "lost", number)
    assert lost.exit_code == 0 and "replacement card" in lost.output
    replacement = lost.output.strip().rsplit(" ", 1)[1]
    assert user.get("/card").json["number"] == replacement
    assert card(env, "revoke", replacement, "--reason", "身份冒用").exit_code == 0
    assert user.get("/card").json["status"] == "revoked"
    missing = card(env, "suspend", "202600000000", "--reason", "x")
    assert missing.exit_code == 1 and "not_found: no card numbered 202600000000" in missing.output
    with db.session() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "staff:zhou")).all()
    assert actions == ["card.suspended", "card.active", "card.lost", "card.issue", "card.revoked"]


def test_pending_lists_only_what_waits_for_staff(env, mp_user, alumni) -> None:
    """Not a not-confirmed attempt (nobody waits on it), nor what was withdrawn or closed by a matching attempt."""
    typo, review, vouch, withdrawn, superseded = (mp_user(n) for n in range(35, 40))
    assert typo.post("/card/applications", json=CLAIM_WANG_UNMATCHED).json["status"] == "unconfirmed"
    review_id = ask_for_review(review, CLAIM_WANG_UNMATCHED)
    vouch_id = vouch.post("/card/applications", json={**CLAIM_WANG_UNMATCHED, "method": "vouch"}).json["id"]
    gone_id = withdrawn.post("/card/applications", json={**CLAIM_WANG_UNMATCHED, "method": "vouch"}).json["id"]
    assert withdrawn.post(f"/card/applications/{gone_id}/withdraw").status_code == 200
    ask_for_review(superseded, {**CLAIM_ZHANG, "id_last4": "1234"})
    assert superseded.post("/card/applications", json=CLAIM_ZHANG).json["status"] == "issued"

    queue = card(env, "pending")
    assert queue.exit_code == 0, queue.output
    lines = queue.stdout.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[str(review_id), "review"], [str(vouch_id), "vouching"]]
    assert lines[0].endswith("1 evidence files")


def test_demo_pick_prints_a_seeded_alumnus_who_gets_a_card(
    env: dict[str, str], card_settings: Settings, db: Any, mp_user: Any
) -> None:
    assert CliRunner().invoke(main, ["demo", "pick"], env=env).exit_code == 1  # nothing seeded: it says so
    with db.session() as session:
        demo.seed(session, Keyring.from_settings(card_settings.privacy), card_settings.databank, count=60)
    picked = CliRunner().invoke(main, ["demo", "pick"], env=env, catch_exceptions=False)
    assert picked.exit_code == 0, picked.output
    claim = json.loads(picked.output)
    assert set(claim) == {"name", "student_no", "id_last4"}
    other = json.loads(CliRunner().invoke(main, ["demo", "pick", "--nth", "2"], env=env).output)
    assert other["student_no"] != claim["student_no"]

    applicant = mp_user(7)
    applied = applicant.post("/card/applications", json=claim)
    assert applied.status_code == 201, applied.json
    assert applied.json["status"] == "issued"
    assert applicant.get("/card").json["holder_name"] == claim["name"]
