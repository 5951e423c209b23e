"""The alumni card: numbers, issuance, status changes, the rotating QR token, scanner credentials and verification.

Owns every rule about a card. A card number is the issue year, eight random digits and a Luhn check digit: not
sequential, so numbers cannot be walked. A person holds at most one card, active or suspended (a partial unique
index backs the check here): a suspended card is reinstated or revoked, never replaced by issuing beside it. Cards
past ``expires_at`` answer "expired" at once and are marked expired by :func:`expire_due` (a scheduled job).

Every status change bumps ``Card.version``; a QR token names the card id and version and expires
``card.code_ttl_seconds`` after it is made, is signed with HMAC-SHA256 under ``card.code_keys``, and verifies once
(a replay within the minute answers ``expired``). Verification answers valid / expired / revoked / suspended /
forged; "forged" answers are rate-limited per scanner; every scan is logged (queued in Redis, written in batches)
and the log is purged after ``card.scan_log_retention_days`` (scan logs are location data). No Flask here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import logging
import secrets
import struct
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import segno
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, KeyUnavailable, NotFound, RateLimited, Unauthenticated, ValidationFailed
from core.settings import CardSettings
from models import Card, Person, ScanLog, ScannerCredential, WeChatIdentity, utcnow
from models.card import CARD_ACTIVE, CARD_EXPIRED, CARD_HELD, CARD_LOST, CARD_REVOKED, CARD_SUSPENDED
from models.person import MP_OPENID, OA_OPENID, UNIONID
from services.databank import audit

log = logging.getLogger(__name__)
KEY_PREFIX = "xy:card"
SCAN_QUEUE = f"{KEY_PREFIX}:scans"  # scans waiting to be written to card_scans
SCAN_BATCH = 100
# Verification answers.
VALID, EXPIRED, REVOKED, SUSPENDED, FORGED = "valid", "expired", "revoked", "suspended", "forged"
_PAYLOAD = struct.Struct(">QIQ8s")  # card id, card version, expiry (unix seconds), nonce
_MAC_BYTES = 16
_NUMBER_RANDOM_DIGITS = 8


# --- numbers --------------------------------------------------------------------------------------------------


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_valid_number(number: str) -> bool:
    return len(number) == 4 + _NUMBER_RANDOM_DIGITS + 1 and number.isdigit() and luhn_digit(number[:-1]) == number[-1]


def new_number(year: int) -> str:
    body = f"{year:04d}" + "".join(secrets.choice("0123456789") for _ in range(_NUMBER_RANDOM_DIGITS))
    return body + luhn_digit(body)


# --- identities -----------------------------------------------------------------------------------------------


def person_id_for(
    session: Session, *, mp_openid: str | None = None, oa_openid: str | None = None, unionid: str | None = None
) -> int | None:
    """The databank person bound to any of these WeChat identities (OA and MP openids share the unionid)."""
    wanted = [(k, v) for k, v in ((MP_OPENID, mp_openid), (OA_OPENID, oa_openid), (UNIONID, unionid)) if v]
    for kind, value in wanted:
        found = session.scalar(
            select(WeChatIdentity.person_id).where(WeChatIdentity.kind == kind, WeChatIdentity.value == value)
        )
        if found is not None:
            return int(found)
    return None


# --- issuance and status --------------------------------------------------------------------------------------


def active_card(session: Session, person_id: int) -> Card | None:
    return session.scalar(select(Card).where(Card.person_id == person_id, Card.status == CARD_ACTIVE))


def by_number(session: Session, number: str) -> Card:
    """The card with this number (what staff read off it). Raises ``NotFound``."""
    card = session.scalar(select(Card).where(Card.number == number.strip()))
    if card is None:
        raise NotFound(f"no card numbered {number.strip()}")
    return card


def held_card(session: Session, person_id: int) -> Card | None:
    """The person's current card: active or suspended (at most one)."""
    return session.scalar(select(Card).where(Card.person_id == person_id, Card.status.in_(CARD_HELD)))


def current_card(session: Session, person_id: int) -> Card | None:
    """The held card, else the most recent one (to show why it cannot be used)."""
    return held_card(session, person_id) or session.scalar(
        select(Card).where(Card.person_id == person_id).order_by(Card.id.desc()).limit(1)
    )


def _refuse_if_held(session: Session, person_id: int) -> None:
    held = held_card(session, person_id)
    if held is None:
        return
    if held.status == CARD_SUSPENDED:
        raise Conflict(
            f"the person holds suspended card {held.id}: reinstate or revoke it instead of issuing another",
            user_message=texts.CARD_NOT_ACTIVE.format(status=texts.CARD_STATUS_NAMES[CARD_SUSPENDED]),
        )
    raise Conflict("the person already has an active card", user_message=texts.CARD_ALREADY_ISSUED)


def issue(
    session: Session,
    settings: CardSettings,
    person_id: int,
    *,
    actor: str,
    tier: str | None = None,
    application_id: int | None = None,
) -> Card:
    """Issue a card to a person who holds none. Raises ``Conflict`` if they hold an active or a suspended one."""
    tier = tier or settings.default_tier
    if tier not in settings.tiers:
        raise ValidationFailed(f"unknown tier {tier!r}", user_message=texts.CARD_TIER_UNKNOWN)
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id}")
    _refuse_if_held(session, person_id)
    now = utcnow()
    expires = now.replace(year=now.year + settings.valid_years) if settings.valid_years else None
    for _ in range(5):
        number = new_number(now.year)
        if session.scalar(select(Card.id).where(Card.number == number)) is None:
            break
    card = Card(
        person_id=person_id,
        number=number,
        tier=tier,
        status=CARD_ACTIVE,
        version=1,
        application_id=application_id,
        issued_at=now,
        expires_at=expires,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(card)
            session.flush()
    except IntegrityError:
        # The partial unique index: another request issued a card to this person at the same moment.
        raise Conflict("the person already holds a card", user_message=texts.CARD_ALREADY_ISSUED) from None
    audit.record(session, actor=actor, action="card.issue", person_id=person_id, card_id=card.id, tier=tier)
    log.info("card %d issued", card.id)
    return card


def _get(session: Session, card_id: int) -> Card:
    card = session.get(Card, card_id, with_for_update=True)
    if card is None:
        raise NotFound(f"card {card_id}")
    return card


def _change(session: Session, card: Card, status: str, *, actor: str, reason: str) -> Card:
    before = card.status
    card.status = status
    card.status_reason = reason[:255] or None
    card.version += 1  # every code signed for the previous version stops verifying now
    card.updated_at = utcnow()
    session.flush()
    audit.record(
        session, actor=actor, action=f"card.{status}", person_id=card.person_id, card_id=card.id, before=before
    )
    return card


def suspend(session: Session, card_id: int, *, actor: str, reason: str) -> Card:
    card = _get(session, card_id)
    if card.status != CARD_ACTIVE:
        raise Conflict(f"card {card_id} is {card.status}")
    return _change(session, card, CARD_SUSPENDED, actor=actor, reason=reason)


def reinstate(session: Session, card_id: int, *, actor: str, reason: str = "") -> Card:
    card = _get(session, card_id)
    if card.status != CARD_SUSPENDED:
        raise Conflict(f"card {card_id} is {card.status}")
    if card.expires_at is not None and card.expires_at <= utcnow():
        raise Conflict(f"card {card_id} expired on {card.expires_at:%Y-%m-%d} while suspended: issue a new card")
    return _change(session, card, CARD_ACTIVE, actor=actor, reason=reason)


def revoke(session: Session, card_id: int, *, actor: str, reason: str) -> Card:
    card = _get(session, card_id)
    if card.status in (CARD_REVOKED, CARD_LOST):
        raise Conflict(f"card {card_id} is {card.status}")
    return _change(session, card, CARD_REVOKED, actor=actor, reason=reason)


def expire(session: Session, card_id: int, *, actor: str) -> Card:
    card = _get(session, card_id)
    if card.status not in CARD_HELD:
        raise Conflict(f"card {card_id} is {card.status}")
    return _change(session, card, CARD_EXPIRED, actor=actor, reason="")


def expire_due(
    session_factory: Callable[[], AbstractContextManager[Session]],
    *,
    now: datetime | None = None,
    batch: int = 500,
) -> int:
    """Mark every held card past its ``expires_at`` expired (the scheduled job; idempotent). One unit of work per
    batch, so a crash half-way keeps what was done and the next run finishes the rest. Returns how many."""
    now = now or utcnow()
    due = (
        select(Card.id)
        .where(Card.status.in_(CARD_HELD), Card.expires_at.is_not(None), Card.expires_at <= now)
        .order_by(Card.expires_at)
        .limit(batch)
    )
    expired = 0
    while True:
        with session_factory() as session:
            ids = list(session.scalars(due))
            for card_id in ids:
                card = _get(session, card_id)
                if card.status in CARD_HELD:  # a staff change may have won the race
                    _change(session, card, CARD_EXPIRED, actor="job:card.expire", reason="validity ended")
                    expired += 1
        if len(ids) < batch:
            break
    if expired:
        log.info("%d cards expired", expired)
    return expired


def report_lost(session: Session, settings: CardSettings, card_id: int, *, actor: str) -> Card:
    """Mark a card lost and issue its replacement (a new number, the same tier). Returns the new card."""
    card = _get(session, card_id)
    if card.status not in (CARD_ACTIVE, CARD_SUSPENDED):
        raise Conflict(f"card {card_id} is {card.status}")
    _change(session, card, CARD_LOST, actor=actor, reason="lost")
    new = issue(session, settings, card.person_id, actor=actor, tier=card.tier)
    card.replaced_by_id = new.id
    session.flush()
    return new


# --- the QR token ---------------------------------------------------------------------------------------------


def _keys(settings: CardSettings) -> list[tuple[str, bytes]]:
    if not settings.code_keys:
        raise KeyUnavailable("card.code_keys is not configured")
    keys = []
    for entry in settings.code_keys.split(","):
        kid, _, encoded = entry.strip().partition(":")
        keys.append((kid, base64.b64decode(encoded)))
    return keys


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class CardCode:
    token: str
    expires_at: datetime
    png: bytes


def sign_token(settings: CardSettings, card_id: int, version: int, expires: int, nonce: bytes) -> str:
    kid, key = _keys(settings)[0]
    payload = _PAYLOAD.pack(card_id, version, expires, nonce)
    mac = hmac.new(key, kid.encode() + b"." + payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return f"{kid}.{_b64(payload + mac)}"


def make_code(session: Session, settings: CardSettings, person_id: int, *, now: datetime | None = None) -> CardCode:
    """A fresh signed token for the person's active card, and its QR code as a PNG."""
    card = active_card(session, person_id)
    if card is None:
        raise NotFound("no active card", user_message=texts.CARD_NOT_ISSUED)
    now = now or utcnow()
    if card.expires_at is not None and card.expires_at <= now:  # the expiry job has not reached it yet
        raise Conflict(
            "the card has expired",
            user_message=texts.CARD_NOT_ACTIVE.format(status=texts.CARD_STATUS_NAMES[CARD_EXPIRED]),
        )
    expires_at = now + timedelta(seconds=settings.code_ttl_seconds)
    token = sign_token(settings, card.id, card.version, int(expires_at.timestamp()), secrets.token_bytes(8))
    buffer = io.BytesIO()
    segno.make(token, error="m", micro=False).save(buffer, kind="png", scale=6, border=2)
    return CardCode(token, expires_at, buffer.getvalue())


@dataclass(frozen=True)
class _Parsed:
    card_id: int
    version: int
    expires: int
    nonce: bytes


def _parse(settings: CardSettings, token: str) -> _Parsed | None:
    """The token's content if its signature is good under any configured key; None otherwise."""
    kid, sep, body = token.partition(".")
    key = dict(_keys(settings)).get(kid)
    if not sep or key is None or len(token) > 128:
        return None
    try:
        raw = _unb64(body)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _PAYLOAD.size + _MAC_BYTES:
        return None
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    expected = hmac.new(key, kid.encode() + b"." + payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        return None
    card_id, version, expires, nonce = _PAYLOAD.unpack(payload)
    return _Parsed(card_id, version, expires, nonce)


# --- scanners and verification --------------------------------------------------------------------------------


# Built once: the verification path runs them a thousand times a second.
_SCANNER = select(ScannerCredential.secret_sha256, ScannerCredential.revoked_at).where(
    ScannerCredential.id == bindparam("scanner_id")
)
# Scanner, card and holder in one indexed query; the card part is NULL when there is no such card.
_SCAN = (
    select(
        ScannerCredential.secret_sha256,
        ScannerCredential.revoked_at,
        Card.id.label("card_id"),
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


def create_scanner(session: Session, *, label: str, actor: str) -> tuple[ScannerCredential, str]:
    """A new scanner credential. The returned secret ("<id>.<random>") is shown once; only its hash is kept."""
    label = label.strip()
    if not 1 <= len(label) <= 64:
        raise ValidationFailed("a scanner label is 1 to 64 characters")
    secret = secrets.token_urlsafe(32)
    scanner = ScannerCredential(
        label=label, secret_sha256=hashlib.sha256(secret.encode()).hexdigest(), created_by=actor
    )
    session.add(scanner)
    session.flush()
    audit.record(session, actor=actor, action="card.scanner.create", scanner_id=scanner.id)
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


def authenticate_scanner(session: Session, credential: str) -> int:
    """The scanner id behind a credential. Raises ``Unauthenticated``."""
    sid, secret = _split_credential(credential)
    scanner = session.execute(_SCANNER, {"scanner_id": sid}).first()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if scanner is None or scanner.revoked_at is not None or not hmac.compare_digest(scanner.secret_sha256, digest):
        raise Unauthenticated("unknown or revoked scanner credential")
    return sid


@dataclass(frozen=True)
class Verification:
    result: str  # valid / expired / revoked / suspended / forged
    holder_name: str | None = None  # only when valid
    card_status: str | None = None  # only when valid
    flush_due: bool = False  # enough scans are queued: the caller should run flush_scans (in its own transaction)


def verify(
    session: Session,
    client: redis.Redis,
    settings: CardSettings,
    *,
    credential: str,
    token: str,
    now: datetime | None = None,
) -> Verification:
    """Check a scanned token for the desk holding ``credential`` (``Unauthenticated`` if it is not a live one).
    Logs the scan; too many "forged" answers for one scanner raise ``RateLimited``.

    The hot path of a busy desk: one indexed query (scanner, card and holder together) and one Redis round trip
    (claim the token and queue the log entry, in a script). The log is written in batches: when ``flush_due``,
    the caller runs :func:`flush_scans` after this unit of work.
    """
    sid, secret = _split_credential(credential)
    now = now or utcnow()
    parsed = _parse(settings, token)
    row = session.connection().execute(_SCAN, {"scanner_id": sid, "card_id": parsed.card_id if parsed else 0}).first()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_sha256, digest):
        raise Unauthenticated("unknown or revoked scanner credential")
    card_id = row.card_id if parsed is not None else None
    answer = Verification(FORGED)
    if parsed is not None and card_id is not None:
        answer = _judge(_CardState(row.status, row.version, row.expires_at), parsed, now)
    if answer.result == VALID and parsed is not None:
        # Claim the token (it verifies once) and queue the log entry in one round trip.
        ttl = max(1, int(parsed.expires - now.timestamp()))
        claimed = _claim_and_log(client)(
            keys=[f"{KEY_PREFIX}:used:{parsed.nonce.hex()}", SCAN_QUEUE],
            args=[ttl, _entry(sid, card_id, VALID, now), _entry(sid, card_id, EXPIRED, now)],
        )
        queued = abs(int(claimed))
        answer = Verification(VALID, row.name, row.status) if int(claimed) > 0 else Verification(EXPIRED)
    else:
        pipe = client.pipeline(transaction=False)
        pipe.rpush(SCAN_QUEUE, _entry(sid, card_id, answer.result, now))
        if answer.result == FORGED:
            forged_key = f"{KEY_PREFIX}:forged:{sid}"
            pipe.set(forged_key, 0, nx=True, ex=settings.limit_window_seconds)
            pipe.incr(forged_key)
        replies = pipe.execute()
        queued = int(replies[0])
        if answer.result == FORGED and int(replies[2]) > settings.forged_per_scanner:
            raise RateLimited("too many forged codes from this scanner")
    return replace(answer, flush_due=queued >= SCAN_BATCH)


# KEYS: the token's "used" key, the scan queue. ARGV: its TTL, the log entry if claimed now, the one if replayed.
# Returns the queue length, negative when the token had been used already.
_CLAIM_AND_LOG = """
local claimed = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local n = redis.call('RPUSH', KEYS[2], claimed and ARGV[2] or ARGV[3])
if claimed then return n end
return -n
"""


def _claim_and_log(client: redis.Redis) -> Any:
    """The script bound to ``client`` (registered once per client: it hashes the source)."""
    script = _SCRIPTS.get(id(client))
    if script is None or script.registered_client is not client:
        script = _SCRIPTS[id(client)] = client.register_script(_CLAIM_AND_LOG)
    return script


_SCRIPTS: dict[int, Any] = {}


def _split_credential(credential: str) -> tuple[int, str]:
    sid, _, secret = credential.partition(".")
    if not sid.isdigit() or not secret or len(credential) > 128 or int(sid) > 2**31 - 1:
        raise Unauthenticated("malformed scanner credential")
    return int(sid), secret


def _entry(scanner_id: int, card_id: int | None, result: str, at: datetime) -> str:
    return json.dumps([scanner_id, card_id, result, at.timestamp()])


@dataclass(frozen=True)
class _CardState:
    status: str
    version: int
    expires_at: datetime | None


def flush_scans(
    session_factory: Callable[[], AbstractContextManager[Session]], client: redis.Redis, *, limit: int = 100_000
) -> int:
    """Move queued scans into the scan log (``card_scans``), one unit of work per batch. Returns how many.

    One flusher at a time (a Redis lock); a batch leaves the queue only after its rows are committed, so a failure
    loses nothing (a crash between the commit and the trim can write one batch twice: a log, not a ledger).
    """
    lock = client.lock(f"{KEY_PREFIX}:scans:flush", timeout=60, blocking=False)
    if not lock.acquire():
        return 0  # another process is flushing
    moved = 0
    try:
        while moved < limit:
            batch = client.lrange(SCAN_QUEUE, 0, SCAN_BATCH - 1)
            if not batch:
                break
            entries = [json.loads(raw if isinstance(raw, (bytes, str)) else str(raw)) for raw in batch]
            with session_factory() as session:
                rows = _scan_rows(session, entries)
                if rows:
                    session.execute(insert(ScanLog), rows)
            client.ltrim(SCAN_QUEUE, len(batch), -1)
            moved += len(rows)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()
    return moved


def _scan_rows(session: Session, entries: list[list[Any]]) -> list[dict[str, Any]]:
    """Queued entries as ``card_scans`` rows. A scan outlives what it names while it waits in the queue: a card
    whose holder was deleted (a data-subject request) is logged without its card, and a scan by a scanner that no
    longer exists is dropped, so that one such entry never blocks the queue behind it."""
    scanner_ids = {e[0] for e in entries}
    card_ids = {e[1] for e in entries if e[1] is not None}
    scanners = set(session.scalars(select(ScannerCredential.id).where(ScannerCredential.id.in_(scanner_ids))))
    known_cards = set(session.scalars(select(Card.id).where(Card.id.in_(card_ids)))) if card_ids else set()
    return [
        {"scanner_id": scanner_id, "card_id": card_id if card_id in known_cards else None, "result": result,
         "scanned_at": datetime.fromtimestamp(at, UTC)}
        for scanner_id, card_id, result, at in entries
        if scanner_id in scanners
    ]  # fmt: skip


def flush_one_batch(session_factory: Callable[[], AbstractContextManager[Session]], client: redis.Redis) -> int:
    """One batch of :func:`flush_scans`, for a request thread once its answer is sent: the thread's connection
    waits for it before reading the desk's next request, so it never drains a long queue (busy desks trigger a batch
    every few scans, and the per-minute job takes the rest). A failure is logged; the queue keeps the scans."""
    try:
        return flush_scans(session_factory, client, limit=SCAN_BATCH)
    except Exception:
        log.exception("scan-log flush failed; the scans stay queued in Redis for the next flush")
        return 0


def _judge(card: _CardState, parsed: _Parsed, now: datetime) -> Verification:
    """The answer from the card's state and the token alone (the once-only claim comes after)."""
    if card.status == CARD_SUSPENDED:
        return Verification(SUSPENDED)
    if card.status in (CARD_REVOKED, CARD_LOST):
        return Verification(REVOKED)
    if card.status == CARD_EXPIRED or (card.expires_at is not None and card.expires_at <= now):
        return Verification(EXPIRED)
    if parsed.expires <= now.timestamp() or parsed.version != card.version:
        return Verification(EXPIRED)  # too old, or signed before a status change
    return Verification(VALID)


def purge_scans(session: Session, retention_days: int, *, now: datetime | None = None) -> int:
    """Delete scan logs past retention (location data). Flush the queue first (:func:`flush_scans`)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(delete(ScanLog).where(ScanLog.scanned_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
