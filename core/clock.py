"""The association's clock: Beijing time (UTC+8; China keeps no daylight saving). WeChat's daily quotas reset at
00:00 Beijing time and its monthly mass-message count runs by Beijing month; staff read times in it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "CST")


def beijing_minutes(moment: datetime) -> str:
    """``moment`` as staff and users read it in a message or a page: 2026-12-07 08:30 (Beijing time)."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
