"""Class cohorts (the grades and classes alumni belong to, derived from the databank's education records) and what
hangs off them: the class group, liaison appointments, memberships, contact-change reports and nominations.

A **grade** cohort is an institution's college, program level and year (计算机学院 本科 2015级); a **class** cohort
is one class of a grade (计算机学院 2015级 计科1503班), with the grade as its parent. Their identity (the key columns)
is what ``services.classes.cohorts.build`` groups education records by, compared folded like search compares labels
(计算机学院 and 計算機學院 are one college). The year is the entry year (级), or the graduation year (届) when a
roster has no entry year; ``year_basis`` says which. Empty labels are stored as ``''`` in the key columns, so the
unique key holds on every database (NULLs never collide in a unique index).

Each education record is placed in its cohort (its class, or its grade when the roster names no class) by a row of
``ClassCohortRecord``, which the build keeps. The placement lives in a narrow table of its own, not in a column of
``education_records``: placing a million records is then an ``INSERT … SELECT`` into a two-column table instead of
rewriting a million wide rows and every one of their indexes (``services.classes.cohorts`` has the measurements).
The shown fields (``label``, ``college``, ``major``, ``grad_year``) come from the databank at each build until staff
edit them (``edited``); the key never changes.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.person import search_key

GRADE, CLASS = "grade", "class"
ENTRY, GRADUATION = "entry", "grad"  # ClassCohort.year_basis: 2015级 (entered) or 2019届 (graduated)


class ClassCohort(Base):
    __tablename__ = "class_cohorts"
    __table_args__ = (
        UniqueConstraint(
            "kind",
            "institution",
            "college_key",
            "level",
            "year_basis",
            "year",
            "class_key",
            name="uq_class_cohorts_key",
        ),
        # Search by graduation year and college (the bot's 加入班级群, GET /api/v1/classes), and a grade's classes.
        Index("ix_class_cohorts_grad_year_college_key", "grad_year", "college_key", "kind"),
        Index("ix_class_cohorts_parent_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("class_cohorts.id"))
    # The key: which education records belong here (folded labels, '' for none).
    institution: Mapped[str] = mapped_column(String(64))
    college_key: Mapped[str] = mapped_column(search_key(64))
    level: Mapped[str] = mapped_column(String(16))
    year_basis: Mapped[str] = mapped_column(String(8))
    year: Mapped[int] = mapped_column(SmallInteger)
    class_key: Mapped[str] = mapped_column(search_key(64))
    # What people read: from the databank at each build, until staff edit them.
    label: Mapped[str] = mapped_column(String(160))
    college: Mapped[str | None] = mapped_column(String(64))
    major: Mapped[str | None] = mapped_column(String(64))
    class_name: Mapped[str | None] = mapped_column(String(64))
    grad_year: Mapped[int | None] = mapped_column(SmallInteger)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    # The cohort's invite: a permanent parametric QR of the official account (scene ``class:<id>``), made once;
    # the link it encodes, so the console draws the QR itself (segno) instead of fetching WeChat's image.
    invite_url: Mapped[str | None] = mapped_column(String(255))
    # Active people in the cohort (a grade counts its classes' people too), as of the last build.
    roster_size: Mapped[int] = mapped_column(Integer, default=0)
    # Memberships of this cohort, and how many are verified: kept by every writer of memberships
    # (``services.classes``), so coverage pages read them instead of counting memberships.
    joined_count: Mapped[int] = mapped_column(Integer, default=0)
    verified_count: Mapped[int] = mapped_column(Integer, default=0)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClassCohortRecord(Base):
    """An education record's place in a cohort (its class, or its grade); one per placed record, kept by the build.
    It lags an import or a correction until the next build (nightly, or ``cli classes build``)."""

    __tablename__ = "class_cohort_records"
    # A cohort's records (a roster, a page at a time; the classless-grade check).
    __table_args__ = (Index("ix_class_cohort_records_cohort_id", "cohort_id", "education_record_id"),)

    education_record_id: Mapped[int] = mapped_column(
        ForeignKey("education_records.id", ondelete="CASCADE"), primary_key=True
    )
    cohort_id: Mapped[int] = mapped_column(ForeignKey("class_cohorts.id", ondelete="CASCADE"))


# ClassGroup.platform
WECHAT_GROUP, QQ_GROUP = "wechat", "qq"


class ClassGroup(Base):
    """A cohort's WeChat (or QQ) group as its liaison registered it. Registering a new QR (a WeChat group's lasts
    7 days) or a new group replaces the current row (``replaced_at`` set), so the rows of a cohort are its history."""

    __tablename__ = "class_groups"
    __table_args__ = (Index("ix_class_groups_cohort_id", "cohort_id", "replaced_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("class_cohorts.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(8), default=WECHAT_GROUP)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(64))  # who owns the group in WeChat, as the liaison names them
    # The join QR: the image (in the database, like card evidence, so every web and job process sees it; at most
    # classes.qr_max_bytes), its media type from its bytes, what it decodes to, and when WeChat expires it.
    qr_image: Mapped[bytes | None] = mapped_column(LargeBinary)
    qr_media_type: Mapped[str | None] = mapped_column(String(32))
    qr_link: Mapped[str | None] = mapped_column(String(512))
    qr_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The image uploaded to WeChat as temporary media (valid 3 days), reused until then.
    qr_media_id: Mapped[str | None] = mapped_column(String(128))
    qr_media_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the liaison was told the QR is expiring
    member_count: Mapped[int | None] = mapped_column(Integer)  # as the liaison reports it
    member_count_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ClassLiaison.role
PRIMARY, DEPUTY = "primary", "deputy"


class ClassLiaison(Base):
    """A liaison's appointment to one cohort (a liaison serving several cohorts has one row each). The liaison may
    have a console account (``staff_account_id``, role class_liaison: scoped to the cohorts appointed here) and a
    WeChat identity the bot tells about joins and reports (``openid``)."""

    __tablename__ = "class_liaisons"
    __table_args__ = (
        Index("ix_class_liaisons_cohort_id", "cohort_id", "ended_at"),
        Index("ix_class_liaisons_staff_account_id", "staff_account_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("class_cohorts.id", ondelete="CASCADE"))
    staff_account_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(8), default=PRIMARY)
    language: Mapped[str] = mapped_column(String(2), default="zh")  # an international liaison's: en
    # What classmates are given to reach the liaison (a WeChat ID or phone the liaison agreed to share), encrypted.
    contact_encrypted: Mapped[str | None] = mapped_column(String(512))
    openid: Mapped[str | None] = mapped_column(String(64))  # the liaison's official-account openid, for notices
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date | None] = mapped_column(Date)
    letter_date: Mapped[date | None] = mapped_column(Date)  # the date of the letter of appointment
    appointed_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ClassMembership.channel
BY_BOT, BY_MINIPROGRAM, BY_INVITE, BY_ROSTER = "bot", "miniprogram", "invite", "roster"
# ClassMembership.verified_by
BY_CARD, BY_LIAISON = "card", "liaison"


class ClassMembership(Base):
    """Someone who asked to join a cohort's group: a databank person (when their WeChat identity is bound) or only
    an openid. Verified when the roster says so (a bound person whose record is in the cohort) or a liaison vouched;
    a request that contradicts the person's verified record is kept unverified and ``flagged``, never verified."""

    __tablename__ = "class_memberships"
    __table_args__ = (
        UniqueConstraint("cohort_id", "person_id"),
        UniqueConstraint("cohort_id", "openid", name="uq_class_memberships_cohort_openid"),
        Index("ix_class_memberships_person_id", "person_id"),
        Index("ix_class_memberships_openid", "openid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("class_cohorts.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    openid: Mapped[str | None] = mapped_column(String(64))  # official-account or mini-program openid
    channel: Mapped[str] = mapped_column(String(16))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_by: Mapped[str | None] = mapped_column(String(16))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    vouched_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ContactChangeReport.kind / .status
CHANGE_KINDS = ("phone", "email", "city", "employer")
REPORT_PENDING, REPORT_APPLIED, REPORT_REJECTED = "pending", "applied", "rejected"


class ContactChangeReport(Base):
    """A classmate's report of their own new phone, email, city or employer, waiting for the liaison or staff to
    confirm it into the databank (provenance ``self_reported`` or ``liaison``). The value is encrypted."""

    __tablename__ = "contact_change_reports"
    __table_args__ = (Index("ix_contact_change_reports_cohort_id", "cohort_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("class_cohorts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    value_encrypted: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default=REPORT_PENDING)
    channel: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Nomination(Base):
    """A liaison's nomination of an outstanding classmate, with evidence, kept for the magazine and honour roll."""

    __tablename__ = "class_nominations"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("class_cohorts.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    citation: Mapped[str] = mapped_column(String(2000))
    nominated_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NominationEvidence(Base):
    """A file backing a nomination (a news clipping, an award certificate): JPEG, PNG or PDF, by its bytes."""

    __tablename__ = "class_nomination_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("class_nominations.id", ondelete="CASCADE"), index=True)
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
