"""The alumni databank's golden record: a person and what hangs off them.

A ``Person`` exists before any WeChat identity does (registrar rosters arrive first); identities are bound later by
verification. Children: former names (``PersonName``), education records (unique by institution and student
number), contact points (encrypted, with a blind index), employment, and WeChat identities (each identity belongs
to at most one person).

Provenance: every record has ``batch_id``, the change set (``DatabankBatch``) that created it, and ``provenance``,
a map from field name to the change set that last set that field where it differs from ``batch_id``. A change set
carries its source (registrar, self-reported, liaison, other), so each field's source and batch are known.

Search keys (``*_simplified``, ``*_pinyin``, ``*_initials``, ``*_folded``, ``student_no``) use the "C" collation on
PostgreSQL, so one b-tree index serves both ``LIKE 'prefix%'`` and ``ORDER BY``. Resident ID numbers are never
stored: only keyed HMACs of the number and of its last four characters. Contact values are stored as AES-GCM
ciphertext.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


def search_key(length: int) -> String:
    """A string column compared bytewise: a plain b-tree index then serves prefix LIKE and ORDER BY on PostgreSQL."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


# Person.status
ACTIVE, MERGED, ANONYMISED = "active", "merged", "anonymised"


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = (
        # Few people are merged: a partial index keeps deletes fast without slowing every insert.
        Index(
            "ix_persons_merged_into_id",
            "merged_into_id",
            postgresql_where=text("merged_into_id IS NOT NULL"),
            sqlite_where=text("merged_into_id IS NOT NULL"),
        ),
        # (key, id): a search walks the index in the order it pages in, even through thousands of equal keys.
        Index("ix_persons_name_simplified", "name_simplified", "id"),
        Index("ix_persons_name_pinyin", "name_pinyin", "id"),
        Index("ix_persons_name_initials", "name_initials", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # as the source wrote it
    name_simplified: Mapped[str] = mapped_column(search_key(64))
    name_traditional: Mapped[str] = mapped_column(String(64))
    name_pinyin: Mapped[str] = mapped_column(search_key(128))  # "zhangxiaoming"
    name_initials: Mapped[str] = mapped_column(search_key(32))  # "zxm"
    gender: Mapped[str | None] = mapped_column(String(1))  # M / F
    birth_date: Mapped[date | None] = mapped_column(Date)
    nationality: Mapped[str | None] = mapped_column(String(64))
    # "kid:hex" keyed HMACs; the number itself is never stored.
    id_hmac: Mapped[str | None] = mapped_column(String(48), index=True)
    id_last4_hmac: Mapped[str | None] = mapped_column(String(48))
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)  # processing restricted at their request
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("databank_batches.id"))
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonName(Base):
    """Another name of a person (a former name); searchable like the current one."""

    __tablename__ = "person_names"
    __table_args__ = (
        Index("ix_person_names_name_simplified", "name_simplified", "person_id"),
        Index("ix_person_names_name_pinyin", "name_pinyin", "person_id"),
        Index("ix_person_names_name_initials", "name_initials", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="former")
    name: Mapped[str] = mapped_column(String(64))
    name_simplified: Mapped[str] = mapped_column(search_key(64))
    name_pinyin: Mapped[str] = mapped_column(search_key(128))
    name_initials: Mapped[str] = mapped_column(search_key(32))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("databank_batches.id"))


# EducationRecord.level
LEVELS = ("associate", "bachelor", "master", "doctor", "adult", "online")


class EducationRecord(Base):
    __tablename__ = "education_records"
    __table_args__ = (
        # student_no first: the same index serves uniqueness and student-number prefix search.
        UniqueConstraint("student_no", "institution"),
        # Filter searches walk these in order (newest class first) and stop at the page. They filter on the folded
        # labels, so 计算机学院 finds 計算機學院; verification by class uses the class one.
        Index("ix_education_records_college_folded", "college_folded", "grad_year", "person_id"),
        Index("ix_education_records_major_folded", "major_folded", "grad_year", "person_id"),
        Index("ix_education_records_class_name_folded", "class_name_folded", "grad_year", "person_id"),
        Index("ix_education_records_grad_year_person_id", "grad_year", "person_id"),
        # By person, with the filter columns: a name search checks a person's class without visiting the table.
        Index("ix_education_records_person_id", "person_id", "college_folded", "major_folded", "grad_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    institution: Mapped[str] = mapped_column(String(64))
    student_no: Mapped[str] = mapped_column(search_key(32))
    college: Mapped[str | None] = mapped_column(String(64))
    major: Mapped[str | None] = mapped_column(String(64))
    class_name: Mapped[str | None] = mapped_column(String(64))
    # The labels above folded (``services.databank.names.label_key``: simplified, half-width, lower case, no spaces):
    # what search, verification and duplicate detection compare. Kept in step by every writer: new rows by
    # ``services.databank.rows``, ORM assignments by the attribute events in ``services.databank``.
    college_folded: Mapped[str | None] = mapped_column(search_key(64))
    major_folded: Mapped[str | None] = mapped_column(search_key(64))
    class_name_folded: Mapped[str | None] = mapped_column(search_key(64))
    entry_year: Mapped[int | None] = mapped_column(SmallInteger)
    grad_year: Mapped[int | None] = mapped_column(SmallInteger)
    level: Mapped[str] = mapped_column(String(16), default="bachelor")
    international: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("databank_batches.id"))
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A digest of the roster row last imported for this record: the same row again is skipped without a compare.
    import_digest: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ContactPoint.kind
PHONE, EMAIL, ADDRESS = "phone", "email", "address"


class ContactPoint(Base):
    """A phone, email or postal address: AES-GCM ciphertext ("kid:base64") and an HMAC blind index for lookup."""

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("person_id", "kind", "blind_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))  # the unique key leads
    kind: Mapped[str] = mapped_column(String(8))
    value_encrypted: Mapped[str] = mapped_column(Text)
    blind_index: Mapped[str] = mapped_column(String(48), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("databank_batches.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Employment(Base):
    __tablename__ = "employments"
    __table_args__ = (
        Index("ix_employments_city_person_id", "city", "person_id"),  # city search, newest first
        Index("ix_employments_person_id", "person_id", "city"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    employer: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(64))
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("databank_batches.id"))
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# WeChatIdentity.kind
OA_OPENID, MP_OPENID, UNIONID = "oa_openid", "mp_openid", "unionid"


class WeChatIdentity(Base):
    """An official-account openid, mini-program openid or unionid; unique, so it belongs to at most one person."""

    __tablename__ = "wechat_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    claim_id: Mapped[int | None] = mapped_column(Integer)  # the verification claim that bound it, if any
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
