"""The second factor: TOTP (RFC 6238, pyotp), enrolled with a QR code, checked without replay.

The secret is made at enrolment and sealed with the databank's keyring (kind ``staff_totp``), so the database alone
yields no second factor; it counts only once a first code confirms it. A code is accepted one step either side of
now (``valid_window=1``: clocks drift), and each time step's code is accepted once per account: its step is claimed
in Redis (``SET NX``) for longer than the code stays valid, so a code seen over a shoulder cannot be used again.
"""

from __future__ import annotations

import hmac
import io
import time
from datetime import UTC, datetime

import pyotp
import redis
import segno
from sqlalchemy.orm import Session

from core import redis_keys, texts
from core.errors import Conflict
from models import StaffAccount, utcnow
from services.databank import audit
from services.databank.keys import Keyring
from services.staff import recovery
from services.staff.accounts import actor_of, get_account

KIND = "staff_totp"  # the keyring's associated data: a sealed TOTP secret cannot be passed off as another value
VALID_WINDOW = 1


def enrolment_secret(session: Session, keyring: Keyring, account_id: int) -> str:
    """The secret to enrol, made (and sealed) on first call and the same until confirmed. ``Conflict`` once
    the account has a confirmed authenticator."""
    account = get_account(session, account_id)
    if account.totp_confirmed_at is not None:
        raise Conflict("already enrolled", user_message=texts.CONSOLE["already_enrolled"])
    if account.totp_secret is None:
        account.totp_secret = keyring.encrypt(KIND, pyotp.random_base32())
        session.flush()
    return keyring.decrypt(KIND, account.totp_secret)


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=texts.STAFF_TOTP_ISSUER)


def qr_svg(uri: str) -> bytes:
    """The enrolment QR code as an SVG document (served by the console itself: the secret goes to no one else)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(buffer, kind="svg", scale=5, border=2, xmldecl=False)
    return buffer.getvalue()


def _matching_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret)
    if not (code.isascii() and code.isdigit() and len(code) == totp.digits):
        return None
    if not totp.verify(code, for_time=int(now), valid_window=VALID_WINDOW):
        return None
    step = totp.timecode(datetime.fromtimestamp(now, UTC))
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def _claim(client: redis.Redis, account_id: int, step: int) -> bool:
    return bool(client.set(redis_keys.staff_totp_used(account_id, step), 1, nx=True, ex=redis_keys.TOTP_USED_TTL))


def verify_code(
    client: redis.Redis, keyring: Keyring, account: StaffAccount, code: str, *, now: float | None = None
) -> bool:
    """Whether ``code`` is the account's current code, not used before. False without a secret."""
    if account.totp_secret is None:
        return False
    step = _matching_step(keyring.decrypt(KIND, account.totp_secret), code.strip(), time.time() if now is None else now)
    return step is not None and _claim(client, account.id, step)


def confirm_enrolment(
    session: Session, client: redis.Redis, keyring: Keyring, account_id: int, code: str
) -> list[str] | None:
    """Confirm the authenticator with its first code: returns the ten recovery codes (shown once), or None if the
    code is wrong. ``Conflict`` if already confirmed."""
    account = get_account(session, account_id)
    if account.totp_confirmed_at is not None:
        raise Conflict("already enrolled", user_message=texts.CONSOLE["already_enrolled"])
    if not verify_code(client, keyring, account, code):
        return None
    account.totp_confirmed_at = utcnow()
    session.flush()
    codes = recovery.generate(session, account.id)
    audit.record(session, actor=actor_of(account.username), action="staff.totp_enrolled", account_id=account.id)
    return codes
