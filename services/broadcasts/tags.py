"""The WeChat tags mass sends go through: their names, and their deletion once no broadcast needs them.

An account has at most 100 tags (WeChat answers 45056 after that), so every tag the sender makes for a mass send
(``xy-bc<broadcast id>-<n>``, :func:`tag_name`) is deleted again:

- a broadcast **lets go** of its tag (``Broadcast.mass_tag_id`` back to NULL) when WeChat's MASSSENDJOBFINISH for its
  send arrives (:func:`services.broadcasts.delivery.mass_job_finished`), when it is cancelled, when it finished
  without a mass send, or when the event has not come ``tag_keep_hours`` after it finished;
- :func:`sweep` (job ``broadcasts.tags``, and the sender itself when WeChat says 45056) lists the account's tags and
  deletes every one named with our prefix that no broadcast holds: the ones let go, and the orphans a crash between
  making a tag and recording it left behind. A tag of a broadcast still on its way (scheduled, sending, paused)
  that holds no tag yet is kept: the sender may be recording it right now.
- WeChat refuses to delete a tag with more than 100,000 fans (45057): the sweep untags fans (50 a call) until it
  may, then deletes it. System tags and tags staff made by hand (other names) are never touched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.db import rowcount
from core.errors import WeChatAPIError
from models import Broadcast, utcnow
from models.broadcast import CANCELLED, FINISHED, PAUSED, QUOTA_PAUSED, SCHEDULED, SENDING
from wechat.official_account import TAG_BATCH, OfficialAccount, TagInfo

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]
TAG_PREFIX = "xy-bc"
_OURS = re.compile(r"^xy-bc(\d+)-\d+$")
ON_THE_WAY = (SCHEDULED, SENDING, PAUSED, QUOTA_PAUSED)  # may still tag recipients and send
DELETE_MAX_FANS = 100_000  # WeChat: a tag with more fans cannot be deleted (45057) until some are untagged
TOO_MANY_TAGS, TOO_MANY_FANS, UNKNOWN_TAG = 45056, 45057, 45159


@dataclass
class SweepReport:
    released: int = 0  # broadcasts that let go of their tag in this sweep
    deleted: int = 0  # our tags deleted at WeChat
    untagged: int = 0  # fans untagged first (45057)
    kept: int = 0  # our tags some broadcast still needs
    failed: int = 0  # deletions WeChat refused for another reason (tried again next sweep)


def tag_name(broadcast_id: int, now: datetime) -> str:
    """The name of a broadcast's mass-send tag (unique per attempt: a crash may leave one behind; 30 bytes max)."""
    return f"{TAG_PREFIX}{broadcast_id}-{int(now.timestamp()) % 100000}"


def broadcast_of(name: str) -> int | None:
    """The broadcast id a tag name of ours carries; None for any other tag."""
    found = _OURS.match(name)
    return int(found.group(1)) if found else None


def release(session: Session, *, now: datetime | None = None, keep_hours: int) -> int:
    """Broadcasts that no longer need their tag let go of it: cancelled ones, finished ones without a mass send,
    and finished ones whose MASSSENDJOBFINISH has not come ``keep_hours`` after they finished."""
    cutoff = (now or utcnow()) - timedelta(hours=keep_hours)
    done = session.execute(
        update(Broadcast)
        .where(
            Broadcast.mass_tag_id.is_not(None),
            or_(
                Broadcast.status == CANCELLED,
                (Broadcast.status == FINISHED) & (Broadcast.mass_msg_id.is_(None) | (Broadcast.finished_at < cutoff)),
            ),
        )
        .values(mass_tag_id=None)
    )
    return rowcount(done)


def _delete(official: OfficialAccount, tag: TagInfo, report: SweepReport) -> None:
    """Delete one tag of ours; at 45057 (too many fans) untag fans a page at a time (the excess over 100,000 first,
    at least 50 a round) and try again after each page."""
    excess = max(tag.count - DELETE_MAX_FANS, 0)
    while True:
        try:
            official.delete_tag(tag.id)
        except WeChatAPIError as exc:
            if exc.errcode == UNKNOWN_TAG:  # gone already (another sweep, or by hand)
                report.deleted += 1
                return
            if exc.errcode != TOO_MANY_FANS:
                log.warning("broadcast tag %s (%s) not deleted: errcode %s", tag.id, tag.name, exc.errcode)
                report.failed += 1
                return
        else:
            report.deleted += 1
            return
        page = official.tag_members(tag.id)  # from the start: untagged fans leave the list
        chunk = page.openids[: max(excess, TAG_BATCH)]
        if not chunk:
            report.failed += 1
            return
        official.untag_users(tag.id, chunk)
        report.untagged += len(chunk)
        excess -= len(chunk)


def sweep(sessions: SessionFactory, official: OfficialAccount, *, keep_hours: int) -> SweepReport:
    """Let finished broadcasts go of their tags, then delete every tag of ours at WeChat that no broadcast holds."""
    report = SweepReport()
    with sessions() as session:
        report.released = release(session, keep_hours=keep_hours)
    tags = [t for t in official.list_tags() if broadcast_of(t.name) is not None]
    if not tags:
        return report
    with sessions() as session:
        held = set(session.scalars(select(Broadcast.mass_tag_id).where(Broadcast.mass_tag_id.is_not(None))))
        waiting = set(
            session.scalars(
                select(Broadcast.id).where(Broadcast.status.in_(ON_THE_WAY), Broadcast.mass_tag_id.is_(None))
            )
        )
    for tag in tags:
        if tag.id in held or broadcast_of(tag.name) in waiting:
            report.kept += 1
            continue
        _delete(official, tag, report)
    if report.deleted or report.failed:
        log.info("broadcast tags: %s", report)
    return report


__all__ = ["TAG_PREFIX", "SweepReport", "broadcast_of", "release", "sweep", "tag_name"]
