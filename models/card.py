"""The alumni card and what hangs off it: applications with their evidence, scanner credentials, and the scan log.

A person holds at most one card at a time, active or suspended (a suspension is temporary: the card is still
theirs): a partial unique index on ``cards(person_id) WHERE status IN ('active', 'suspended')`` (PostgreSQL and
SQLite both honour it). ``version`` is bumped by every status change, so a QR code signed for an
older version stops verifying at once. Evidence files are kept in the row (``content``) and set to NULL a set time
after the decision; scan logs are location data and are purged after a short retention.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# Card.status
CARD_ACTIVE, CARD_SUSPENDED, CARD_REVOKED, CARD_EXPIRED, CARD_LOST = "active", "suspended", "revoked", "expired", "lost"
CARD_STATUSES = (CARD_ACTIVE, CARD_SUSPENDED, CARD_REVOKED, CARD_EXPIRED, CARD_LOST)
CARD_HELD = (CARD_ACTIVE, CARD_SUSPENDED)  # the person's current card; at most one
_HELD_SQL = "status IN ('active', 'suspended')"

# CardApplication.status. Open (someone other than the applicant has to act): review (staff, with evidence) and
# vouching (the class liaison). Closed: issued and rejected (decided), unconfirmed (the databank could not confirm
# the claim; waits for nobody: the applicant corrects it and applies again, or uploads evidence, which opens it as
# review), withdrawn (by the applicant), superseded (a later application of the same user matched and was issued).
APP_REVIEW, APP_VOUCHING, APP_ISSUED, APP_REJECTED = "review", "vouching", "issued", "rejected"
APP_UNCONFIRMED, APP_WITHDRAWN, APP_SUPERSEDED = "unconfirmed", "withdrawn", "superseded"
APP_OPEN = (APP_REVIEW, APP_VOUCHING)
APP_DECIDED = (APP_ISSUED, APP_REJECTED)  # decided by staff or the liaison (or issued at once by verification)
APP_STATUSES = (APP_UNCONFIRMED, APP_REVIEW, APP_VOUCHING, APP_ISSUED, APP_REJECTED, APP_WITHDRAWN, APP_SUPERSEDED)

# CardApplication.notified
NOTIFIED_SUBSCRIBE, NOTIFIED_CUSTOMER_SERVICE, NOTIFY_FAILED = "subscribe", "customer_service", "failed"


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (
        Index(
            "uq_cards_person_held",
            "person_id",
            unique=True,
            sqlite_where=text(_HELD_SQL),
            postgresql_where=text(_HELD_SQL),
        ),
        Index("ix_cards_held_expiry", "expires_at", sqlite_where=text(_HELD_SQL), postgresql_where=text(_HELD_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # year + random digits + Luhn check digit
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    status: Mapped[str] = mapped_column(String(16), default=CARD_ACTIVE)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status_reason: Mapped[str | None] = mapped_column(String(255))
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    application_id: Mapped[int | None] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # cards issued per day
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CardApplication(Base):
    """A mini-program user's request for a card: matched at once, not confirmed, or waiting for staff or a class
    liaison. Every attempt is a row, so the attempts that were not confirmed stay on record."""

    __tablename__ = "card_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    mp_openid: Mapped[str] = mapped_column(String(64), index=True)
    unionid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    method: Mapped[str] = mapped_column(String(16))  # verification / vouch
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("verification_claims.id", ondelete="SET NULL"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id", ondelete="SET NULL"))
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    reason: Mapped[str | None] = mapped_column(String(255))  # the staff's reason for a rejection
    # When it left the open states (issued, rejected, withdrawn, superseded; also an issue at once); NULL while open
    # and for an unconfirmed attempt. Evidence files are deleted a set time after it.
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    notified: Mapped[str | None] = mapped_column(String(24))  # subscribe / customer_service / failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # applications per day


class ApplicationEvidence(Base):
    """A photo or PDF of a diploma. ``content`` is NULL once deleted (``deleted_at``), a set time after the decision."""

    __tablename__ = "card_application_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("card_applications.id", ondelete="CASCADE"), index=True)
    media_type: Mapped[str] = mapped_column(String(32))  # detected from the content, never from the client
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScannerCredential(Base):
    """A desk's key for POST /api/v1/card/verify. Only a SHA-256 of the secret is stored."""

    __tablename__ = "card_scanners"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(64))  # e.g. "图书馆东门"
    # Scoped to one event's door: a scan there also checks the card holder in (services.events). None: any desk.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScanLog(Base):
    """One verification at a desk. Location data: purged after ``card.scan_log_retention_days``."""

    __tablename__ = "card_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    scanner_id: Mapped[int] = mapped_column(ForeignKey("card_scanners.id", ondelete="CASCADE"))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id", ondelete="SET NULL"))
    result: Mapped[str] = mapped_column(String(16))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
