"""Staff accounts of the console: the account, its roles (as rows, so roles are data) and its recovery codes.

The password is an argon2 hash; the TOTP secret is sealed with the databank's keyring (``kid:base64``), so a copy of
the database alone yields no second factor; recovery codes are kept as SHA-256 hashes only, each usable once.
Nothing is deleted: an account that leaves is disabled (``disabled_at``), so the audit log's actors stay meaningful.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)  # lower case; the audit log's "staff:<username>"
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(255))  # sealed; set at enrolment, cleared by a reset
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first valid code was entered
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The official-account openid of the staff member's own WeChat, linked by scanning a QR in the console: the
    # help desk's reminders reach them there as template messages. None: the console only.
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)


class StaffRole(Base):
    """One role of an account. Scoped roles (branch_admin, class_liaison) will carry their scope in a later column."""

    __tablename__ = "staff_roles"

    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class StaffRecoveryCode(Base):
    """A one-time recovery code, by its SHA-256 (the codes carry 80 random bits, so a plain hash is enough)."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
