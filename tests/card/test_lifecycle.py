"""A card's life after issue: a suspended card is never replaced by issuing beside it, and cards past their
validity are marked expired by the scheduled job (and answer "expired" before it runs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.app import EXTENSION
from core.errors import Conflict
from jobs import JOBS, JobContext
from models import AuditEntry, Card, CardApplication, ScanLog, utcnow
from services import cards
from services.cards import applications as card_applications
from tests.card.conftest import CLAIM_ZHANG


def _issue_by_applying(user) -> str:
    applied = user.post("/card/applications", json=CLAIM_ZHANG)
    assert applied.json["status"] == "issued"
    return str(applied.json["card_number"])


def _cards_of(db, person_id: int) -> list[tuple[str, str]]:
    with db.session() as session:
        rows = session.execute(select(Card.number, Card.status).where(Card.person_id == person_id).order_by(Card.id))
        return [(number, status) for number, status in rows]


def test_a_suspended_holder_applying_again_gets_no_second_card(api, mp_user, alumni, db, card_settings) -> None:
    user = mp_user(21)
    number = _issue_by_applying(user)
    person = alumni["张晓明"]
    with db.session() as session:
        card = session.scalars(select(Card).where(Card.number == number)).one()
        cards.suspend(session, card.id, actor="staff", reason="核查中")
        suspended_id = card.id

    again = user.post("/card/applications", json=CLAIM_ZHANG)
    assert again.status_code == 201 and again.json["status"] == "review"  # staff decide, nothing issued
    with pytest.raises(Conflict, match=f"suspended card {suspended_id}: reinstate or revoke"), db.session() as s:
        card_applications.approve(s, card_settings.card, again.json["id"], actor="staff:zhou", person_id=person)
    assert _cards_of(db, person) == [(number, "suspended")]
    with db.session() as session:
        assert session.get(CardApplication, again.json["id"]).status == "review"  # the refused approval left nothing

    with db.session() as session:  # the office decides the old card is gone for good, then approves
        cards.revoke(session, suspended_id, actor="staff", reason="身份核实后换发")
    with db.session() as session:
        approved = card_applications.approve(
            session, card_settings.card, again.json["id"], actor="staff:zhou", person_id=person
        )
        assert approved.status == "issued"
    assert [status for _, status in _cards_of(db, person)] == ["revoked", "active"]


def test_issuing_beside_a_suspended_card_is_refused_with_the_reason(db, alumni, card_settings) -> None:
    person = alumni["李娜"]
    with db.session() as session:
        card = cards.issue(session, card_settings.card, person, actor="staff")
        cards.suspend(session, card.id, actor="staff", reason="核查中")
    with pytest.raises(Conflict) as refused, db.session() as session:
        cards.issue(session, card_settings.card, person, actor="staff")
    assert refused.value.user_message and "已暂停" in refused.value.user_message
    with db.session() as session:  # reinstating is the way back, and it keeps the number
        assert cards.reinstate(session, card.id, actor="staff").status == "active"


def test_cards_past_validity_answer_expired_and_the_job_marks_them(api, mp_user, alumni, db, scanner) -> None:
    user = mp_user(22)
    number = _issue_by_applying(user)
    token = user.get("/card/code").json["token"]
    with db.session() as session:
        card = session.scalars(select(Card).where(Card.number == number)).one()
        card.expires_at = utcnow() - timedelta(minutes=1)
        card_id, version = card.id, card.version
    verified = api.post("/api/v1/card/verify", json={"token": token}, headers=scanner)
    assert verified.json["result"] == "expired"  # before the job has run
    refused = user.get("/card/code")
    assert refused.status_code == 409 and "已过期" in refused.json["error"]["message"]

    assert cards.expire_due(db.session) == 1
    assert cards.expire_due(db.session) == 0  # idempotent
    with db.session() as session:
        card = session.get(Card, card_id)
        assert (card.status, card.version) == ("expired", version + 1)
        audit = session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "card.expired")).all()
        assert audit == ["job:card.expire"]
    assert user.get("/card").json["status"] == "expired"


def test_the_expiry_job_covers_suspended_cards_in_batches_and_spares_valid_ones(db, alumni, card_settings) -> None:
    past, future = utcnow() - timedelta(days=1), utcnow() + timedelta(days=30)
    with db.session() as session:
        first = cards.issue(session, card_settings.card, alumni["张晓明"], actor="staff")
        second = cards.issue(session, card_settings.card, alumni["李娜"], actor="staff")
        valid = cards.issue(session, card_settings.card, alumni["王芳"], actor="staff")
        cards.suspend(session, second.id, actor="staff", reason="核查中")
        first.expires_at, second.expires_at, valid.expires_at = past, past, future
        ids = (first.id, second.id, valid.id)
    with pytest.raises(Conflict, match=r"expired on .* while suspended"), db.session() as session:
        cards.reinstate(session, ids[1], actor="staff")  # not brought back past its validity
    assert cards.expire_due(db.session, batch=1) == 2
    with db.session() as session:
        assert [session.get(Card, i).status for i in ids] == ["expired", "expired", "active"]


def test_the_scheduler_runs_the_expiry_job(card_app, db, alumni, card_settings) -> None:
    with db.session() as session:
        card = cards.issue(session, card_settings.card, alumni["王芳"], actor="staff")
        card.expires_at = utcnow() - timedelta(seconds=1)
        card_id = card.id
    (job,) = [spec for spec in JOBS if spec.id == "card.expire"]
    assert job.func(JobContext(card_app.extensions[EXTENSION])) == 1
    with db.session() as session:
        assert session.get(Card, card_id).status == "expired"


def test_the_scheduler_writes_queued_scans_every_minute(card_app, api, mp_user, db, alumni, scanner) -> None:
    user = mp_user(23)
    _issue_by_applying(user)
    token = user.get("/card/code").json["token"]
    assert api.post("/api/v1/card/verify", json={"token": token}, headers=scanner).json["result"] == "valid"
    (job,) = [spec for spec in JOBS if spec.id == "card.scans.flush"]
    assert job.trigger(card_app.extensions[EXTENSION].settings).interval == timedelta(seconds=60)
    assert job.func(JobContext(card_app.extensions[EXTENSION])) == 1
    with db.session() as session:
        assert session.scalars(select(ScanLog.result)).all() == ["valid"]
