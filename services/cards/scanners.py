"""Venue desks and what they are told: scanner credentials, and the verification of a scanned card code.

A desk holds a scanner credential (``<id>.<secret>``, shown once; only its SHA-256 is kept) and sends each scanned
token to :func:`verify`, which answers valid / expired / revoked / suspended / forged. A valid token is claimed so it
verifies only once (a replay within its minute answers "expired"); "forged" answers are rate-limited per scanner;
every answer is queued for the scan log (``services/cards/scan_queue.py``). The hot path of a busy desk: one indexed
query (scanner, card and holder together) and one Redis round trip. No Flask here. A credential scoped to an event's
door (``event_id``) verifies exactly the same way; its answer also names the scanner, its event and (when valid) the
holder, for ``services/events/checkin.py`` to check the holder in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime

import redis
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core import redis_keys
from core.errors import NotFound, RateLimited, ScannerUnauthenticated, ValidationFailed
from core.settings import CardSettings
from models import Card, Person, ScannerCredential, utcnow
from models.card import CARD_EXPIRED, CARD_LOST, CARD_REVOKED, CARD_SUSPENDED
from services.cards import scan_queue
from services.cards.codes import SignedToken, read_token
from services.databank import audit

# Verification answers.
VALID, EXPIRED, REVOKED, SUSPENDED, FORGED = "valid", "expired", "revoked", "suspended", "forged"
MAX_CREDENTIAL_CHARS = 128

# Scanner, card and holder in one indexed query, built once; the card part is NULL when there is no such card.
_SCAN = (
    select(
        ScannerCredential.secret_sha256,
        ScannerCredential.revoked_at,
        ScannerCredential.event_id,
        Card.id.label("card_id"),
        Card.person_id,
        Card.status,
        Card.version,
        Card.expires_at,
        Person.name,
    )
    .select_from(ScannerCredential)
    .outerjoin(Card, Card.id == bindparam("card_id"))
    .outerjoin(Person, Person.id == Card.person_id)
    .where(ScannerCredential.id == bindparam("scanner_id"))
)


# --- credentials ----------------------------------------------------------------------------------------------


def create_scanner(
    session: Session, *, label: str, actor: str, event_id: int | None = None
) -> tuple[ScannerCredential, str]:
    """A new scanner credential. The returned secret ("<id>.<random>") is shown once; only its hash is kept.
    ``event_id``: scoped to that event's door (its scans also check the holder in, ``services.events.checkin``)."""
    label = label.strip()
    if not 1 <= len(label) <= 64:
        raise ValidationFailed("a scanner label is 1 to 64 characters")
    secret = secrets.token_urlsafe(32)
    scanner = ScannerCredential(
        label=label, secret_sha256=hashlib.sha256(secret.encode()).hexdigest(), created_by=actor, event_id=event_id
    )
    session.add(scanner)
    session.flush()
    detail = {"event_id": event_id} if event_id is not None else {}
    audit.record(session, actor=actor, action="card.scanner.create", scanner_id=scanner.id, **detail)
    return scanner, f"{scanner.id}.{secret}"


def scanners(session: Session) -> list[ScannerCredential]:
    """Every scanner credential, live and revoked, oldest first."""
    return list(session.scalars(select(ScannerCredential).order_by(ScannerCredential.id)))


def revoke_scanner(session: Session, scanner_id: int, *, actor: str) -> None:
    scanner = session.get(ScannerCredential, scanner_id)
    if scanner is None:
        raise NotFound(f"scanner {scanner_id}")
    scanner.revoked_at = scanner.revoked_at or utcnow()
    audit.record(session, actor=actor, action="card.scanner.revoke", scanner_id=scanner_id)
    session.flush()


def _split_credential(credential: str) -> tuple[int, str]:
    sid, _, secret = credential.partition(".")
    if not sid.isdigit() or not secret or len(credential) > MAX_CREDENTIAL_CHARS or int(sid) > 2**31 - 1:
        raise ScannerUnauthenticated("malformed scanner credential")
    return int(sid), secret


# --- verification ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    result: str  # valid / expired / revoked / suspended / forged
    holder_name: str | None = None  # only when valid
    card_status: str | None = None  # only when valid
    flush_due: bool = False  # a batch of scans is queued: the caller runs scan_queue.flush_one_batch after answering
    # For services.events.checkin: the scanner, its event when it is scoped to one, and the holder (only when valid).
    scanner_id: int | None = None
    event_id: int | None = None
    person_id: int | None = None


@dataclass(frozen=True)
class _CardState:
    status: str
    version: int
    expires_at: datetime | None


def verify(
    session: Session,
    client: redis.Redis,
    settings: CardSettings,
    *,
    credential: str,
    token: str,
    now: datetime | None = None,
) -> Verification:
    """Check a scanned token for the desk holding ``credential`` (``ScannerUnauthenticated`` if it is not a live one).
    Queues the scan for the log; too many "forged" answers for one scanner raise ``RateLimited``."""
    sid, secret = _split_credential(credential)
    now = now or utcnow()
    signed = read_token(settings, token)
    row = session.connection().execute(_SCAN, {"scanner_id": sid, "card_id": signed.card_id if signed else 0}).first()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_sha256, digest):
        raise ScannerUnauthenticated("unknown or revoked scanner credential")
    card_id = row.card_id if signed is not None else None
    answer = Verification(FORGED)
    if signed is not None and card_id is not None:
        answer = _judge(_CardState(row.status, row.version, row.expires_at), signed, now)
    if answer.result == VALID and signed is not None:
        # Claim the token (it verifies once) and queue the log entry in one round trip.
        claimed = scan_queue.claim_and_enqueue(
            client,
            signed.nonce.hex(),
            max(1, int(signed.expires - now.timestamp())),
            scan_queue.entry(sid, card_id, VALID, now),
            scan_queue.entry(sid, card_id, EXPIRED, now),
        )
        queued = abs(claimed)
        answer = (
            Verification(VALID, row.name, row.status, person_id=row.person_id) if claimed > 0 else Verification(EXPIRED)
        )
    else:
        pipe = client.pipeline(transaction=False)
        scan_queue.enqueue(pipe, scan_queue.entry(sid, card_id, answer.result, now))
        if answer.result == FORGED:
            forged_key = redis_keys.card_forged(sid)
            pipe.set(forged_key, 0, nx=True, ex=settings.limit_window_seconds)
            pipe.incr(forged_key)
        replies = pipe.execute()
        queued = int(replies[0])
        if answer.result == FORGED and int(replies[2]) > settings.forged_per_scanner:
            raise RateLimited("too many forged codes from this scanner")
    return replace(answer, flush_due=queued >= scan_queue.SCAN_BATCH, scanner_id=sid, event_id=row.event_id)


def _judge(card: _CardState, signed: SignedToken, now: datetime) -> Verification:
    """The answer from the card's state and the token alone (the once-only claim comes after)."""
    if card.status == CARD_SUSPENDED:
        return Verification(SUSPENDED)
    if card.status in (CARD_REVOKED, CARD_LOST):
        return Verification(REVOKED)
    if card.status == CARD_EXPIRED or (card.expires_at is not None and card.expires_at <= now):
        return Verification(EXPIRED)
    if signed.expires <= now.timestamp() or signed.version != card.version:
        return Verification(EXPIRED)  # too old, or signed before a status change
    return Verification(VALID)
