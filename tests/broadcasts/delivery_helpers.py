"""Helpers for the delivery tests (and the crash test's sender process): followers at both ends, broadcasts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from emulator.testing import RunningEmulator, openid
from models import Broadcast, Follower, utcnow
from models.broadcast import SCHEDULED

TEMPLATE_ID = "TPL_NEWS_01"
TEXT: dict[str, Any] = {"kind": "text", "text": "校友会快讯：校庆日程已公布"}
TEMPLATE: dict[str, Any] = {
    "kind": "template",
    "template": {"template_id": TEMPLATE_ID, "fields": {"first": "校庆日程已公布", "remark": "欢迎回家"}},
}


def ids(n: int, prefix: str = "oBc") -> list[str]:
    return [openid(i, prefix) for i in range(n)]


def add_followers(
    session: Session, emulator: RunningEmulator | None, openids: list[str], *, subscribed: bool = True, **fields: Any
) -> None:
    """Followers in our table and at the emulator (which only delivers to its subscribed followers)."""
    now = utcnow()
    rows = [{"openid": o, "subscribed": subscribed, "subscribed_at": now, **fields} for o in openids]
    for start in range(0, len(rows), 5000):
        session.execute(insert(Follower), rows[start : start + 5000])
    session.commit()
    if emulator is not None:
        for start in range(0, len(openids), 2000):
            emulator.add_followers(*openids[start : start + 2000], subscribe=subscribed)


def add_broadcast(
    session: Session,
    channels: str = "template",
    content: dict[str, Any] | None = None,
    *,
    status: str = SCHEDULED,
    scheduled_at: datetime | None = None,
    ignore_quiet_hours: bool = True,
) -> int:
    broadcast = Broadcast(
        title="校庆",
        channels=channels,
        content_json=json.dumps(content or TEMPLATE, ensure_ascii=False),
        status=status,
        scheduled_at=scheduled_at,
        ignore_quiet_hours=ignore_quiet_hours,
        created_by="officer",
    )
    session.add(broadcast)
    session.commit()
    return broadcast.id


def beijing(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    from core.clock import BEIJING

    return datetime(year, month, day, hour, minute, tzinfo=BEIJING)


def recent(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)
