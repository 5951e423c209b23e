"""Staff accounts of the console and everything that lets one in: passwords, lockout, TOTP, recovery codes,
sessions and the role policy. The console (``admin/``) and the CLI call these; neither holds a rule of its own.

- ``policy``: the roles, and the permission → roles table (data) with the one check every page goes through.
- ``passwords``: argon2 hashing and the password rules.
- ``lockout``: failed-login counters per username and per client address, in Redis.
- ``accounts``: creating, listing, disabling accounts; changing their roles; resetting a second factor.
- ``login``: the password step (lockout, constant-ish time, one answer for every failure).
- ``totp``: enrolment (secret sealed with the databank's keyring, QR code) and verification without replay.
- ``recovery``: ten one-time recovery codes, stored as hashes.
- ``sessions``: server-side sessions in Redis (idle and absolute lifetimes, logout everywhere).

Every privileged action writes the databank's append-only audit log, with the actor ``staff:<username>`` (or the
CLI's ``cli:<user>``).
"""

from services.staff.accounts import (
    Staff,
    StaffSummary,
    actor_of,
    create_account,
    disable,
    list_accounts,
    reset_totp,
    set_roles,
    staff_by_id,
)
from services.staff.login import authenticate
from services.staff.policy import PERMISSIONS, ROLES, allows, check, permissions_of

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "Staff",
    "StaffSummary",
    "actor_of",
    "allows",
    "authenticate",
    "check",
    "create_account",
    "disable",
    "list_accounts",
    "permissions_of",
    "reset_totp",
    "set_roles",
    "staff_by_id",
]
