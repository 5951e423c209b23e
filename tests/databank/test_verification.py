"""Identity verification against the databank: matching, one answer for every failure, rate limits with an alarm,
flags instead of re-binding, and manual review."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, RateLimited, ValidationFailed
from core.settings import Settings
from models import Person, VerificationClaim, WeChatIdentity
from services.databank import audit, importer, privacy, verification
from services.databank.keys import Keyring
from services.databank.verification import Claim
from tests.databank.conftest import HEADER, ID_1, ID_2, row, write_csv


@pytest.fixture
def client(redis_url: str, clean: None) -> Any:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def alumni(session: Session, db_settings: Settings, keyring: Keyring, tmp_path) -> dict[str, int]:
    rows = [
        row("张晓明", "2015001", 身份证号=ID_1, 班级="软件1501"),
        row("李娜", "2015002", 身份证号=ID_2, 班级="软件1501"),
        row("王芳", "2015003", 班级="软件1502"),
    ]
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", rows, HEADER), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    session.commit()
    return {p.name: p.id for p in session.scalars(select(Person))}


def claim_for(session, client, keyring, db_settings, claim: Claim, openid="o_user_1", ip="10.0.0.1", **kw):
    return verification.verify(
        session, client, keyring, db_settings.verification, openid=openid, channel="mp", ip=ip, claim=claim, **kw
    )


def test_match_by_student_number_and_last_four(session, client, keyring, db_settings, alumni) -> None:
    outcome = claim_for(
        session, client, keyring, db_settings, Claim("張曉明", student_no="2015001", id_last4="002x"), unionid="u_1"
    )
    assert outcome.status == "matched" and outcome.person_id == alumni["张晓明"] and "张晓明" in outcome.message
    bound = {(w.kind, w.value) for w in session.scalars(select(WeChatIdentity))}
    assert bound == {("mp_openid", "o_user_1"), ("unionid", "u_1")}
    again = claim_for(session, client, keyring, db_settings, Claim("张晓明", student_no="2015001", id_last4="002X"))
    assert again.status == "matched"  # the same identity again: nothing changes


def test_match_by_class_and_birth_date(session, client, keyring, db_settings, alumni) -> None:
    claim = Claim("李娜", grad_year=2019, college="计算机学院", class_name="软件1501", birth_date=date(1990, 3, 7))
    outcome = claim_for(session, client, keyring, db_settings, claim)
    assert (outcome.status, outcome.person_id) == ("matched", alumni["李娜"])


def test_no_such_person_and_wrong_details_get_the_same_answer(session, client, keyring, db_settings, alumni) -> None:
    wrong = claim_for(session, client, keyring, db_settings, Claim("张晓明", student_no="2015001", id_last4="1234"))
    nobody = claim_for(
        session, client, keyring, db_settings, Claim("赵六", student_no="2099999", id_last4="1234"), openid="o_user_2"
    )
    no_id = claim_for(
        session, client, keyring, db_settings, Claim("王芳", student_no="2015003", id_last4="1234"), openid="o_user_3"
    )
    for outcome in (wrong, nobody, no_id):
        assert (outcome.status, outcome.person_id) == ("review", None)
        assert outcome.message == wrong.message.replace(str(wrong.claim_id), str(outcome.claim_id))
    reviews = verification.pending_reviews(session)
    assert [(r.reason, r.claim["factor"]) for r in reviews] == [("no_match", "id_last4")] * 3
    assert "1234" not in str([r.claim for r in reviews])  # the second factor is never stored
    assert session.scalars(select(WeChatIdentity)).all() == []


def test_every_answer_is_padded_to_the_same_minimum_time(session, client, keyring, db_settings, alumni) -> None:
    ticks = iter([100.0, 100.05])
    slept: list[float] = []
    settings = db_settings.verification.model_copy(update={"min_response_seconds": 0.4})
    verification.verify(
        session,
        client,
        keyring,
        settings,
        openid="o",
        channel="mp",
        ip="1.1.1.1",
        claim=Claim("赵六", student_no="1", id_last4="1234"),
        clock=lambda: next(ticks),
        sleep=slept.append,
    )
    assert slept == [pytest.approx(0.35)]


def test_five_failures_per_openid_in_the_window(session, client, keyring, db_settings, alumni) -> None:
    bad = Claim("张晓明", student_no="2015001", id_last4="9999")
    for _ in range(db_settings.verification.failures_per_openid):
        assert claim_for(session, client, keyring, db_settings, bad).status == "review"
    with pytest.raises(RateLimited) as info:
        claim_for(session, client, keyring, db_settings, Claim("张晓明", student_no="2015001", id_last4="002X"))
    assert "15 分钟" in info.value.user_message
    ok = claim_for(
        session,
        client,
        keyring,
        db_settings,
        Claim("张晓明", student_no="2015001", id_last4="002X"),
        openid="o_other",
        ip="10.0.0.9",
    )
    assert ok.status == "matched"  # another user, elsewhere, is not held back
    ttl = client.ttl(next(iter(client.scan_iter("xy:verify:fail:openid:*"))))
    assert 0 < ttl <= db_settings.verification.window_seconds


def test_ip_and_global_limits_with_an_alarm(
    session, client, keyring, db_settings, alumni, settings_factory, caplog
) -> None:
    limits = db_settings.verification.model_copy(update={"failures_per_ip": 3, "failures_global": 5})
    bad = Claim("张晓明", student_no="2015001", id_last4="9999")

    def attempt(openid: str, ip: str) -> Any:
        return verification.verify(session, client, keyring, limits, openid=openid, channel="oa", ip=ip, claim=bad)

    for n in range(3):
        attempt(f"o_{n}", "10.9.9.9")
    with pytest.raises(RateLimited):
        attempt("o_fresh", "10.9.9.9")
    attempt("o_a", "10.1.1.1")
    attempt("o_b", "10.1.1.2")
    with caplog.at_level(logging.CRITICAL, logger="services.databank.verification"):
        with pytest.raises(RateLimited):
            attempt("o_c", "10.1.1.3")
        with pytest.raises(RateLimited):
            attempt("o_d", "10.1.1.4")
    alarms = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(alarms) == 1 and "global limit" in alarms[0].getMessage()


def test_a_claimed_person_is_flagged_not_rebound(session, client, keyring, db_settings, alumni) -> None:
    good = Claim("张晓明", student_no="2015001", id_last4="002X")
    assert claim_for(session, client, keyring, db_settings, good, openid="o_first").status == "matched"
    second = claim_for(session, client, keyring, db_settings, good, openid="o_second")
    assert second.status == "review"
    review = session.get(VerificationClaim, second.claim_id)
    assert review is not None and (review.reason, review.person_id) == ("already_claimed", alumni["张晓明"])
    assert [w.value for w in session.scalars(select(WeChatIdentity))] == ["o_first"]
    # The first identity cannot be used to claim someone else either.
    other = claim_for(
        session, client, keyring, db_settings, Claim("李娜", student_no="2015002", id_last4=ID_2[-4:]), openid="o_first"
    )
    assert session.get(VerificationClaim, other.claim_id).reason == "identity_elsewhere"


def test_deceased_and_restricted_people_go_to_review(session, client, keyring, db_settings, alumni) -> None:
    privacy.restrict(session, alumni["李娜"], restricted=True, actor="t")
    outcome = claim_for(session, client, keyring, db_settings, Claim("李娜", student_no="2015002", id_last4=ID_2[-4:]))
    assert session.get(VerificationClaim, outcome.claim_id).reason == "restricted"
    privacy.correct(session, alumni["张晓明"], actor="t", person={"deceased": True}, source="registrar")
    outcome = claim_for(
        session, client, keyring, db_settings, Claim("张晓明", student_no="2015001", id_last4="002X"), openid="o_9"
    )
    assert session.get(VerificationClaim, outcome.claim_id).reason == "deceased"


def test_manual_review_decides(session, client, keyring, db_settings, alumni) -> None:
    outcome = claim_for(session, client, keyring, db_settings, Claim("王芳", student_no="2015003", id_last4="1234"))
    with pytest.raises(ValidationFailed):
        verification.decide(session, outcome.claim_id, approve=True, actor="staff:li")
    verification.decide(session, outcome.claim_id, approve=True, actor="staff:li", person_id=alumni["王芳"])
    assert {(w.person_id, w.value) for w in session.scalars(select(WeChatIdentity))} == {(alumni["王芳"], "o_user_1")}
    with pytest.raises(Conflict):
        verification.decide(session, outcome.claim_id, approve=False, actor="staff:li")
    assert verification.pending_reviews(session) == []


def test_incomplete_claims_are_refused(session, client, keyring, db_settings, alumni) -> None:
    for claim in (
        Claim("张晓明", id_last4="002X"),  # neither student number nor class
        Claim("张晓明", student_no="2015001"),  # no second factor
        Claim("张晓明", student_no="2015001", id_last4="12"),
        Claim("", student_no="2015001", id_last4="002X"),
        Claim("张晓明", grad_year=2019, college="计算机学院", id_last4="002X"),  # no class
    ):
        with pytest.raises(ValidationFailed):
            claim_for(session, client, keyring, db_settings, claim)


def test_without_review_a_claim_that_does_not_bind_waits_for_nobody(
    session, client, keyring, db_settings, alumni
) -> None:
    """``review=False`` (the card application): every claim that does not bind is ``unconfirmed`` with one answer,
    whatever the reason, and counts against the limits alike; it reaches the review queue only when filed, and
    leaves it, audited, when closed."""
    good = Claim("张晓明", student_no="2015001", id_last4="002X")
    assert claim_for(session, client, keyring, db_settings, good, openid="o_holder", review=False).status == "matched"
    typo = claim_for(
        session, client, keyring, db_settings, Claim("张晓明", student_no="2015001", id_last4="1234"), review=False
    )
    bound_elsewhere = claim_for(session, client, keyring, db_settings, good, review=False)  # right, but claimed
    for outcome in (typo, bound_elsewhere):
        assert (outcome.status, outcome.person_id, outcome.message) == ("unconfirmed", None, typo.message)
    assert [session.get(VerificationClaim, o.claim_id).reason for o in (typo, bound_elsewhere)] == [
        "no_match",
        "already_claimed",
    ]
    assert verification.pending_reviews(session) == []
    assert int(client.get(next(iter(client.scan_iter("xy:verify:fail:openid:*"))))) == 2  # both counted

    verification.file_for_review(session, typo.claim_id)
    assert [c.id for c in verification.pending_reviews(session)] == [typo.claim_id]
    with pytest.raises(Conflict):
        verification.file_for_review(session, typo.claim_id)  # only an unconfirmed claim is filed
    verification.close_review(session, typo.claim_id, actor="applicant", why="withdrawn")
    assert verification.pending_reviews(session) == []
    closed = session.get(VerificationClaim, typo.claim_id)
    assert (closed.status, closed.decided_by) == ("closed", "applicant")
    with pytest.raises(Conflict):
        verification.decide(session, typo.claim_id, approve=True, actor="staff:li", person_id=alumni["张晓明"])
    (entry,) = audit.entries(session, action="identity.review_closed")
    assert entry.detail == {"claim_id": typo.claim_id, "why": "withdrawn"}
