"""Broadcasts: saved segments of alumni, the broadcasts staff send to them, and what WeChat's quotas make us remember.

A **segment** is a named, saved filter (``filters_json``, validated by ``services.broadcasts.segments``) over the
followers and the databank. A **broadcast** is one message to a segment through one or more channels in fallback
order (mass send, template, subscribe, customer-service), with its approval, schedule and plan; its recipients are
rows of the outbox (``OutboundMessage.broadcast_id``), written before any send, each ending ``sent``,
``failed:<errcode>`` or ``skipped:<reason>``. A **mass receipt** records that a follower was sent a mass message in
a month (Beijing time): WeChat delivers at most four a month to each follower of a service account, so the planner
counts them. A **subscribe allowance** is how many one-time subscribe messages a mini-program user has allowed for
a template (each ``wx.requestSubscribeMessage`` acceptance adds one; each send spends one).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# Broadcast.status
DRAFT, AWAITING_APPROVAL, SCHEDULED, SENDING, PAUSED, QUOTA_PAUSED, FINISHED, CANCELLED = (
    "draft",  # being composed; nothing planned or written
    "awaiting_approval",  # confirmed by its author; a second member must approve (audience over the threshold)
    "scheduled",  # confirmed (and approved when needed): the sender starts it at scheduled_at, outside quiet hours
    "sending",  # recipients written to the outbox; the sender works through them
    "paused",  # paused by staff; resume goes back to sending
    "quota_paused",  # WeChat said 45009: waits until paused_until (00:00 Beijing time), then sends again
    "finished",  # every recipient row ended sent, failed:<errcode> or skipped:<reason>
    "cancelled",  # stopped by staff: rows not sent yet end skipped:cancelled
)
# Channels, in the order a broadcast may fall back through them.
MASS, TEMPLATE, SUBSCRIBE, CUSTOM = "mass", "template", "subscribe", "custom"
CHANNELS = (MASS, TEMPLATE, SUBSCRIBE, CUSTOM)


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    filters_json: Mapped[str] = mapped_column(Text)  # services.broadcasts.segments.Filters, as JSON
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Broadcast(Base):
    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status_scheduled_at", "status", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))  # staff's name for it (a news article has its own title)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"))  # None: every follower
    channels: Mapped[str] = mapped_column(String(64))  # fallback order, comma-separated names from CHANNELS
    content_json: Mapped[str] = mapped_column(Text)  # kind text | news | template, and its fields
    status: Mapped[str] = mapped_column(String(20), default=DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: as soon as it may go
    ignore_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[int] = mapped_column(Integer, default=0)  # recipients when it was planned
    plan_json: Mapped[str | None] = mapped_column(Text)  # the plan staff confirmed: reach, skipped by reason, ETA
    # A recurring campaign's occurrence (e.g. anniversary:2026-12:10): the scheduler creates each one once.
    campaign_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its recipients were written to the outbox
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # quota_paused: when WeChat's quota resets
    # A mass send: the WeChat tag the segment was synced into, and WeChat's msg_id of the send.
    mass_tag_id: Mapped[int | None] = mapped_column(Integer)
    mass_msg_id: Mapped[int | None] = mapped_column(BigInteger)
    # Kept by the sender (and MASSSENDJOBFINISH / TEMPLATESENDJOBFINISH), so the progress page reads no outbox rows.
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)


class MassReceipt(Base):
    """A follower was sent a mass message in ``month`` (YYYY-MM, Beijing time) by ``broadcast_id``."""

    __tablename__ = "mass_receipts"
    __table_args__ = (Index("ix_mass_receipts_month_openid", "month", "openid"),)

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7))


class SubscribeAllowance(Base):
    """One-time subscribe messages a mini-program user allowed for a template and we have not spent yet."""

    __tablename__ = "subscribe_allowances"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)  # the mini-program openid
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
