"""Staff accounts: create, look up, list, disable, change an account's roles, and reset its second factor.

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


def _enabled_admins(session: Session) -> list[int]:
    """Ids of the enabled accounts holding the admin role."""
    return list(
        session.scalars(
            select(StaffAccount.id)
            .join(StaffRole, StaffRole.account_id == StaffAccount.id)
            .where(StaffRole.role == "admin", StaffAccount.disabled_at.is_(None))
            .order_by(StaffAccount.id)
        )
    )


def set_roles(
    session: Session, account_id: int, roles: Iterable[str], *, actor: str
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Give an account exactly ``roles``; returns its username, old and new roles. Audited when they change.

    ``ValidationFailed`` for no role or an unknown one; ``Conflict`` when it would take the admin role from the last
    enabled admin (nobody could manage staff any more). The guard reloads the account's roles on every request, so
    the change holds from the account's next request on; its sessions stay."""
    chosen = _check_roles(roles)
    account = get_account(session, account_id)
    old = tuple(r for r in ROLES if r in roles_of(session, account.id))
    if old == chosen:
        return account.username, old, chosen
    if "admin" in old and "admin" not in chosen and account.disabled_at is None:
        # Lock every enabled admin's account row first, then count in a fresh statement: two admins demoting each
        # other at once are serialised here (PostgreSQL; SQLite has one writer anyway), and the second one sees the
        # first one's change and is refused, instead of both succeeding and leaving no admin.
        admins = _enabled_admins(session)
        session.scalars(select(StaffAccount.id).where(StaffAccount.id.in_(admins)).with_for_update()).all()
        if _enabled_admins(session) == [account.id]:
            raise Conflict(
                "would take the admin role from the last enabled admin", user_message=texts.CONSOLE["staff_last_admin"]
            )
    session.execute(delete(StaffRole).where(StaffRole.account_id == account.id))
    session.add_all(StaffRole(account_id=account.id, role=role) for role in chosen)
    session.flush()
    audit.record(
        session, actor=actor, action="staff.roles_changed", account_id=account.id, old=list(old), new=list(chosen)
    )
    return account.username, old, chosen


def logout_everywhere(session: Session, client: redis.Redis, staff: Staff) -> int:
    """End every session of the signed-in account (this one included); returns how many ended."""
    ended = sessions.end_all(client, staff.id)
    audit.record(session, actor=staff.actor, action="staff.logout_everywhere", account_id=staff.id, sessions=ended)
    return ended
