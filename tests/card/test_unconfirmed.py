"""Applying with details the databank cannot confirm (issue 16, "one typo locks the applicant out").

A claim that does not match is answered "could not be confirmed", the same for every reason it did not match, and
waits for nobody: the applicant corrects it and applies again, within the verification limits (per user, per IP,
global), which are what stops guessing. Or they ask staff to review a diploma photo (uploading it is the request),
or ask the class liaison (``method = vouch``), and they can withdraw what waits. A later attempt that matches issues
the card at once and closes whatever still waited, so staff never act on it. Over HTTP, against a real database, a
real Redis and the WeChat emulator.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core import texts
from core.errors import Conflict
from models import AuditEntry, CardApplication, VerificationClaim
from services.cards import applications as card_applications
from services.cards.lifecycle import person_id_for
from services.databank import verification
from tests.card.conftest import CLAIM_LI, CLAIM_WANG_UNMATCHED, CLAIM_ZHANG, PNG, MpUser

TYPO_ZHANG = {**CLAIM_ZHANG, "id_last4": "1234"}  # 张晓明's number and name, a wrong ID last four
NOBODY = {"name": "赵六", "student_no": "2099999", "id_last4": "1234"}  # no such alumnus


def apply(user: MpUser, claim: dict[str, Any], **kw: Any) -> Any:
    return user.post("/card/applications", json=claim, **kw)


def upload(user: MpUser, application_id: int) -> Any:
    return user.post(f"/card/applications/{application_id}/evidence", data=PNG, content_type="application/octet-stream")


def withdraw(user: MpUser, application_id: int) -> Any:
    return user.post(f"/card/applications/{application_id}/withdraw")


def answer(response: Any) -> dict[str, Any]:
    """What an answer says, without what differs for every application (its id and time)."""
    return {k: v for k, v in response.json.items() if k not in ("id", "created_at")}


def card_settings(api: Any) -> Any:
    from core.app import EXTENSION

    return api.application.extensions[EXTENSION].settings.card


def test_a_typo_is_not_confirmed_and_the_corrected_details_issue_the_card(api, mp_user, alumni, db) -> None:
    user = mp_user(41)
    typo = apply(user, TYPO_ZHANG)
    assert typo.status_code == 201, typo.json
    assert typo.json["status"] == "unconfirmed"
    assert typo.json["status_name"] == texts.CARD_APPLICATION_STATUS_NAMES["unconfirmed"]
    assert typo.json["message"] == texts.CARD_APPLICATION_MESSAGES["unconfirmed"]
    assert typo.json["card_number"] is None and typo.json["decided_at"] is None
    # "No such alumnus" is answered exactly like "the details do not match".
    nobody = apply(mp_user(42), NOBODY)
    assert nobody.status_code == 201 and answer(nobody) == answer(typo)
    with db.session() as session:
        assert card_applications.pending(session) == []  # no staff work in the card queue
        assert verification.pending_reviews(session) == []  # nor in the identity-review queue
        assert {c.status for c in session.scalars(select(VerificationClaim))} == {"unconfirmed"}

    fixed = apply(user, CLAIM_ZHANG)
    assert fixed.status_code == 201, fixed.json
    assert fixed.json["status"] == "issued" and fixed.json["card_number"]
    assert user.get("/card").json["holder_name"] == "张晓明"
    assert user.get(f"/card/applications/{typo.json['id']}").json["status"] == "unconfirmed"  # the attempt stays


def test_details_of_someone_bound_elsewhere_are_answered_like_a_typo(
    make_app, card_settings_factory, emulator, alumni
) -> None:
    """Right details for a person another WeChat account holds: the same answer as a typo, and counted like one,
    so neither the answer nor the limit tells a guesser that the guess was right."""
    api = make_app(card_settings_factory(verification={"failures_per_openid": 2})).test_client()
    holder = MpUser(api, emulator, "o_mp_holder", "u_holder").login()
    assert apply(holder, CLAIM_ZHANG).json["status"] == "issued"
    guesser = MpUser(api, emulator, "o_mp_guesser", "u_guesser").login()
    typo = apply(guesser, TYPO_ZHANG)
    right = apply(guesser, CLAIM_ZHANG)
    assert right.status_code == typo.status_code == 201 and answer(right) == answer(typo)
    assert apply(guesser, CLAIM_ZHANG).status_code == 429


def test_typo_attempts_count_against_the_per_user_limit(make_app, card_settings_factory, emulator, alumni) -> None:
    api = make_app(card_settings_factory(verification={"failures_per_openid": 2})).test_client()
    user = MpUser(api, emulator, "o_mp_typist", "u_typist").login()
    assert [apply(user, TYPO_ZHANG).json["status"] for _ in range(2)] == ["unconfirmed", "unconfirmed"]
    # The limit is what stops guessing: within the window even the right details wait.
    limited = apply(user, CLAIM_ZHANG)
    assert limited.status_code == 429
    assert limited.json["error"] == {"code": "rate_limited", "message": texts.VERIFY_RATE_LIMITED}
    other = MpUser(api, emulator, "o_mp_careful", "u_careful").login()
    assert apply(other, CLAIM_LI).json["status"] == "issued"  # per user: nobody else is held back


def test_typo_attempts_count_against_the_per_ip_limit(make_app, card_settings_factory, emulator, alumni) -> None:
    api = make_app(card_settings_factory(verification={"failures_per_ip": 2})).test_client()
    here = {"environ_base": {"REMOTE_ADDR": "203.0.113.7"}}
    first, second, third = (MpUser(api, emulator, f"o_mp_cafe_{n}", None).login() for n in range(3))
    assert apply(first, TYPO_ZHANG, **here).json["status"] == "unconfirmed"
    assert apply(second, NOBODY, **here).json["status"] == "unconfirmed"
    assert apply(third, CLAIM_ZHANG, **here).status_code == 429
    elsewhere = apply(third, CLAIM_ZHANG, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert elsewhere.json["status"] == "issued"


def test_the_applicant_can_ask_staff_to_review_a_diploma_photo(api, mp_user, alumni, db) -> None:
    user = mp_user(43)
    applied = apply(user, CLAIM_WANG_UNMATCHED)
    assert applied.json["status"] == "unconfirmed"
    app_id = applied.json["id"]
    assert upload(user, app_id).status_code == 201  # the upload is the request for review
    polled = user.get(f"/card/applications/{app_id}").json
    assert (polled["status"], polled["evidence_count"]) == ("review", 1)
    assert polled["message"] == texts.CARD_APPLICATION_MESSAGES["review"]
    with db.session() as session:
        assert [a.id for a in card_applications.pending(session)] == [app_id]
        claim_id = session.get(CardApplication, app_id).claim_id
        assert [c.id for c in verification.pending_reviews(session)] == [claim_id]

    # One application waits at a time: another attempt is answered, but cannot be sent for review beside it.
    again = apply(user, CLAIM_WANG_UNMATCHED)
    assert again.status_code == 201 and again.json["status"] == "unconfirmed"
    second = upload(user, again.json["id"])
    assert second.status_code == 409
    assert second.json["error"]["message"] == texts.CARD_APPLICATION_OPEN.format(application_id=app_id)

    with db.session() as session:
        card_applications.approve(session, card_settings(api), app_id, actor="staff:zhou", person_id=alumni["王芳"])
    assert user.get("/card").json["holder_name"] == "王芳"
    with db.session() as session:
        assert person_id_for(session, mp_openid=user.openid) == alumni["王芳"]  # the identity is bound


def test_the_applicant_can_withdraw_what_waits(api, mp_user, alumni, db) -> None:
    user = mp_user(44)
    app_id = apply(user, CLAIM_WANG_UNMATCHED).json["id"]
    assert upload(user, app_id).status_code == 201
    vouch = apply(user, {**CLAIM_WANG_UNMATCHED, "method": "vouch"})
    assert vouch.status_code == 409
    assert vouch.json["error"]["message"] == texts.CARD_VOUCH_WHILE_OPEN.format(application_id=app_id)

    withdrawn = withdraw(user, app_id)
    assert withdrawn.status_code == 200, withdrawn.json
    assert withdrawn.json["status"] == "withdrawn" and withdrawn.json["decided_at"]
    assert user.get(f"/card/applications/{app_id}").json["status"] == "withdrawn"
    twice = withdraw(user, app_id)
    assert twice.status_code == 409 and twice.json["error"]["message"] == texts.CARD_WITHDRAW_CLOSED
    assert upload(user, app_id).status_code == 409
    with db.session() as session:
        assert card_applications.pending(session) == [] and verification.pending_reviews(session) == []
        with pytest.raises(Conflict):
            card_applications.approve(session, card_settings(api), app_id, actor="staff:zhou", person_id=alumni["王芳"])
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "card.application.withdrawn")).one()
        assert entry.actor == "applicant" and entry.detail["application_id"] == app_id

    # Now the class liaison can be asked instead; that application can be withdrawn as well.
    vouching = apply(user, {**CLAIM_WANG_UNMATCHED, "method": "vouch"})
    assert vouching.status_code == 201 and vouching.json["status"] == "vouching"
    assert withdraw(user, vouching.json["id"]).json["status"] == "withdrawn"


def test_another_users_application_is_not_found_exactly_like_a_missing_one(api, mp_user, alumni) -> None:
    owner, other = mp_user(45), mp_user(46)
    app_id = apply(owner, {**CLAIM_WANG_UNMATCHED, "method": "vouch"}).json["id"]
    theirs = withdraw(other, app_id)
    missing = withdraw(other, app_id + 1000)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json == missing.json
    assert owner.get(f"/card/applications/{app_id}").json["status"] == "vouching"  # untouched
    assert withdraw(owner, app_id).status_code == 200


@pytest.mark.parametrize("waiting", ["review", "vouching"])
def test_a_matching_attempt_issues_the_card_and_closes_what_waited(api, mp_user, alumni, db, waiting) -> None:
    user = mp_user(47)
    if waiting == "review":
        app_id = apply(user, TYPO_ZHANG).json["id"]
        assert upload(user, app_id).status_code == 201
    else:
        app_id = apply(user, {**TYPO_ZHANG, "method": "vouch"}).json["id"]
    assert user.get(f"/card/applications/{app_id}").json["status"] == waiting

    fixed = apply(user, CLAIM_ZHANG)
    assert fixed.status_code == 201, fixed.json
    assert fixed.json["status"] == "issued"
    old = user.get(f"/card/applications/{app_id}").json
    assert old["status"] == "superseded" and old["decided_at"]
    assert old["status_name"] == texts.CARD_APPLICATION_STATUS_NAMES["superseded"]
    with db.session() as session:
        assert card_applications.pending(session) == [] and verification.pending_reviews(session) == []
        row = session.get(CardApplication, app_id)
        assert row.decided_by == "verification" and row.card_id is None  # the card is the later application's
        assert session.get(VerificationClaim, row.claim_id).status == "closed"
        with pytest.raises(Conflict):  # staff cannot act on it later
            card_applications.approve(session, card_settings(api), app_id, actor="staff:zhou")
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "card.application.superseded")).one()
        assert entry.actor == "verification" and entry.person_id == alumni["张晓明"]
        assert entry.detail == {"application_id": app_id, "by_application_id": fixed.json["id"]}
