"""The inbound message log: one row per push we acted on, unique by its WeChat identity.

The unique ``dedupe_key`` is the second line of defence behind the Redis claim: if Redis loses the claim (a flush,
a failover), a retried push still cannot act twice. The stored reply lets a retry get the same answer. Message
contents are not kept here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class InboundMessage(Base):
    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    msg_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(64))
    # handled: the reply below went out; deferred: the reply goes out by customer-service message; failed: the
    # handler crashed and the user got the apology.
    status: Mapped[str] = mapped_column(String(16), default="handled")
    handler: Mapped[str | None] = mapped_column(String(64))
    reply_json: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
