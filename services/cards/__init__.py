"""The alumni card: its number, its life, its rotating QR code, the desks that verify it, and applications for it.

One module per concern; this package re-exports the functions the bot, the API, the CLI and the jobs call:

- ``numbers``: the card number's format (year, random digits, Luhn check digit).
- ``lifecycle``: issue, suspend, reinstate, revoke, expire, report lost; whose card it is.
- ``codes``: the signed, short-lived QR token and its PNG.
- ``scanners``: scanner credentials for venue desks, and the verification of a scanned token.
- ``scan_queue``: the Redis queue in front of the scan log, its flush and its retention.
- ``applications``: applying for a card, evidence, the staff decision and the notice (imported as a module:
  ``from services.cards import applications``).
"""

from services.cards.codes import CardCode, code_for_user, make_code, sign_token
from services.cards.lifecycle import (
    CardRow,
    UsersCard,
    active_card,
    by_number,
    card_list,
    card_of_user,
    current_card,
    expire,
    expire_due,
    held_card,
    issue,
    person_id_for,
    reinstate,
    report_lost,
    revoke,
    suspend,
)
from services.cards.numbers import is_valid_number, luhn_digit, new_number
from services.cards.scan_queue import SCAN_BATCH, flush_one_batch, flush_scans, purge_scans
from services.cards.scanners import (
    EXPIRED,
    FORGED,
    REVOKED,
    SUSPENDED,
    VALID,
    Verification,
    create_scanner,
    revoke_scanner,
    scanners,
    verify,
)

__all__ = [
    "EXPIRED",
    "FORGED",
    "REVOKED",
    "SCAN_BATCH",
    "SUSPENDED",
    "VALID",
    "CardCode",
    "CardRow",
    "UsersCard",
    "Verification",
    "active_card",
    "by_number",
    "card_list",
    "card_of_user",
    "code_for_user",
    "create_scanner",
    "current_card",
    "expire",
    "expire_due",
    "flush_one_batch",
    "flush_scans",
    "held_card",
    "is_valid_number",
    "issue",
    "luhn_digit",
    "make_code",
    "new_number",
    "person_id_for",
    "purge_scans",
    "reinstate",
    "report_lost",
    "revoke",
    "revoke_scanner",
    "scanners",
    "sign_token",
    "suspend",
    "verify",
]
