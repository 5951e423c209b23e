"""Identity claims: a WeChat user's claim to be a person in the databank, and its outcome.

A claim that matched binds the identity. Every other claim waits here for manual review, unless its caller asked for
no review (the card application: the claimant corrects the details, or asks for review later); then it is recorded
as ``unconfirmed`` and waits for nobody. A claim that leaves review without a staff decision (the claimant withdrew
it, or a later claim of theirs matched) is ``closed``. The second factor (last four characters of the ID number, or
the date of birth) is never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# VerificationClaim.status
MATCHED, REVIEW, APPROVED, REJECTED = "matched", "review", "approved", "rejected"
UNCONFIRMED, CLOSED = "unconfirmed", "closed"  # did not bind, no review asked for; left review undecided


class VerificationClaim(Base):
    __tablename__ = "verification_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # oa / mp
    unionid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Why it needs review: no_match, already_claimed, identity_elsewhere, ambiguous, deceased, restricted.
    reason: Mapped[str | None] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    claim: Mapped[dict[str, Any]] = mapped_column(JSON)  # name, student_no or year/college/class, factor kind
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
