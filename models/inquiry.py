"""Questions alumni send to the office (the 提问 conversation); staff answer them later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

INQUIRY_OPEN = "open"
_OPEN_SQL = "status = 'open'"


class Inquiry(Base):
    __tablename__ = "inquiries"
    # Only the open questions, oldest first: the dashboard counts them on every view and the inbox lists them; the
    # answered ones (most of the table, in time) are not in it, so it stays small.
    __table_args__ = (
        Index("ix_inquiries_open", "created_at", sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    # The inbound message that created it: a retried push cannot file the question twice.
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=INQUIRY_OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
