"""Checkpoints of long jobs (follower sync, later imports and broadcasts): where a re-run after a crash resumes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class JobCheckpoint(Base):
    __tablename__ = "job_checkpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # JSON owned by the job that wrote it.
    cursor_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
