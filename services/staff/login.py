"""The password step of a console login: lockout first, then argon2, with one answer for every failure.

"No such user", "wrong password" and "account disabled" all raise :class:`LoginFailed` with the same message, and
an unknown username still pays for an argon2 verification, so neither the answer nor its timing tells whether a
username exists. A locked username or address raises :class:`LoginLocked` before any password is checked.
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy.orm import Session

from core import texts
from core.errors import LoginFailed, LoginLocked
from core.redis_keys import hashed
from core.settings import AdminSettings
from models import StaffAccount, utcnow
from services.databank import audit
from services.databank.keys import Keyring
from services.staff import lockout, passwords, recovery, totp
from services.staff.accounts import account_by_username, actor_of, get_account

log = logging.getLogger(__name__)


def locked_error(client: redis.Redis, settings: AdminSettings, *, username: str, ip: str) -> LoginLocked:
    minutes = lockout.minutes_left(client, settings, username=username, ip=ip)
    return LoginLocked("login locked", user_message=texts.CONSOLE["login_locked"].format(minutes=minutes))


def count_failure(session: Session, client: redis.Redis, settings: AdminSettings, *, username: str, ip: str) -> None:
    """Count a failed step (password or second factor); the failure that reaches a limit is audited."""
    if lockout.record_failure(client, settings, username=username, ip=ip):
        account = account_by_username(session, username)
        log.warning("console login locked for user %s / address %s", hashed(username), hashed(ip or "-"))
        if account is not None:
            audit.record(session, actor="console", action="staff.login_locked", account_id=account.id)


def authenticate(
    session: Session, client: redis.Redis, settings: AdminSettings, *, username: str, password: str, ip: str
) -> StaffAccount:
    """The account whose password this is. Raises ``LoginLocked`` or ``LoginFailed``."""
    if lockout.locked(client, settings, username=username, ip=ip):
        raise locked_error(client, settings, username=username, ip=ip)
    account = account_by_username(session, username)
    password = password[: passwords.MAX_LENGTH + 1]
    if account is None:
        passwords.burn(password)
        ok = False
    else:
        ok = passwords.verify(account.password_hash, password) and account.disabled_at is None
    if not ok or account is None:
        count_failure(session, client, settings, username=username, ip=ip)
        raise LoginFailed("bad credentials")
    lockout.clear(client, username=username)
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
    return account


def second_factor(
    session: Session,
    client: redis.Redis,
    settings: AdminSettings,
    keyring: Keyring,
    *,
    account_id: int,
    code: str,
    ip: str,
) -> str:
    """Check the second step of a login: a TOTP code, or else a recovery code. Returns how (``totp`` or
    ``recovery``) and writes the login to the audit log. Wrong codes count towards the lockout; raises
    ``LoginLocked``, or ``LoginFailed`` with the second step's message."""
    account = get_account(session, account_id)
    if account.disabled_at is not None or account.totp_confirmed_at is None:
        raise LoginFailed("account disabled or not enrolled")
    if lockout.locked(client, settings, username=account.username, ip=ip):
        raise locked_error(client, settings, username=account.username, ip=ip)
    code = code.strip()[:64]
    if totp.verify_code(client, keyring, account, code):
        method = "totp"
    elif recovery.consume(session, account.id, code):
        method = "recovery"
        actor = actor_of(account.username)
        audit.record(session, actor=actor, action="staff.recovery_code_used", account_id=account.id)
    else:
        count_failure(session, client, settings, username=account.username, ip=ip)
        raise LoginFailed("wrong second factor", user_message=texts.CONSOLE["totp_failed"])
    complete(session, client, account, method=method)
    return method


def complete(session: Session, client: redis.Redis, account: StaffAccount, *, method: str) -> None:
    """The login succeeded (after the second factor, or its enrolment): record it."""
    lockout.clear(client, username=account.username)
    account.last_login_at = utcnow()
    session.flush()
    audit.record(session, actor=actor_of(account.username), action="staff.login", account_id=account.id, method=method)


def enrol(
    session: Session,
    client: redis.Redis,
    settings: AdminSettings,
    keyring: Keyring,
    *,
    account_id: int,
    code: str,
    ip: str,
) -> list[str]:
    """Confirm a first-time authenticator with its first code, which also completes the login; returns the ten
    recovery codes to show once. Wrong codes count towards the lockout (``LoginLocked``, ``LoginFailed``)."""
    account = get_account(session, account_id)
    if account.disabled_at is not None:
        raise LoginFailed("account disabled")
    if lockout.locked(client, settings, username=account.username, ip=ip):
        raise locked_error(client, settings, username=account.username, ip=ip)
    codes = totp.confirm_enrolment(session, client, keyring, account.id, code.strip()[:64])
    if codes is None:
        count_failure(session, client, settings, username=account.username, ip=ip)
        raise LoginFailed("wrong enrolment code", user_message=texts.CONSOLE["totp_failed"])
    complete(session, client, account, method="enrol")
    return codes
