"""Identity verification: a WeChat user claims to be a person in the databank (the card application uses this).

A claim is a name and a student number (or graduation year, college and class, compared folded like search
compares them: simplified or traditional, any width or case), plus a second factor: the last four characters of the
ID number (checked against its keyed HMAC) or the date of birth. Rules:

- "No such person" and "details do not match" get the same answer and take the same time (the same work is done
  either way, and every answer is padded to ``verification.min_response_seconds``). So does every other claim that
  does not bind: a guesser cannot tell a right guess for someone already bound from a wrong one.
- Failures (every claim that does not bind) are limited per openid, per IP and globally, in Redis windows; passing
  the global limit raises an alarm.
- A person already bound to another WeChat identity, or an identity bound to another person, is flagged for
  review, never silently re-bound. Every claim that does not bind becomes a review request, unless the caller asks
  for none (``review=False``): then it is recorded as ``unconfirmed``, waits for nobody, and the caller may file it
  for review later (:func:`file_for_review`) or close a review that became moot (:func:`close_review`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import redis_keys, texts
from core.errors import Conflict, NotFound, RateLimited, ValidationFailed
from core.settings import VerificationSettings
from models import EducationRecord, Person, PersonName, VerificationClaim, WeChatIdentity, utcnow
from models.person import ACTIVE, MERGED, MP_OPENID, OA_OPENID, UNIONID
from models.verification import APPROVED, CLOSED, MATCHED, REJECTED, REVIEW, UNCONFIRMED
from services.databank import audit, names
from services.databank.keys import Keyring

log = logging.getLogger(__name__)
_LAST4 = re.compile(r"^\d{3}[\dX]$")


@dataclass(frozen=True)
class Claim:
    name: str
    student_no: str | None = None
    grad_year: int | None = None
    college: str | None = None
    class_name: str | None = None
    id_last4: str | None = None
    birth_date: date | None = None


@dataclass(frozen=True)
class Outcome:
    status: str  # matched | review | unconfirmed (did not bind, and the caller asked for no review)
    claim_id: int
    person_id: int | None  # only when matched
    message: str


class _Limits:
    def __init__(self, client: redis.Redis, settings: VerificationSettings, openid: str, ip: str) -> None:
        self.client, self.settings = client, settings
        self.keys = {
            "openid": (redis_keys.verify_failures("openid", openid), settings.failures_per_openid),
            "ip": (redis_keys.verify_failures("ip", ip), settings.failures_per_ip),
            "global": (redis_keys.verify_failures("global"), settings.failures_global),
        }

    def check(self) -> None:
        counts = self.client.mget([key for key, _ in self.keys.values()])
        for (scope, (_, limit)), count in zip(self.keys.items(), counts, strict=True):
            if int(count or 0) >= limit:
                if scope == "global" and self.client.set(
                    redis_keys.verify_alarm(), "1", nx=True, ex=self.settings.window_seconds
                ):
                    log.critical(
                        "identity verification: failures passed the global limit (%d per %d s); "
                        "claims are refused until the window ends",
                        limit,
                        self.settings.window_seconds,
                    )
                raise RateLimited(
                    f"verification failures over the {scope} limit", user_message=texts.VERIFY_RATE_LIMITED
                )

    def fail(self) -> None:
        pipe = self.client.pipeline()
        for key, _ in self.keys.values():
            pipe.set(key, 0, nx=True, ex=self.settings.window_seconds)
            pipe.incr(key)
        pipe.execute()


def _validate(claim: Claim) -> Claim:
    name = names.clean(claim.name or "")
    last4 = (claim.id_last4 or "").strip().upper() or None
    by_number = bool(claim.student_no and claim.student_no.strip())
    by_class = bool(claim.grad_year and names.label_key(claim.college) and names.label_key(claim.class_name))
    factor = (last4 is not None and _LAST4.match(last4) is not None) or claim.birth_date is not None
    if not names.is_valid_name(name) or not (by_number or by_class) or not factor or (last4 and claim.birth_date):
        raise ValidationFailed("incomplete claim", user_message=texts.VERIFY_INVALID_CLAIM)
    return Claim(
        name=name,
        student_no=claim.student_no.strip() if by_number and claim.student_no else None,
        grad_year=claim.grad_year,
        college=(claim.college or "").strip() or None,
        class_name=(claim.class_name or "").strip() or None,
        id_last4=last4,
        birth_date=claim.birth_date,
    )


def verify(
    session: Session,
    client: redis.Redis,
    keyring: Keyring,
    settings: VerificationSettings,
    *,
    openid: str,
    channel: str,
    ip: str,
    claim: Claim,
    unionid: str | None = None,
    review: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Match a claim; bind the identity when it matches one person cleanly, else file it for review (or, with
    ``review=False``, record it as unconfirmed: the same work and the same answer whatever the reason)."""
    if channel not in ("oa", "mp"):
        raise ValidationFailed("channel must be oa or mp")
    started = clock()
    limits = _Limits(client, settings, openid, ip)
    limits.check()
    claim = _validate(claim)
    try:
        person, reason = _match(session, keyring, claim)
        if person is not None:
            reason = _bind(session, person, openid=openid, channel=channel, unionid=unionid)
        if reason is not None:
            limits.fail()  # every reason alike: a right guess for a person bound elsewhere must count like a wrong one
        record = VerificationClaim(
            openid=openid,
            channel=channel,
            unionid=unionid,
            status=MATCHED if reason is None else REVIEW if review else UNCONFIRMED,
            reason=reason,
            person_id=person.id if person is not None else None,
            claim={
                "name": claim.name,
                "student_no": claim.student_no,
                "grad_year": claim.grad_year,
                "college": claim.college,
                "class_name": claim.class_name,
                "factor": "id_last4" if claim.id_last4 else "birth_date",
            },
        )
        session.add(record)
        session.flush()
        if reason is None and person is not None:
            audit.record(
                session,
                actor="verification",
                action="identity.bind",
                person_id=person.id,
                claim_id=record.id,
                channel=channel,
            )
            outcome = Outcome(MATCHED, record.id, person.id, texts.VERIFY_MATCHED.format(name=person.name))
        elif review:
            log.info("verification claim %d filed for review (%s)", record.id, reason)
            outcome = Outcome(REVIEW, record.id, None, texts.VERIFY_IN_REVIEW.format(review_id=record.id))
        else:
            log.info("verification claim %d not confirmed (%s)", record.id, reason)
            outcome = Outcome(UNCONFIRMED, record.id, None, texts.VERIFY_NOT_CONFIRMED)
    finally:
        remaining = settings.min_response_seconds - (clock() - started)
        if remaining > 0:
            sleep(remaining)
    return outcome


def _match(session: Session, keyring: Keyring, claim: Claim) -> tuple[Person | None, str | None]:
    if claim.student_no:
        query = select(EducationRecord.person_id).where(EducationRecord.student_no == claim.student_no)
    else:
        # Folded, as search compares them: a graduate typing 计算机学院 is in 計算機學院 on the roster.
        query = select(EducationRecord.person_id).where(
            EducationRecord.grad_year == claim.grad_year,
            EducationRecord.college_folded == names.label_key(claim.college),
            EducationRecord.class_name_folded == names.label_key(claim.class_name),
        )
    ids = set(session.scalars(query))
    people = list(session.scalars(select(Person).where(Person.id.in_(ids)))) if ids else []
    # A merged person's records now belong to the kept one; follow the pointer once.
    people = [
        session.get(Person, p.merged_into_id) or p if p.status == MERGED and p.merged_into_id else p for p in people
    ]
    wanted = names.forms(claim.name).simplified
    former = {
        pid
        for pid in session.scalars(
            select(PersonName.person_id).where(
                PersonName.person_id.in_([p.id for p in people]), PersonName.name_simplified == wanted
            )
        )
    }
    candidates = {p.id: p for p in people if p.status == ACTIVE and (p.name_simplified == wanted or p.id in former)}
    passed = []
    # The second factor is checked against every candidate, and against nothing at the same cost: no timing signal.
    for person in candidates.values() or [None]:
        if claim.id_last4:
            ok = keyring.last4_matches(
                person.id_hmac if person else None, person.id_last4_hmac if person else None, claim.id_last4
            )
        else:
            ok = person is not None and person.birth_date is not None and person.birth_date == claim.birth_date
        if ok and person is not None:
            passed.append(person)
    if len(passed) > 1:
        return None, "ambiguous"
    if not passed:
        return None, "no_match"
    return passed[0], None


def _bind(session: Session, person: Person, *, openid: str, channel: str, unionid: str | None) -> str | None:
    """Bind the identity to the person, or say why it needs review. Returns None when bound (or already was)."""
    if person.deceased:
        return "deceased"
    if person.restricted:
        return "restricted"
    kind = OA_OPENID if channel == "oa" else MP_OPENID
    wanted = [(kind, openid)] + ([(UNIONID, unionid)] if unionid else [])
    for k, value in wanted:
        holder = session.scalar(select(WeChatIdentity).where(WeChatIdentity.kind == k, WeChatIdentity.value == value))
        if holder is not None and holder.person_id != person.id:
            return "identity_elsewhere"
    mine = {
        (w.kind, w.value) for w in session.scalars(select(WeChatIdentity).where(WeChatIdentity.person_id == person.id))
    }
    for k, value in wanted:
        if any(mk == k and mv != value for mk, mv in mine):
            return "already_claimed"  # another WeChat account holds this person: staff decide
    try:
        for k, value in wanted:
            if (k, value) not in mine:
                session.add(WeChatIdentity(person_id=person.id, kind=k, value=value))
        session.flush()
    except IntegrityError:
        raise Conflict("the identity was bound concurrently; try again") from None
    return None


def pending_reviews(session: Session, *, limit: int = 100) -> list[VerificationClaim]:
    return list(
        session.scalars(
            select(VerificationClaim)
            .where(VerificationClaim.status == REVIEW)
            .order_by(VerificationClaim.id)
            .limit(limit)
        )
    )


def file_for_review(session: Session, claim_id: int) -> None:
    """The claimant asks for manual review of a claim that was not confirmed (it then waits in the review queue)."""
    record = session.get(VerificationClaim, claim_id, with_for_update=True)
    if record is None:
        raise NotFound(f"claim {claim_id}")
    if record.status != UNCONFIRMED:
        raise Conflict(f"claim {claim_id} is {record.status}, not unconfirmed")
    record.status = REVIEW
    session.flush()


def close_review(session: Session, claim_id: int, *, actor: str, why: str) -> None:
    """Take a claim out of review without a decision (``why``: the claimant withdrew it, or a later claim of theirs
    matched), so staff do not act on it. Nothing is bound or unbound. A claim not in review is left as it is."""
    record = session.get(VerificationClaim, claim_id, with_for_update=True)
    if record is None or record.status != REVIEW:
        return
    record.status = CLOSED
    record.decided_at = utcnow()
    record.decided_by = actor[:64]
    audit.record(
        session, actor=actor, action="identity.review_closed", person_id=record.person_id, claim_id=record.id, why=why
    )
    session.flush()


def decide(session: Session, claim_id: int, *, approve: bool, actor: str, person_id: int | None = None) -> None:
    """Staff decide a review request. Approving binds the identity to ``person_id`` (or the matched person)."""
    record = session.get(VerificationClaim, claim_id)
    if record is None:
        raise NotFound(f"claim {claim_id}")
    if record.status != REVIEW:
        raise Conflict(f"claim {claim_id} is already {record.status}")
    if approve:
        target = session.get(Person, person_id or record.person_id or 0)
        if target is None:
            raise ValidationFailed("approving needs the person the claim is for")
        kind = OA_OPENID if record.channel == "oa" else MP_OPENID
        for k, value in [(kind, record.openid)] + ([(UNIONID, record.unionid)] if record.unionid else []):
            holder = session.scalar(
                select(WeChatIdentity).where(WeChatIdentity.kind == k, WeChatIdentity.value == value)
            )
            if holder is not None and holder.person_id != target.id:
                raise Conflict(f"{k} is bound to another person; unbind it first")
            if holder is None:
                session.add(WeChatIdentity(person_id=target.id, kind=k, value=value, claim_id=record.id))
        record.person_id = target.id
    record.status = APPROVED if approve else REJECTED
    record.decided_at = utcnow()
    record.decided_by = actor
    audit.record(
        session, actor=actor, action="identity.review", person_id=record.person_id, claim_id=record.id, approved=approve
    )
    session.flush()
