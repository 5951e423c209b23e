"""Events (reunions, talks, alumni representative meetings, academic exchanges) and their registrations.

An event belongs to an association (``association_id``; None: the alumni office itself), so a branch admin sees and
runs only their association's events. Capacity is guarded by one conditional ``UPDATE`` of ``confirmed_count``
(``... WHERE confirmed_count < capacity``): the row lock makes concurrent registrations for the last place
serialise, so exactly one wins; the others are waitlisted (``waitlist``) or refused.

A registration names its registrant once (``registrant``: ``person:<id>`` when the databank knows them, else
``oa:<openid>`` or ``mp:<openid>``); a partial unique index allows one live (confirmed or waitlisted) registration
per registrant and event, so registering twice, from the bot and the mini-program, is one registration. The
waitlist is ordered by ``id``. Attendance is recorded once (``checked_in_at`` set only while NULL), by scanning the
alumni card's rotating QR with a scanner credential scoped to the event (``card_scanners.event_id``) or by the
attendee scanning the event's check-in QR (a scene carrying ``checkin_token``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# Event.status
EVENT_DRAFT, EVENT_PUBLISHED, EVENT_CANCELLED = "draft", "published", "cancelled"
EVENT_STATUSES = (EVENT_DRAFT, EVENT_PUBLISHED, EVENT_CANCELLED)

# Event.eligibility
ELIGIBLE_EVERYONE, ELIGIBLE_CARD_HOLDERS, ELIGIBLE_SEGMENT = "everyone", "card_holders", "segment"
ELIGIBILITIES = (ELIGIBLE_EVERYONE, ELIGIBLE_CARD_HOLDERS, ELIGIBLE_SEGMENT)

# EventRegistration.status
REG_CONFIRMED, REG_WAITLISTED, REG_CANCELLED = "confirmed", "waitlisted", "cancelled"
REG_LIVE = (REG_CONFIRMED, REG_WAITLISTED)
_LIVE_SQL = "status IN ('confirmed', 'waitlisted')"

# EventRegistration.checkin_method
CHECKIN_CARD, CHECKIN_SCENE, CHECKIN_DESK = "card", "scene", "desk"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_status_starts_at", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    association_id: Mapped[int | None] = mapped_column(ForeignKey("associations.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    venue: Mapped[str] = mapped_column(String(255), default="")
    venue_latitude: Mapped[float | None] = mapped_column(Float)
    venue_longitude: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    waitlist: Mapped[bool] = mapped_column(Boolean, default=True)  # past capacity: waitlisted, else refused
    registration_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: from publication
    registration_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until it starts
    eligibility: Mapped[str] = mapped_column(String(16), default=ELIGIBLE_EVERYONE)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"))  # eligibility "segment"
    questions_json: Mapped[str] = mapped_column(Text, default="[]")  # the optional questions asked at registration
    status: Mapped[str] = mapped_column(String(16), default=EVENT_DRAFT)
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0)  # kept by the capacity guard
    waitlisted_count: Mapped[int] = mapped_column(Integer, default=0)
    checkin_token: Mapped[str] = mapped_column(String(32))  # the check-in QR's scene secret
    reminders_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the day-before reminders were queued
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventRegistration(Base):
    __tablename__ = "event_registrations"
    __table_args__ = (
        Index(
            "uq_event_registrations_live",
            "event_id",
            "registrant",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
        Index("ix_event_registrations_event_id_status", "event_id", "status", "id"),  # the list, the waitlist head
        Index("ix_event_registrations_person_id", "person_id"),
        Index("ix_event_registrations_oa_openid", "oa_openid"),
        Index("ix_event_registrations_mp_openid", "mp_openid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    registrant: Mapped[str] = mapped_column(String(80))  # person:<id> | oa:<openid> | mp:<openid>
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    oa_openid: Mapped[str | None] = mapped_column(String(64))  # where to reach them: the official account
    mp_openid: Mapped[str | None] = mapped_column(String(64))  # or the mini-program (subscribe messages)
    display_name: Mapped[str | None] = mapped_column(String(64))  # as given, for one the databank does not know
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # bot / miniprogram / console
    answers_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # moved up from the waitlist
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkin_method: Mapped[str | None] = mapped_column(String(8))  # card / scene / desk
    checkin_scanner_id: Mapped[int | None] = mapped_column(ForeignKey("card_scanners.id", ondelete="SET NULL"))
