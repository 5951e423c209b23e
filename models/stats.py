"""The dashboard's aggregates: one row per (Beijing calendar day, metric) with the day's count.

The scheduler's ``stats.rollup`` job (``services.stats``) writes them; the console's dashboard reads a few hundred of
them instead of counting a million followers or cards on every page view. Metrics are strings (``services.stats``
lists them), so a new chart adds a metric without a migration.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class DailyCount(Base):
    __tablename__ = "daily_counts"

    # The primary key (day, metric) is also the dashboard's range read: WHERE day >= :since.
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    # When the job last computed this row (the dashboard says how fresh its numbers are).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
