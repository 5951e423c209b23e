"""Staff accounts: create, look up, list, disable, and reset an account's second factor.

Owns the rules for a username, a display name and a set of roles. Disabling or resetting an account ends every
session it has (through ``sessions``). Accounts are never deleted, so audit entries keep naming someone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, NotFound, ValidationFailed
from models import StaffAccount, StaffRecoveryCode, StaffRole, utcnow
from services.databank import audit
from services.staff import passwords, sessions
from services.staff.policy import ROLES

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,31}")


@dataclass(frozen=True)
class Staff:
    """Who is signed in: what the console needs on every request."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]

    @property
    def actor(self) -> str:
        return actor_of(self.username)


@dataclass(frozen=True)
class StaffSummary:
    """One row of the accounts list."""

    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    totp_enrolled: bool
    disabled_at: datetime | None
    created_at: datetime


def actor_of(username: str) -> str:
    """The audit log's name for a staff member."""
    return f"staff:{username}"


def normalise_username(username: str) -> str:
    return username.strip().lower()


def _check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(r for r in ROLES if r in set(roles))
    if not chosen or set(roles) - set(ROLES):
        raise ValidationFailed("unknown or no roles", user_message=texts.CONSOLE["roles_invalid"])
    return chosen


def create_account(
    session: Session, *, username: str, display_name: str, password: str, roles: Iterable[str], actor: str
) -> StaffAccount:
    """A new account without a second factor (it enrols at its first login). Raises ``ValidationFailed`` (with the
    reader's message) or ``Conflict`` (username taken)."""
    username = normalise_username(username)
    if not USERNAME.fullmatch(username):
        raise ValidationFailed("bad username", user_message=texts.CONSOLE["username_invalid"])
    display_name = display_name.strip()
    if not display_name or len(display_name) > 64:
        raise ValidationFailed("bad display name", user_message=texts.CONSOLE["display_name_invalid"])
    chosen = _check_roles(roles)
    passwords.check_new(password, username)
    if session.scalar(select(StaffAccount.id).where(StaffAccount.username == username)) is not None:
        raise Conflict("username taken", user_message=texts.CONSOLE["username_taken"])
    account = StaffAccount(
        username=username,
        display_name=display_name,
        password_hash=passwords.hash_password(password),
        created_by=actor[:64],
    )
    session.add(account)
    session.flush()
    session.add_all(StaffRole(account_id=account.id, role=role) for role in chosen)
    session.flush()
    audit.record(session, actor=actor, action="staff.account_created", account_id=account.id, roles=list(chosen))
    return account


def account_by_username(session: Session, username: str) -> StaffAccount | None:
    return session.scalar(select(StaffAccount).where(StaffAccount.username == normalise_username(username)))


def get_account(session: Session, account_id: int) -> StaffAccount:
    account = session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound(f"staff account {account_id}")
    return account


def roles_of(session: Session, account_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(StaffRole.role).where(StaffRole.account_id == account_id)))


def staff_by_id(session: Session, account_id: int) -> Staff | None:
    """The signed-in view of an account, or None if it is gone or disabled."""
    account = session.get(StaffAccount, account_id)
    if account is None or account.disabled_at is not None:
        return None
    return Staff(account.id, account.username, account.display_name, roles_of(session, account.id))


def list_accounts(session: Session) -> list[StaffSummary]:
    roles: dict[int, list[str]] = {}
    for account_id, role in session.execute(select(StaffRole.account_id, StaffRole.role)):
        roles.setdefault(account_id, []).append(role)
    return [
        StaffSummary(
            id=a.id,
            username=a.username,
            display_name=a.display_name,
            roles=tuple(r for r in ROLES if r in roles.get(a.id, ())),
            totp_enrolled=a.totp_confirmed_at is not None,
            disabled_at=a.disabled_at,
            created_at=a.created_at,
        )
        for a in session.scalars(select(StaffAccount).order_by(StaffAccount.username))
    ]


def disable(session: Session, client: redis.Redis, account_id: int, *, actor: str, by_account_id: int | None) -> str:
    """Disable an account and end its sessions; returns its username. One cannot disable oneself (``Conflict``)."""
    account = get_account(session, account_id)
    if account.id == by_account_id:
        raise Conflict("cannot disable oneself", user_message=texts.CONSOLE["cannot_disable_self"])
    if account.disabled_at is None:
        account.disabled_at = utcnow()
        session.flush()
        audit.record(session, actor=actor, action="staff.account_disabled", account_id=account.id)
    sessions.end_all(client, account.id)
    return account.username


def reset_totp(session: Session, client: redis.Redis, account_id: int, *, actor: str) -> str:
    """Forget the account's authenticator and recovery codes and end its sessions: it enrols again at its next
    login. Returns its username."""
    account = get_account(session, account_id)
    account.totp_secret = None
    account.totp_confirmed_at = None
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.account_id == account.id))
    session.flush()
    audit.record(session, actor=actor, action="staff.totp_reset", account_id=account.id)
    sessions.end_all(client, account.id)
    return account.username


def logout_everywhere(session: Session, client: redis.Redis, staff: Staff) -> int:
    """End every session of the signed-in account (this one included); returns how many ended."""
    ended = sessions.end_all(client, staff.id)
    audit.record(session, actor=staff.actor, action="staff.logout_everywhere", account_id=staff.id, sessions=ended)
    return ended
