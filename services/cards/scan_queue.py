"""The scan log's queue: every verification answer is queued in Redis and written to ``card_scans`` in batches.

A busy desk verifies a thousand cards a second; writing each scan in its request would put a database write on that
hot path. Scans are queued (``core/redis_keys.py``: the card scan queue) and moved into the database a batch at a
time: by the request that finds a full batch waiting (after its answer is sent, :func:`flush_one_batch`), and by a
per-minute job (:func:`flush_scans`). A batch leaves the queue only after its rows are committed, so a failure loses
nothing. Scan logs are location data: :func:`purge_scans` deletes them after ``card.scan_log_retention_days``.
Owns the queue's entries, its flush and its retention; what a scan's answer is, is decided at verification.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from redis.client import Pipeline
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from core import redis_keys
from models import Card, ScanLog, ScannerCredential, utcnow

log = logging.getLogger(__name__)
SCAN_BATCH = 100  # scans per database write; also how many queued scans make a request flush one batch

# KEYS: the token's "used" key, the scan queue. ARGV: its TTL, the log entry if claimed now, the one if replayed.
# Returns the queue length, negative when the token had been used already.
_CLAIM_AND_ENQUEUE = """
local claimed = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local n = redis.call('RPUSH', KEYS[2], claimed and ARGV[2] or ARGV[3])
if claimed then return n end
return -n
"""


def entry(scanner_id: int, card_id: int | None, result: str, at: datetime) -> str:
    """A queued scan."""
    return json.dumps([scanner_id, card_id, result, at.timestamp()])


def enqueue(pipe: Pipeline, scan: str) -> None:
    """Queue a scan as part of the caller's pipeline (its reply is the queue's new length)."""
    pipe.rpush(redis_keys.card_scan_queue(), scan)


def claim_and_enqueue(client: redis.Redis, nonce_hex: str, ttl: int, if_claimed: str, if_replayed: str) -> int:
    """In one round trip: claim a token's single use for ``ttl`` seconds and queue the scan that matches the
    outcome. Returns the queue's length, negative when the token had been used already."""
    script = client.register_script(_CLAIM_AND_ENQUEUE)  # only hashes the source; EVALSHA loads it if need be
    keys = [redis_keys.card_token_used(nonce_hex), redis_keys.card_scan_queue()]
    return int(script(keys=keys, args=[ttl, if_claimed, if_replayed]))


def flush_scans(
    session_factory: Callable[[], AbstractContextManager[Session]], client: redis.Redis, *, limit: int = 100_000
) -> int:
    """Move queued scans into the scan log (``card_scans``), one unit of work per batch. Returns how many.

    One flusher at a time (a Redis lock); a batch leaves the queue only after its rows are committed, so a failure
    loses nothing (a crash between the commit and the trim can write one batch twice: a log, not a ledger).
    """
    queue = redis_keys.card_scan_queue()
    lock = client.lock(redis_keys.card_scan_flush_lock(), timeout=redis_keys.SCAN_FLUSH_LOCK_TTL, blocking=False)
    if not lock.acquire():
        return 0  # another process is flushing
    moved = 0
    try:
        while moved < limit:
            batch = client.lrange(queue, 0, SCAN_BATCH - 1)
            if not batch:
                break
            entries = [json.loads(raw if isinstance(raw, (bytes, str)) else str(raw)) for raw in batch]
            with session_factory() as session:
                rows = _scan_rows(session, entries)
                if rows:
                    session.execute(insert(ScanLog), rows)
            client.ltrim(queue, len(batch), -1)
            moved += len(rows)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()
    return moved


def _scan_rows(session: Session, entries: list[list[Any]]) -> list[dict[str, Any]]:
    """Queued entries as ``card_scans`` rows. A scan outlives what it names while it waits in the queue: a card
    whose holder was deleted (a data-subject request) is logged without its card, and a scan by a scanner that no
    longer exists is dropped, so that one such entry never blocks the queue behind it."""
    scanner_ids = {e[0] for e in entries}
    card_ids = {e[1] for e in entries if e[1] is not None}
    scanners = set(session.scalars(select(ScannerCredential.id).where(ScannerCredential.id.in_(scanner_ids))))
    known_cards = set(session.scalars(select(Card.id).where(Card.id.in_(card_ids)))) if card_ids else set()
    return [
        {"scanner_id": scanner_id, "card_id": card_id if card_id in known_cards else None, "result": result,
         "scanned_at": datetime.fromtimestamp(at, UTC)}
        for scanner_id, card_id, result, at in entries
        if scanner_id in scanners
    ]  # fmt: skip


def flush_one_batch(session_factory: Callable[[], AbstractContextManager[Session]], client: redis.Redis) -> int:
    """One batch of :func:`flush_scans`, for a request thread once its answer is sent: the thread's connection
    waits for it before reading the desk's next request, so it never drains a long queue (busy desks trigger a batch
    every few scans, and the per-minute job takes the rest). A failure is logged; the queue keeps the scans."""
    try:
        return flush_scans(session_factory, client, limit=SCAN_BATCH)
    except Exception:
        log.exception("scan-log flush failed; the scans stay queued in Redis for the next flush")
        return 0


def purge_scans(session: Session, retention_days: int, *, now: datetime | None = None) -> int:
    """Delete scan logs past retention (location data). Flush the queue first (:func:`flush_scans`)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(delete(ScanLog).where(ScanLog.scanned_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
