"""Recovery codes: ten per enrolment, shown once, stored as SHA-256 hashes, each usable once.

A code is 16 characters from a 32-letter alphabet without look-alikes (80 random bits), shown as four groups. With
that much entropy a plain SHA-256 is enough (a slow hash guards guessable secrets, not random ones). Using a code is
one conditional UPDATE, so two concurrent uses of the same code cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models import StaffRecoveryCode, utcnow

COUNT = 10
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH = 16


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def looks_like_one(code: str) -> bool:
    normal = _normalise(code)
    return len(normal) == LENGTH and all(ch in ALPHABET for ch in normal)


def generate(session: Session, account_id: int) -> list[str]:
    """Replace the account's recovery codes with ten new ones; returns them for showing, this once."""
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.account_id == account_id))
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    session.add_all(StaffRecoveryCode(account_id=account_id, code_hash=_hash(code)) for code in codes)
    session.flush()
    return ["-".join(code[i : i + 4] for i in range(0, LENGTH, 4)) for code in codes]


def consume(session: Session, account_id: int, code: str) -> bool:
    """Use one code: True the first time, False for a wrong or used code."""
    if not looks_like_one(code):
        return False
    result = session.execute(
        update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.account_id == account_id,
            StaffRecoveryCode.code_hash == _hash(code),
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def remaining(session: Session, account_id: int) -> int:
    query = select(func.count()).where(StaffRecoveryCode.account_id == account_id, StaffRecoveryCode.used_at.is_(None))
    return int(session.scalar(query) or 0)
