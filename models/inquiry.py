"""The alumni office's help desk: inquiries, every step of their handling, and the knowledge base of answers.

An **inquiry** is one question to the office, from the official-account chat, the mini-program, or logged by staff
(phone, letter, e-mail, in person). Its ``status`` is ``open`` until staff close it with a resolution; escalation to
leadership is a flag on an open inquiry (``escalated``), so "open" still means "somebody owes an answer". The
**events** are the written record the office must keep: every message of the user (text, or an image or voice as a
WeChat media reference), every staff reply with its delivery state, note, assignment, escalation and instruction,
change of category or priority, closing, reopening and rating. Nothing is deleted or edited in place.

A **knowledge entry** is one of the office's standard answers; ``services.inquiries.matcher`` answers chat with them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

INQUIRY_OPEN, INQUIRY_CLOSED = "open", "closed"
_OPEN_SQL = "status = 'open'"
_WAITING_SQL = "answer_waiting IS true"
_UNANSWERED_SQL = "status = 'open' AND answered_at IS NULL"
_ESCALATED_SQL = "status = 'open' AND escalated IS true"

# Inquiry.channel: where the question came from.
CHANNELS = ("wechat", "miniprogram", "phone", "letter", "email", "in_person")
CATEGORIES = ("card", "verification", "data_update", "donation", "event", "archive", "branch", "other")
PRIORITIES = ("low", "normal", "high", "urgent")


class Inquiry(Base):
    __tablename__ = "inquiries"
    __table_args__ = (
        # Only the open questions: the dashboard counts them on every view and the inbox lists them; the closed ones
        # (most of the table, in time) are not in these, so they stay small.
        Index("ix_inquiries_open", "created_at", sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
        Index(
            "ix_inquiries_open_assignee_due",
            "assignee_id",
            "due_at",
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        # Overdue means open, unanswered and past due; escalated means open and waiting for leadership. Both are
        # counted on every inbox view, so each has its own small index even with a large backlog.
        Index(
            "ix_inquiries_unanswered_due",
            "due_at",
            sqlite_where=text(_UNANSWERED_SQL),
            postgresql_where=text(_UNANSWERED_SQL),
        ),
        Index(
            "ix_inquiries_escalated",
            "created_at",
            sqlite_where=text(_ESCALATED_SQL),
            postgresql_where=text(_ESCALATED_SQL),
        ),
        # Answers held for the user's next message (the 48-hour window was closed): looked up on every push.
        Index(
            "ix_inquiries_answer_waiting",
            "openid",
            sqlite_where=text(_WAITING_SQL),
            postgresql_where=text(_WAITING_SQL),
        ),
        Index("ix_inquiries_person_id", "person_id"),
        Index("ix_inquiries_category_created", "category", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The asker's openid in the channel they used (official account or mini-program); none for a phone call or letter.
    openid: Mapped[str | None] = mapped_column(String(64), index=True)
    # What created it: the push's dedupe key, the mini-program request's key, or staff:<uuid>; never filed twice.
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    question: Mapped[str] = mapped_column(Text)  # the opening message (the transcript is in the events)
    status: Mapped[str] = mapped_column(String(16), default=INQUIRY_OPEN)
    channel: Mapped[str] = mapped_column(String(16), default="wechat")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    # Who asked, when it came by phone or letter and no databank person is linked: sealed with the databank keyring.
    requester_sealed: Mapped[str | None] = mapped_column(String(1024))
    category: Mapped[str] = mapped_column(String(16), default="other")
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the SLA: created_at + the category's hours
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)  # waiting for leadership's instruction
    # 0: not reminded; 1: the assignee was told the SLA is near; 2: told it has passed.
    reminder_stage: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # the user's latest message
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first staff reply
    answer_waiting: Mapped[bool] = mapped_column(Boolean, default=False)  # a reply to show at the next message
    resolution: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating: Mapped[int | None] = mapped_column(SmallInteger)  # 1-5, given once after closing
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="user")  # "user", or "staff:<username>"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# InquiryEvent.kind
MESSAGE, REPLY, NOTE, ASSIGN, ESCALATE, INSTRUCT, CATEGORY, PRIORITY, CLOSE, REOPEN, RATE, LINK, REMIND = (
    "message",
    "reply",
    "note",
    "assign",
    "escalate",
    "instruct",
    "category",
    "priority",
    "close",
    "reopen",
    "rate",
    "link",
    "remind",  # the scheduler reminded the assignee (or the officers) of the SLA
)


class InquiryEvent(Base):
    """One step of an inquiry, in order. A user's message keeps its text, or its WeChat media reference (image,
    voice: fetched through the gateway when staff look). A reply records how it was delivered (``delivery``)."""

    __tablename__ = "inquiry_events"
    __table_args__ = (Index("ix_inquiry_events_inquiry_id", "inquiry_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))  # "user", "staff:<username>" or "system"
    body: Mapped[str | None] = mapped_column(Text)
    msg_type: Mapped[str | None] = mapped_column(String(16))  # a message's type: text, image, voice
    media_id: Mapped[str | None] = mapped_column(String(128))
    # What caused it, when that could arrive twice (a retried push): the same message is kept once.
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # A reply's delivery: queued, sent, held (shown at the next message), notified_template, notified_subscribe,
    # shown (picked up), failed:<errcode>. Other kinds: None.
    delivery: Mapped[str | None] = mapped_column(String(32))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An assignment's or escalation's target (a staff account), when it has one.
    staff_account_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KnowledgeEntry(Base):
    """One of the office's standard answers: the question it answers, words that point to it, and its category."""

    __tablename__ = "knowledge_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(String(500), default="")  # separated by spaces or commas
    category: Mapped[str] = mapped_column(String(16), default="other")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)  # answers given from it in chat
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
