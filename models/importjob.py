"""Roster import jobs of the console: one uploaded file waiting for, or handled by, the scheduler process.

The console stores the upload and queues a row; the ``databank.imports`` job claims the oldest queued row and runs
the databank import on it (``services.databank.import_jobs``). The row keeps what the page shows: who asked, the
file's original name (the stored file has a random name), the options, the outcome and the batch it produced. Live
progress and the runner's heartbeat are kept in Redis while the import runs (the import holds a write transaction,
which on SQLite would block a second writer); the row gets the last count when the job ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# ImportJob.status: queued -> running -> completed | rejected | failed | interrupted; queued -> cancelled (by staff)
QUEUED, RUNNING, COMPLETED, REJECTED, FAILED, INTERRUPTED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "rejected",
    "failed",
    "interrupted",
    "cancelled",
)
FINISHED = (COMPLETED, REJECTED, FAILED, INTERRUPTED, CANCELLED)


class ImportJob(Base):
    __tablename__ = "import_jobs"
    # the claim looks for the oldest queued job; recovery for running ones
    __table_args__ = (Index("ix_import_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    actor: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(255))  # shown to staff and kept as the batch's label
    stored_name: Mapped[str] = mapped_column(String(64))  # random; the file in the upload directory
    source: Mapped[str] = mapped_column(String(16))
    encoding: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    rows_total: Mapped[int | None] = mapped_column(Integer)  # known once the runner has counted the rows
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("databank_batches.id"))
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed or was interrupted; never personal data
    runner: Mapped[str | None] = mapped_column(String(64))  # host:pid of the process that claimed it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
