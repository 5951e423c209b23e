"""Change sets of the alumni databank: import batches and their error reports, prior values, and merges.

Every write to the databank belongs to a ``DatabankBatch`` (an import, a correction, a merge, a verification), whose
``source`` ranks its trust: registrar > self_reported > liaison > other. ``FieldChange`` keeps the values a change
set overwrote, so a whole batch can be rolled back; rows a batch created carry its id and are deleted instead.
``PersonMerge`` keeps what a merge moved and overwrote, so it can be undone within the configured window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# DatabankBatch.source, most trusted first.
SOURCES = ("registrar", "self_reported", "liaison", "other")
# DatabankBatch.kind
IMPORT, CORRECTION, MERGE, VERIFICATION = "import", "correction", "merge", "verification"


class DatabankBatch(Base):
    __tablename__ = "databank_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(255), default="")  # a file name or a short description, no PII
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    # running -> completed | rejected; completed -> rolled_back
    status: Mapped[str] = mapped_column(String(16), default="running")
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rolled_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRowError(Base):
    """One line of an import's error report (row 0: the file as a whole). Never holds an ID number or a phone."""

    __tablename__ = "import_row_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("databank_batches.id", ondelete="CASCADE"), index=True)
    row_no: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)


class FieldChange(Base):
    """The values (and their provenance) that a change set overwrote in one row, for rolling the change set back."""

    __tablename__ = "field_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("databank_batches.id"), index=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonMerge(Base):
    __tablename__ = "person_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    kept_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("databank_batches.id"))
    actor: Mapped[str] = mapped_column(String(64))
    # kept person's fields before the merge, and the ids of the child rows moved from the merged person
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
