"""Card applications: the identity claim, automatic issue, evidence, vouching, withdrawal, the staff decision and the
notice.

Owns the application's life (the states are in ``models.card``; the diagram in ``docs/flows/card.md``). Every
attempt is a row. The claim is checked by the databank's verification service (``services.databank.verification``):

- a clean match issues the card at once, and closes as ``superseded`` whatever the user still had waiting (recorded
  and audited, so staff do not act on it later);
- anything else is ``unconfirmed``: one answer, whatever the reason (no such alumnus, details that do not match,
  someone already bound), and it waits for nobody. A typo must not become staff work: the applicant corrects the
  details and applies again, within the verification limits (per openid, per IP, global), which stop guessing. Or
  they upload a diploma photo to it (:func:`add_evidence`), which opens it as ``review`` for staff, or apply with
  ``method = vouch``, which waits as ``vouching`` for the class liaison. One application waits at a time, and the
  applicant can :func:`withdraw` it.

Staff decide through :func:`approve` / :func:`reject` (the console calls these), then :func:`notify_decision` tells
the applicant by subscribe message if a consent is left, else by customer-service message in the official account;
when both fail the application records ``notified = failed`` and the decision stands. Evidence files are checked by
their content (JPEG, PNG or PDF), capped in size and number, and deleted ``card.evidence_retention_days`` after the
decision (or the withdrawal, or the superseding) by :func:`purge_evidence`. No Flask here; a user can only ever see
their own applications.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import redis_keys, texts
from core.errors import (
    Conflict,
    NoSubscribeConsent,
    NotFound,
    RateLimited,
    UnsupportedEvidence,
    ValidationFailed,
    WeChatAPIError,
)
from core.settings import CardSettings, VerificationSettings
from models import ApplicationEvidence, Card, CardApplication, Follower, VerificationClaim, WeChatIdentity, utcnow
from models.card import (
    APP_DECIDED,
    APP_ISSUED,
    APP_OPEN,
    APP_REJECTED,
    APP_REVIEW,
    APP_SUPERSEDED,
    APP_UNCONFIRMED,
    APP_VOUCHING,
    APP_WITHDRAWN,
    CARD_ACTIVE,
    CARD_REVOKED,
    CARD_SUSPENDED,
    NOTIFIED_CUSTOMER_SERVICE,
    NOTIFIED_SUBSCRIBE,
    NOTIFY_FAILED,
)
from models.person import OA_OPENID, UNIONID
from models.verification import MATCHED as CLAIM_MATCHED
from models.verification import REVIEW as CLAIM_REVIEW
from services import follower_links
from services.cards import scan_queue
from services.cards.lifecycle import active_card, current_card, issue, person_id_for
from services.databank import audit, verification
from services.databank.keys import Keyring, mask
from services.mp_sessions import window_hit
from services.ports import FollowerProfiles, Messenger, MiniProgramPort

log = logging.getLogger(__name__)
Method = Literal["verification", "vouch"]


def _open_application(session: Session, openid: str) -> CardApplication | None:
    return session.scalar(
        select(CardApplication).where(CardApplication.mp_openid == openid, CardApplication.status.in_(APP_OPEN))
    )


def apply(
    session: Session,
    client: redis.Redis,
    keyring: Keyring,
    verification_settings: VerificationSettings,
    card_settings: CardSettings,
    *,
    openid: str,
    unionid: str | None,
    ip: str,
    claim: verification.Claim,
    method: Method = "verification",
) -> CardApplication:
    """Apply for a card. A clean match issues it at once and closes what the user had waiting; otherwise the
    application is ``unconfirmed`` (the applicant decides what next), or ``vouching`` when they asked for that."""
    person_id = person_id_for(session, mp_openid=openid, unionid=unionid)
    if person_id is not None and active_card(session, person_id) is not None:
        raise Conflict("already holds an active card", user_message=texts.CARD_ALREADY_ISSUED)
    # A suspended card stays its holder's: applying again goes to staff (see _held_back), who reinstate or revoke it.
    waiting = _open_application(session, openid)
    if waiting is not None and method == "vouch":
        # Checked before the claim, so that asking for the liaison while something waits costs no attempt.
        raise Conflict(
            "an application is open", user_message=texts.CARD_VOUCH_WHILE_OPEN.format(application_id=waiting.id)
        )
    # Only a vouching request files a claim that does not bind for review; a plain one waits for nobody.
    outcome = verification.verify(
        session,
        client,
        keyring,
        verification_settings,
        openid=openid,
        channel="mp",
        ip=ip,
        claim=claim,
        unionid=unionid,
        review=method == "vouch",
    )
    waits = APP_REVIEW if method == "verification" else APP_VOUCHING
    matched = outcome.person_id if outcome.status == CLAIM_MATCHED else None
    application = CardApplication(
        mp_openid=openid,
        unionid=unionid,
        method=method,
        claim_id=outcome.claim_id,
        tier=card_settings.default_tier,
        person_id=matched,
        status=APP_VOUCHING if method == "vouch" else APP_UNCONFIRMED,
    )
    session.add(application)
    session.flush()
    if matched is not None:
        _supersede_waiting(session, openid, by=application)
        if _held_back(session, matched):
            application.status = waits  # staff decide: their last card was suspended or revoked
        else:
            card = issue(session, card_settings, matched, actor="verification", application_id=application.id)
            application.card_id = card.id
            application.status = APP_ISSUED
            application.decided_at = utcnow()
            application.decided_by = "verification"
        session.flush()
    log.info("card application %d: %s", application.id, application.status)
    return application


def _supersede_waiting(session: Session, openid: str, *, by: CardApplication) -> None:
    """The user's identity is now confirmed by ``by``: what they still had waiting is closed (and its claim taken out
    of review), so staff or the liaison do not decide it later."""
    waiting = session.scalars(
        select(CardApplication)
        .where(
            CardApplication.mp_openid == openid,
            CardApplication.status.in_(APP_OPEN),
            CardApplication.id != by.id,
        )
        .with_for_update()
    )
    for old in waiting:
        _close_waiting(
            session, old, APP_SUPERSEDED, actor="verification", person_id=by.person_id, by_application_id=by.id
        )


def withdraw(
    session: Session, client: redis.Redis, settings: CardSettings, *, openid: str, application_id: int
) -> CardApplication:
    """The applicant withdraws their application while it waits (review or vouching). Another user's, or none, is
    ``NotFound`` (counted, as for :func:`get_own`); one that no longer waits is a ``Conflict``."""
    application = get_own(session, openid, application_id, client=client, settings=settings)
    session.refresh(application, with_for_update=True)  # against a staff decision at the same moment
    if application.status not in APP_OPEN:
        raise Conflict(f"application {application.id} is {application.status}", user_message=texts.CARD_WITHDRAW_CLOSED)
    _close_waiting(session, application, APP_WITHDRAWN, actor="applicant", person_id=application.person_id)
    session.flush()
    return application


def _close_waiting(
    session: Session, application: CardApplication, status: str, *, actor: str, person_id: int | None, **detail: int
) -> None:
    """Close a waiting application without a decision on its merits (superseded, withdrawn): its claim leaves the
    identity-review queue and the closing is audited as ``card.application.<status>``."""
    application.status = status
    application.decided_at = utcnow()
    application.decided_by = actor
    if application.claim_id is not None:
        verification.close_review(session, application.claim_id, actor=actor, why=status)
    audit.record(
        session,
        actor=actor,
        action=f"card.application.{status}",
        person_id=person_id,
        application_id=application.id,
        **detail,
    )
    log.info("card application %d %s", application.id, status)


def _held_back(session: Session, person_id: int) -> bool:
    """A person whose card was suspended or revoked does not get a new one by applying again."""
    return (
        session.scalar(
            select(Card.id).where(Card.person_id == person_id, Card.status.in_((CARD_SUSPENDED, CARD_REVOKED))).limit(1)
        )
        is not None
    )


def get_own(
    session: Session,
    openid: str,
    application_id: int,
    *,
    client: redis.Redis | None = None,
    settings: CardSettings | None = None,
) -> CardApplication:
    """The caller's application; another user's (or none) is ``NotFound``, indistinguishably. With ``client`` and
    ``settings``, a user who keeps asking for applications that are not theirs is ``RateLimited`` (enumeration)."""
    key = redis_keys.card_application_not_found(openid)
    if client is not None and settings is not None and int(client.get(key) or 0) >= settings.not_found_per_user:
        raise RateLimited("too many lookups of absent applications")
    application = session.get(CardApplication, application_id)
    if application is None or application.mp_openid != openid:
        if client is not None and settings is not None:
            window_hit(client, key, settings.not_found_per_user, settings.limit_window_seconds)
        raise NotFound(f"application {application_id}")
    return application


# --- evidence -------------------------------------------------------------------------------------------------


def sniff(content: bytes) -> str | None:
    """The media type of an evidence file, from its bytes alone (the client's name and type are never trusted)."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in content[-16:]:
        return "image/png"
    if content.startswith(b"\xff\xd8\xff") and content.rstrip(b"\x00\r\n").endswith(b"\xff\xd9"):
        return "image/jpeg"
    if content.startswith(b"%PDF-") and b"%%EOF" in content[-1024:]:
        return "application/pdf"
    return None


def add_evidence(
    session: Session, settings: CardSettings, *, openid: str, application_id: int, content: bytes
) -> ApplicationEvidence:
    """Attach a diploma photo or PDF to a waiting application; on an ``unconfirmed`` one, this is the applicant's
    request for staff review, and opens it as ``review`` (unless another application already waits)."""
    application = get_own(session, openid, application_id)
    if application.status not in APP_OPEN and application.status != APP_UNCONFIRMED:
        raise Conflict("the application is closed", user_message=texts.CARD_EVIDENCE_CLOSED)
    max_mb = settings.evidence_max_bytes // (1024 * 1024) or 1
    media_type = sniff(content) if 0 < len(content) <= settings.evidence_max_bytes else None
    if media_type is None:
        raise UnsupportedEvidence(
            "not a JPEG, PNG or PDF within the size limit",
            user_message=texts.CARD_EVIDENCE_UNSUPPORTED.format(max_mb=max_mb),
        )
    if evidence_counts(session, [application.id]).get(application.id, 0) >= settings.evidence_max_files:
        raise ValidationFailed(
            "too many files", user_message=texts.CARD_EVIDENCE_TOO_MANY.format(max_files=settings.evidence_max_files)
        )
    if application.status == APP_UNCONFIRMED:
        _file_for_review(session, application)
    evidence = ApplicationEvidence(
        application_id=application.id,
        media_type=media_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )
    session.add(evidence)
    session.flush()
    return evidence


def _file_for_review(session: Session, application: CardApplication) -> None:
    """An unconfirmed attempt becomes a review request for staff, with its claim in the identity-review queue."""
    session.refresh(application, with_for_update=True)
    if application.status != APP_UNCONFIRMED:
        raise Conflict("the application is closed", user_message=texts.CARD_EVIDENCE_CLOSED)
    person_id = person_id_for(session, mp_openid=application.mp_openid, unionid=application.unionid)
    if person_id is not None and active_card(session, person_id) is not None:
        raise Conflict("already holds an active card", user_message=texts.CARD_ALREADY_ISSUED)
    waiting = _open_application(session, application.mp_openid)
    if waiting is not None:
        raise Conflict(
            "an application is open", user_message=texts.CARD_APPLICATION_OPEN.format(application_id=waiting.id)
        )
    application.status = APP_REVIEW
    if application.claim_id is not None:
        verification.file_for_review(session, application.claim_id)
    session.flush()
    log.info("card application %d: review asked for, with evidence", application.id)


def evidence_counts(session: Session, application_ids: list[int]) -> dict[int, int]:
    """How many evidence files each application has (those without any are absent)."""
    rows = session.execute(
        select(ApplicationEvidence.application_id, func.count())
        .where(ApplicationEvidence.application_id.in_(application_ids))
        .group_by(ApplicationEvidence.application_id)
    )
    return {int(application_id): int(count) for application_id, count in rows}


def purge_evidence(session: Session, retention_days: int, *, now: datetime | None = None) -> int:
    """Delete the files of applications decided more than ``retention_days`` ago (the rows stay, as a record)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    decided = select(CardApplication.id).where(
        CardApplication.decided_at.is_not(None), CardApplication.decided_at < cutoff
    )
    result = session.execute(
        update(ApplicationEvidence)
        .where(ApplicationEvidence.application_id.in_(decided), ApplicationEvidence.content.is_not(None))
        .values(content=None, deleted_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- the staff decision ---------------------------------------------------------------------------------------


def pending(session: Session, *, limit: int = 100) -> list[CardApplication]:
    return list(
        session.scalars(
            select(CardApplication)
            .where(CardApplication.status.in_(APP_OPEN))
            .order_by(CardApplication.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class EvidenceInfo:
    """One evidence file of an application, without its bytes (``available``: not yet deleted by retention)."""

    id: int
    media_type: str
    size: int
    available: bool


@dataclass(frozen=True)
class ReviewItem:
    """An application as staff review it: the claim as the databank verification recorded it, with the name and the
    student number masked (the evidence, whose views are audited, shows them in full), and its evidence files."""

    id: int
    status: str
    method: str
    created_at: datetime
    decided_at: datetime | None
    reason: str | None  # the rejection's reason
    claim: dict[str, str | int | None]  # name and student_no masked; grad_year, college, class_name; factor kind
    claim_reason: str | None  # why the databank did not confirm it (no_match, already_claimed, ...)
    person_id: int | None  # the databank person, when the claim or the application names one
    evidence: tuple[EvidenceInfo, ...]

    @property
    def open(self) -> bool:
        return self.status in APP_OPEN


def _review_items(session: Session, applications: list[CardApplication]) -> list[ReviewItem]:
    ids = [a.id for a in applications]
    claims = {
        c.id: c
        for c in session.scalars(
            select(VerificationClaim).where(
                VerificationClaim.id.in_([a.claim_id for a in applications if a.claim_id is not None])
            )
        )
    }
    files: dict[int, list[EvidenceInfo]] = {i: [] for i in ids}
    rows = session.execute(
        select(
            ApplicationEvidence.id,
            ApplicationEvidence.application_id,
            ApplicationEvidence.media_type,
            ApplicationEvidence.size,
            ApplicationEvidence.deleted_at,
        )
        .where(ApplicationEvidence.application_id.in_(ids))
        .order_by(ApplicationEvidence.id)
    )
    for evidence_id, application_id, media_type, size, deleted_at in rows:
        files[application_id].append(EvidenceInfo(evidence_id, media_type, size, deleted_at is None))
    items = []
    for a in applications:
        claim = claims.get(a.claim_id) if a.claim_id is not None else None
        recorded = dict(claim.claim) if claim is not None else {}
        shown: dict[str, str | int | None] = {
            "name": mask("name", str(recorded.get("name") or "")),
            "student_no": mask("student_no", str(recorded.get("student_no") or "")),
            "grad_year": recorded.get("grad_year"),
            "college": recorded.get("college"),
            "class_name": recorded.get("class_name"),
            "factor": recorded.get("factor"),
        }
        items.append(
            ReviewItem(
                id=a.id,
                status=a.status,
                method=a.method,
                created_at=a.created_at,
                decided_at=a.decided_at,
                reason=a.reason,
                claim=shown,
                claim_reason=claim.reason if claim is not None else None,
                person_id=a.person_id or (claim.person_id if claim is not None else None),
                evidence=tuple(files[a.id]),
            )
        )
    return items


def review_queue(session: Session, *, limit: int, after_id: int | None = None) -> list[ReviewItem]:
    """The applications waiting for staff or the liaison (:func:`pending`), oldest first, ``limit`` after
    ``after_id`` (keyset paging), each with its masked claim and its evidence files."""
    query = select(CardApplication).where(CardApplication.status.in_(APP_OPEN)).order_by(CardApplication.id)
    if after_id is not None:
        query = query.where(CardApplication.id > after_id)
    return _review_items(session, list(session.scalars(query.limit(limit))))


def review_item(session: Session, application_id: int) -> ReviewItem:
    """One application as staff review it, whatever its status. Raises ``NotFound``."""
    application = session.get(CardApplication, application_id)
    if application is None:
        raise NotFound(f"application {application_id}")
    return _review_items(session, [application])[0]


@dataclass(frozen=True)
class EvidenceFile:
    media_type: str  # sniffed from the content when it was uploaded
    content: bytes


def evidence_for_staff(session: Session, evidence_id: int, *, actor: str) -> EvidenceFile:
    """An evidence file for a staff member to look at. Evidence is personal data: every view is audited.
    ``NotFound`` if there is no such file or retention deleted it."""
    evidence = session.get(ApplicationEvidence, evidence_id)
    if evidence is None or evidence.content is None:
        raise NotFound(f"evidence {evidence_id}")
    application = session.get(CardApplication, evidence.application_id)
    audit.record(
        session,
        actor=actor,
        action="card.evidence.view",
        person_id=application.person_id if application is not None else None,
        application_id=evidence.application_id,
        evidence_id=evidence.id,
    )
    return EvidenceFile(evidence.media_type, evidence.content)


def _open_for_decision(session: Session, application_id: int) -> CardApplication:
    application = session.get(CardApplication, application_id, with_for_update=True)
    if application is None:
        raise NotFound(f"application {application_id}")
    if application.status not in APP_OPEN:
        raise Conflict(f"application {application_id} is {application.status}", user_message=texts.CARD_DECIDED)
    return application


def approve(
    session: Session,
    settings: CardSettings,
    application_id: int,
    *,
    actor: str,
    person_id: int | None = None,
    tier: str | None = None,
) -> CardApplication:
    """Staff (or the class liaison, for a vouching application) approve: bind the identity, issue the card."""
    application = _open_for_decision(session, application_id)
    claim = session.get(VerificationClaim, application.claim_id) if application.claim_id else None
    target = person_id or (claim.person_id if claim is not None else None) or application.person_id
    if target is None:
        raise ValidationFailed(
            "approving needs the person the application is for", user_message=texts.CARD_APPROVE_NEEDS_PERSON
        )
    if claim is not None and claim.status == CLAIM_REVIEW:
        verification.decide(session, claim.id, approve=True, actor=actor, person_id=target)
    card = issue(session, settings, target, actor=actor, tier=tier or application.tier, application_id=application.id)
    application.person_id = target
    application.card_id = card.id
    application.tier = card.tier
    application.status = APP_ISSUED
    application.decided_at = utcnow()
    application.decided_by = actor[:64]
    session.flush()
    audit.record(
        session, actor=actor, action="card.application.approved", person_id=target, application_id=application.id
    )
    return application


def reject(session: Session, application_id: int, *, actor: str, reason: str) -> CardApplication:
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("a rejection needs a reason", user_message=texts.CARD_REJECT_REASON)
    application = _open_for_decision(session, application_id)
    claim = session.get(VerificationClaim, application.claim_id) if application.claim_id else None
    if claim is not None and claim.status == CLAIM_REVIEW:
        verification.decide(session, claim.id, approve=False, actor=actor)
    application.status = APP_REJECTED
    application.reason = reason[:255]
    application.decided_at = utcnow()
    application.decided_by = actor[:64]
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="card.application.rejected",
        person_id=application.person_id,
        application_id=application.id,
    )
    return application


def _oa_openid(session: Session, application: CardApplication, directory: FollowerProfiles | None = None) -> str | None:
    """The applicant's official-account openid: bound to their person, or a follower sharing their unionid. With
    ``directory``, followers not linked to their unionid yet (a follow whose fetch has not run) are linked first."""
    if application.person_id is not None:
        found = session.scalar(
            select(WeChatIdentity.value).where(
                WeChatIdentity.person_id == application.person_id, WeChatIdentity.kind == OA_OPENID
            )
        )
        if found:
            return str(found)
    unionid = application.unionid
    if unionid is None and application.person_id is not None:
        unionid = session.scalar(
            select(WeChatIdentity.value).where(
                WeChatIdentity.person_id == application.person_id, WeChatIdentity.kind == UNIONID
            )
        )
    if unionid:
        follower = session.scalar(select(Follower.openid).where(Follower.unionid == unionid))
        if follower is None and directory is not None and follower_links.link_unlinked(session, directory):
            follower = session.scalar(select(Follower.openid).where(Follower.unionid == unionid))
        if follower:
            return str(follower)
    return None


def decision_text(session: Session, application: CardApplication) -> str:
    if application.status == APP_ISSUED and application.card_id is not None:
        card = session.get(Card, application.card_id)
        return texts.CARD_DECISION_APPROVED.format(number=card.number if card else "")
    return texts.CARD_DECISION_REJECTED.format(reason=application.reason or "")


def notify_decision(
    session: Session,
    settings: CardSettings,
    application_id: int,
    *,
    miniprogram: MiniProgramPort,
    official: Messenger,
    directory: FollowerProfiles | None = None,
) -> str:
    """Tell the applicant the decision; returns and records how (subscribe, customer_service or failed). With
    ``directory`` (the official account's user info), a follower whose unionid is not known yet is linked first."""
    application = session.get(CardApplication, application_id)
    if application is None or application.status not in APP_DECIDED:
        raise NotFound(f"decided application {application_id}")
    approved = application.status == APP_ISSUED
    text = decision_text(session, application)
    how = NOTIFY_FAILED
    if settings.decision_template_id:
        data = {
            "thing1": {"value": texts.CARD_DECISION_SUBSCRIBE_TITLE},
            "phrase2": {
                "value": texts.CARD_DECISION_SUBSCRIBE_APPROVED if approved else texts.CARD_DECISION_SUBSCRIBE_REJECTED
            },
            "thing3": {"value": text[:20]},
        }
        try:
            miniprogram.send_subscribe_message(
                application.mp_openid, settings.decision_template_id, data, settings.page
            )
            how = NOTIFIED_SUBSCRIBE
        except NoSubscribeConsent:
            pass  # normal: the applicant left no consent; try the official account
        except WeChatAPIError as exc:
            log.warning("subscribe message for application %d failed: %s", application.id, exc.code)
    if how == NOTIFY_FAILED:
        oa_openid = _oa_openid(session, application, directory)
        if oa_openid is not None:
            try:
                official.send_customer_message(oa_openid, {"msgtype": "text", "content": text})
                how = NOTIFIED_CUSTOMER_SERVICE
            except WeChatAPIError as exc:
                log.info("customer-service message for application %d not sent: %s", application.id, exc.code)
    application.notified = how
    session.flush()
    if how == NOTIFY_FAILED:
        log.warning("applicant of application %d could not be notified of the decision", application.id)
    return how


@dataclass(frozen=True)
class ApplicationSummary:
    """An application as its applicant sees it: with its card's number and how many evidence files it has."""

    application: CardApplication
    card_number: str | None
    evidence_count: int


def summarise(session: Session, application: CardApplication) -> ApplicationSummary:
    card = session.get(Card, application.card_id) if application.card_id is not None else None
    evidence = evidence_counts(session, [application.id]).get(application.id, 0)
    return ApplicationSummary(application, card.number if card is not None else None, evidence)


@dataclass(frozen=True)
class CardStatus:
    """What the official account shows for 校友卡: the person's card, else the application that waits, else their
    latest application, else nothing."""

    card: Card | None
    application: CardApplication | None

    @property
    def card_usable(self) -> bool:
        """The card can be shown at a venue (not suspended, revoked, lost or expired)."""
        return self.card is not None and self.card.status == CARD_ACTIVE

    @property
    def pending_application(self) -> CardApplication | None:
        """The latest application, while staff or the class liaison have yet to decide it."""
        application = self.application
        return application if application is not None and application.status in APP_OPEN else None

    @property
    def unconfirmed_application(self) -> CardApplication | None:
        """The latest application, when the databank could not confirm it and nothing else waits."""
        application = self.application
        return application if application is not None and application.status == APP_UNCONFIRMED else None


def status_for_official_account(session: Session, oa_openid: str) -> CardStatus:
    """Map an official-account openid to a person through the databank's WeChat identities (directly, or through
    the unionid the follower shares with their mini-program openid)."""
    unionid = session.scalar(select(Follower.unionid).where(Follower.openid == oa_openid))
    person_id = person_id_for(session, oa_openid=oa_openid, unionid=unionid)
    card = current_card(session, person_id) if person_id is not None else None
    application = None
    if card is None and unionid:
        theirs = select(CardApplication).where(CardApplication.unionid == unionid).order_by(CardApplication.id.desc())
        # What waits comes first: a later attempt that was not confirmed does not hide it.
        application = session.scalar(theirs.where(CardApplication.status.in_(APP_OPEN)).limit(1)) or session.scalar(
            theirs.limit(1)
        )
    return CardStatus(card, application)


def purge_expired(
    session_factory: Callable[[], AbstractContextManager[Session]], client: redis.Redis, settings: CardSettings
) -> dict[str, int]:
    """The scheduled purge (idempotent): evidence files past retention after the decision, and old scan logs."""
    with session_factory() as session:
        evidence = purge_evidence(session, settings.evidence_retention_days)
    scan_queue.flush_scans(session_factory, client)
    with session_factory() as session:
        scans = scan_queue.purge_scans(session, settings.scan_log_retention_days)
    log.info("card purge: %d evidence files, %d scan logs", evidence, scans)
    return {"evidence": evidence, "scans": scans}
