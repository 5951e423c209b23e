"""Alumni associations and who belongs to and runs them: the headquarters association, regional branches at home and
abroad, college and industry associations, as one tree (``parent_id``).

An association answers for a **region scope** (``AssociationRegion``: provinces, cities or countries, stored folded
like the databank's search keys: simplified Chinese or lower-case English, so 上海 and "shanghai" are both scopes
of the Shanghai branch if staff list both), and may have a stored point (``latitude``/``longitude``) for the
"nearest association" fallback. ``abroad`` marks an association that controls its data outside mainland China:
joining it means an introduction crosses the border, so the consent asked for says so (PIPL Art. 39).

A membership is one row per association and person (a person leaves and rejoins on the same row); joining records a
consent in the ledger (``consent_id``) before any introduction is sent. Branch admins are staff accounts appointed
to one association (``AssociationAdmin``), like class liaisons to a cohort: the console scopes them to it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.person import search_key

# Association.kind
HEADQUARTERS, REGIONAL, OVERSEAS, COLLEGE, INDUSTRY = "headquarters", "regional", "overseas", "college", "industry"
ASSOCIATION_KINDS = (HEADQUARTERS, REGIONAL, OVERSEAS, COLLEGE, INDUSTRY)

# Association.join_policy: anyone eligible joins at once; the branch approves each request; not taking members here.
JOIN_OPEN, JOIN_APPROVAL, JOIN_CLOSED = "open", "approval", "closed"
JOIN_POLICIES = (JOIN_OPEN, JOIN_APPROVAL, JOIN_CLOSED)

# AssociationRegion.kind
SCOPE_PROVINCE, SCOPE_CITY, SCOPE_COUNTRY = "province", "city", "country"
SCOPE_KINDS = (SCOPE_PROVINCE, SCOPE_CITY, SCOPE_COUNTRY)

# AssociationMember.status
MEMBER_REQUESTED, MEMBER_ACTIVE, MEMBER_DECLINED, MEMBER_LEFT = "requested", "member", "declined", "left"
MEMBER_STATUSES = (MEMBER_REQUESTED, MEMBER_ACTIVE, MEMBER_DECLINED, MEMBER_LEFT)

# The consent ledger's purpose for an introduction to an association (Consent.purpose is "<this>:<association id>").
INTRODUCTION_PURPOSE = "association_introduction"


class Association(Base):
    __tablename__ = "associations"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("associations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(128))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    # What the association publishes to be reached at (an office phone, an email, a WeChat ID): shown to alumni.
    contact: Mapped[str] = mapped_column(String(255), default="")
    join_policy: Mapped[str] = mapped_column(String(16), default=JOIN_APPROVAL)
    abroad: Mapped[bool] = mapped_column(Boolean, default=False)  # controls its data outside mainland China
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # closed: no longer found or joined


class AssociationRegion(Base):
    """One place an association answers for. A place may belong to several (a city branch and its province's)."""

    __tablename__ = "association_regions"
    __table_args__ = (Index("ix_association_regions_kind_value", "kind", "value"),)

    association_id: Mapped[int] = mapped_column(ForeignKey("associations.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(search_key(64), primary_key=True)  # folded: simplified / lower case
    label: Mapped[str] = mapped_column(String(64))  # as staff wrote it


class AssociationMember(Base):
    __tablename__ = "association_members"
    __table_args__ = (
        UniqueConstraint("association_id", "person_id"),
        Index("ix_association_members_association_id_status", "association_id", "status"),
        Index("ix_association_members_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("associations.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=MEMBER_REQUESTED)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))  # bot / miniprogram / console
    openid: Mapped[str | None] = mapped_column(String(64))  # the official-account openid that asked, for notices
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    introduced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the introduction was queued to the branch
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AssociationAdmin(Base):
    """A branch admin's appointment to one association (a staff account with role branch_admin)."""

    __tablename__ = "association_admins"
    __table_args__ = (
        Index("ix_association_admins_staff_account_id", "staff_account_id", "ended_at"),
        Index("ix_association_admins_association_id", "association_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("associations.id", ondelete="CASCADE"))
    staff_account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    appointed_by: Mapped[str] = mapped_column(String(64))
    appointed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(64))
