"""Card numbers: the issue year, eight random digits and a Luhn check digit.

Not sequential, so numbers cannot be walked; the check digit catches a mistyped number before any lookup.
Owns the format only: whether a number is taken is the lifecycle's question (``services/cards/lifecycle.py``).
"""

from __future__ import annotations

import secrets

RANDOM_DIGITS = 8


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_valid_number(number: str) -> bool:
    return len(number) == 4 + RANDOM_DIGITS + 1 and number.isdigit() and luhn_digit(number[:-1]) == number[-1]


def new_number(year: int) -> str:
    body = f"{year:04d}" + "".join(secrets.choice("0123456789") for _ in range(RANDOM_DIGITS))
    return body + luhn_digit(body)
