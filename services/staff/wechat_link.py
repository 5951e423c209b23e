"""Linking a staff member's own WeChat to their console account (``StaffAccount.openid``), so that the help desk's
reminders reach them as template messages.

The console shows a temporary parametric QR code of the official account (:func:`start`) whose scene is
``staff:<account id>.<expiry>.<mac>``: the mac is an HMAC (the databank keyring's current key) of the account, the
expiry and the account's *current* openid. Scanning it with one's WeChat (following the account if need be) pushes
that scene to the webhook; the bot's handler (``handlers/staff_link.py``) calls :func:`complete` with the scanner's
openid. It works once: linking changes the account's openid, so the same code no longer verifies; and for
``TOKEN_TTL`` seconds only. Nothing is stored until the scan (the webhook has no Redis state to share with the
console for it). An openid linked to another account moves to this one (one person, one WeChat); every link and
unlink is audited.
"""

from __future__ import annotations

import hmac
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from models import StaffAccount
from services.databank import audit
from services.databank.keys import Keyring
from services.ports import QRCodeMaker

SCENE_PREFIX = "staff:"
TOKEN_TTL = 600  # seconds the QR (and its code) works
_KIND = "staff_wechat_link"


def _mac(keyring: Keyring, account_id: int, expires: int, openid: str | None) -> list[str]:
    """The code's mac under every configured key (the first is the one to issue)."""
    return [m.partition(":")[2] for m in keyring.blind_indexes(_KIND, f"{account_id}.{expires}.{openid or ''}")]


def scene(keyring: Keyring, account: StaffAccount, *, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + TOKEN_TTL)
    mac = _mac(keyring, account.id, expires, account.openid)[0]
    return f"{SCENE_PREFIX}{account.id}.{expires:x}.{mac}"


def start(session: Session, keyring: Keyring, maker: QRCodeMaker, account_id: int) -> str:
    """The URL of a temporary QR code that links ``account_id`` to the WeChat that scans it. Raises ``NotFound`` and
    ``WeChatAPIError`` (WeChat refused or could not be reached)."""
    account = session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound(f"no staff account {account_id}")
    return maker.create_qrcode(scene(keyring, account), expire_seconds=TOKEN_TTL).url


def _parse(value: str, now: float | None) -> tuple[int, int, str] | None:
    """(account id, expiry, mac) of an unexpired staff-link scene, or None."""
    parts = value.removeprefix(SCENE_PREFIX).split(".") if value.startswith(SCENE_PREFIX) else []
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12:
        return None
    try:
        expires = int(parts[1], 16)
    except ValueError:
        return None
    return (int(parts[0]), expires, parts[2]) if expires >= (now if now is not None else time.time()) else None


def complete(
    session: Session, keyring: Keyring, value: str, openid: str, *, now: float | None = None
) -> StaffAccount | None:
    """Link the account a scanned scene names to ``openid`` (the scanner's); None for a scene that is not a staff
    link, forged, expired, already used, or of a disabled account."""
    parsed = _parse(value, now)
    account = session.get(StaffAccount, parsed[0]) if parsed is not None else None
    if parsed is None or account is None or account.disabled_at is not None:
        return None
    if not any(hmac.compare_digest(parsed[2], m) for m in _mac(keyring, account.id, parsed[1], account.openid)):
        return None
    if account.openid == openid:
        return account
    previous = session.scalar(select(StaffAccount).where(StaffAccount.openid == openid))
    if previous is not None:
        previous.openid = None
        session.flush()
        audit.record(session, actor="system", action="staff.wechat_unlink", account_id=previous.id, moved=True)
    account.openid = openid
    session.flush()
    audit.record(session, actor=f"staff:{account.username}", action="staff.wechat_link", account_id=account.id)
    return account


def unlink(session: Session, account_id: int, *, actor: str) -> None:
    account = session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound(f"no staff account {account_id}")
    if account.openid is not None:
        account.openid = None
        audit.record(session, actor=actor, action="staff.wechat_unlink", account_id=account.id)


def linked(session: Session, account_id: int) -> bool:
    account = session.get(StaffAccount, account_id)
    return account is not None and account.openid is not None
