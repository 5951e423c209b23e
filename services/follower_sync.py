"""Follower sync: pull every follower from WeChat into the follower table, resumably.

One list page (up to 10,000 openids) and one batch-info call (100 profiles) at a time. After each batch, the
upserted rows and the checkpoint (the page's starting openid and the offset within it) commit together, so a re-run
after a crash continues at the first batch not yet stored and never loses or repeats work. A finished run removes
its checkpoint; the next run is a full pass again. Upserts are idempotent, so overlapping runs are harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Follower, JobCheckpoint, utcnow
from services.outbox import SessionFactory
from services.ports import FollowerDirectory
from wechat.official_account import INFO_BATCH, FollowerInfo

log = logging.getLogger(__name__)
CHECKPOINT = "follower_sync"


@dataclass
class SyncReport:
    pages: int = 0
    batches: int = 0
    upserted: int = 0
    resumed_from: str | None = None
    total: int = 0


def _load(session: Session) -> dict[str, object] | None:
    row = session.get(JobCheckpoint, CHECKPOINT)
    return json.loads(row.cursor_json) if row else None


def _save(session: Session, page_start: str, offset: int, total: int) -> None:
    cursor = json.dumps({"page_start": page_start, "offset": offset, "total": total})
    row = session.get(JobCheckpoint, CHECKPOINT)
    if row is None:
        session.add(JobCheckpoint(name=CHECKPOINT, cursor_json=cursor))
    else:
        row.cursor_json = cursor
        row.updated_at = utcnow()


def upsert_followers(session: Session, infos: list[FollowerInfo]) -> int:
    """Insert or update followers from WeChat's profiles (with their language). Interaction history and locations are
    left alone."""
    existing = {
        f.openid: f for f in session.scalars(select(Follower).where(Follower.openid.in_([i.openid for i in infos])))
    }
    for info in infos:
        follower = existing.get(info.openid)
        if follower is None:
            follower = Follower(openid=info.openid)
            session.add(follower)
        follower.subscribed = info.subscribed
        follower.unionid = info.unionid or follower.unionid
        if info.subscribe_time:
            follower.subscribed_at = datetime.fromtimestamp(info.subscribe_time, UTC)
        if info.qr_scene:
            follower.subscribe_scene = info.qr_scene[:64]
        if info.language:
            follower.language = info.language
    return len(infos)


def sync_followers(
    sessions: SessionFactory,
    directory: FollowerDirectory,
    *,
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    report = SyncReport()
    with sessions() as session:
        cursor = _load(session)
    page_start = str(cursor["page_start"]) if cursor else ""
    offset = int(cursor["offset"]) if cursor else 0  # type: ignore[call-overload]
    if cursor:
        report.resumed_from = f"page after {page_start or 'the start'}, offset {offset}"
        log.info("follower sync resumes: %s", report.resumed_from)
    while True:
        page = directory.follower_page(page_start)
        report.total = page.total
        if not page.openids:
            break
        report.pages += 1
        for start in range(offset, len(page.openids), INFO_BATCH):
            infos = directory.follower_infos(page.openids[start : start + INFO_BATCH])
            with sessions() as session:
                report.upserted += upsert_followers(session, infos)
                _save(session, page_start, start + INFO_BATCH, page.total)
            report.batches += 1
            if progress:
                progress(report)
        offset = 0
        if not page.next_openid or page.next_openid == page_start:
            break
        page_start = page.next_openid
        with sessions() as session:
            _save(session, page_start, 0, page.total)
    with sessions() as session:
        row = session.get(JobCheckpoint, CHECKPOINT)
        if row is not None:
            session.delete(row)
    log.info("follower sync done: %d pages, %d batches, %d upserted", report.pages, report.batches, report.upserted)
    return report
