"""The follower record: one row per openid that ever followed the official account. History is kept on unfollow."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class Follower(Base):
    __tablename__ = "followers"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Both indexed: the dashboard's daily rollup counts follows and unfollows by day (services.stats).
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The QR scene the follow came from (the qrscene_ prefix of the EventKey removed), or None.
    subscribe_scene: Mapped[str | None] = mapped_column(String(64))
    # The last message or event from the user: the customer-service window is 48 h from a user message.
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_latitude: Mapped[float | None] = mapped_column(Float)
    last_longitude: Mapped[float | None] = mapped_column(Float)
    last_location_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # WeChat's language of the user (user info API: zh_CN, zh_TW, en, ...), None until fetched; the bot answers in it
    # and broadcast segments filter by it.
    language: Mapped[str | None] = mapped_column(String(16))
    # What the user chose by writing "English" or "中文" (core.i18n.LANGUAGES); it wins over ``language``.
    language_choice: Mapped[str | None] = mapped_column(String(8))
