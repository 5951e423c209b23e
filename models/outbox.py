"""The outbox: messages we owe a user, written before any send, each with a stable idempotency key; a broadcast's
recipients are rows of it too (``broadcast_id``), sent by the broadcast sender rather than the outbox job.

A row ends ``sent`` or ``failed:<errcode>``; a crash between writing and sending loses nothing, and the unique key
keeps a message from being queued twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

_DUE_SQL = "status = 'pending' AND broadcast_id IS NULL"


class OutboundMessage(Base):
    __tablename__ = "outbound_messages"
    __table_args__ = (
        # The outbox job's due rows: replies and notices only, so a million queued broadcast rows never sit in
        # front of a reply. The broadcast sender walks its own rows by broadcast, status and id.
        Index(
            "ix_outbound_messages_due", "next_attempt_at", sqlite_where=text(_DUE_SQL), postgresql_where=text(_DUE_SQL)
        ),
        Index("ix_outbound_messages_broadcast", "broadcast_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="custom")
    payload_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A broadcast's recipient row (None for every other message).
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
