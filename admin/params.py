"""Numbers typed into the console's forms and query strings: what every view parses the same way.

``str.isdigit`` alone accepts ² or ١ (which ``int`` refuses or misreads) and any length (``int`` refuses a string of
more than 4,300 digits): either would be a 500. A value here is ASCII digits, at most 19 of them, within the range
asked for; anything else is ``None``, which the view turns into its 400 page or ignores (a notice's id).
"""

from __future__ import annotations

MAX_ID = 2**63 - 1  # a database id (BIGINT)


def whole_number(value: str, *, at_least: int = 0, at_most: int = MAX_ID) -> int | None:
    """``value`` as a whole number within ``[at_least, at_most]``, or None if it is not one."""
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        return None
    number = int(value)
    return number if at_least <= number <= at_most else None


def record_id(value: str) -> int | None:
    """A database id (1 and up), or None."""
    return whole_number(value, at_least=1)
