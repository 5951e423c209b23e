"""Delivery of broadcasts: their recipients written to the outbox, and the sender that works through them.

Owns what happens between "scheduled" and "finished":

- :func:`start_due` writes one outbox row per recipient (``services.broadcasts.segments.recipients``) in a single
  ``INSERT ... SELECT`` with a stable key ``bc:<broadcast id>:<openid>``, then moves the broadcast to ``sending``;
  rows carry the channel only (``payload_json`` is ``{}``): the content is the broadcast's, built once per pass by
  ``compose.content_payload``, so a million rows do not hold a million copies of it.
- :func:`send_pass` claims batches of rows (``pending`` → ``sending`` in their own transaction, so two workers never
  send one row), sends them paced under the configured rate and the gateway's limits, falls back per recipient
  through the broadcast's channel order, and records each row's end (``sent``, ``failed:<errcode>``,
  ``skipped:<reason>``) together with the broadcast's counts in one transaction. 45009 pauses the broadcast until
  00:00 Beijing time. A mass send tags the recipients (50 per call) then sends once with ``clientmsgid=bc<id>``.
  Batches overlap (the next is claimed and the last recorded while one is being sent) and the limiter's tokens are
  granted per half second of sending (``wechat.limits.RateLimiter.prefetching``), so neither the database nor Redis
  paces the sends. A template row keeps WeChat's msgid (``payload_json``); a subscribe message WeChat refuses with
  43101 zeroes our stale allowance. The tag of a mass send is ``services.broadcasts.tags``'s: at WeChat's 100 tags
  (45056) it sweeps once and tries again, then fails the mass rows ``failed:45056`` (never a retry loop).
- Crash safety: rows exist before any send; a row left ``sending`` (or ``tagging``) longer than the claim lease is
  sent again. Template rows carry their key as ``client_msg_id``, so a repeat within WeChat's 10 minutes is a no-op;
  a mass repeat under the same ``clientmsgid`` answers with the first send's msg_id.
- A broadcast whose answers are awaited (an outreach greeting: ``campaign_key`` starts with
  ``core.redis_keys.OUTREACH_CAMPAIGN``) marks each recipient as awaited (``core.redis_keys.outreach_awaiting``,
  holding the campaign key) when their customer-service row is sent, not before: a row that fails or is skipped (the
  window closed since the broadcast was confirmed: 45015) marks nobody, and whoever wrote since then is marked when
  their greeting goes. One Redis pipeline per batch, just before the batch is recorded (so a crash between the two
  sends the row again and marks it again, never leaves a sent row unmarked). The key and the prefix live in
  ``core.redis_keys`` because ``services.outreach`` imports this package, never the other way round.
- :func:`mass_job_finished` / :func:`template_job_finished` apply WeChat's job-finished events to the counts (a
  mass send's also lets its tag go; a template's is matched by the user and its msgid).
"""

from __future__ import annotations

import json
import logging
import threading
import time as clock
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import redis
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, Select, exists, func, insert, literal, select, tuple_, update
from sqlalchemy.orm import Session

from core import redis_keys
from core.clock import BEIJING
from core.db import rowcount
from core.errors import (
    ValidationFailed,
    WeChatAPIError,
    WeChatQuotaExhausted,
    WeChatRateLimited,
)
from core.settings import Settings
from models import Broadcast, Follower, OutboundMessage, utcnow
from models.broadcast import (
    CANCELLED,
    CUSTOM,
    MASS,
    QUOTA_PAUSED,
    SCHEDULED,
    SENDING,
    SUBSCRIBE,
    TEMPLATE,
    MassReceipt,
    SubscribeAllowance,
)
from models.broadcast import FINISHED as BROADCAST_FINISHED
from models.person import MP_OPENID, OA_OPENID, WeChatIdentity
from services.broadcasts import plan, segments, tags
from services.outbox import PERMANENT_ERRCODES
from wechat.gateway import Gateway

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]
MASS_TAG_BATCH = 50 * 20  # rows claimed per tagging step (the gateway tags them 50 per call)
# Row statuses while a row is in flight (every other status is its end).
# (A claimed row is "sending", the same word as the broadcast status SENDING.)
PENDING, TAGGING, TAGGED, SENT = "pending", "tagging", "tagged", "sent"
OPEN = (PENDING, SENDING, TAGGING, TAGGED)
# errcodes that mean "this channel cannot reach this user": fall back to the next channel, with the reason.
UNREACHABLE = {
    43004: "unsubscribed",
    43019: "refused",
    43101: "no_consent",
    45015: "window_closed",
    45047: "window_closed",
}
NO_SUBSCRIBE_CONSENT = 43101
# A mass send WeChat refuses for its content (invalid media_id, empty or too long, bad data): its rows end failed.
MASS_REFUSED = frozenset({40007, 44004, 45002, 47001})
# Templates' job-finished Status values other than success (WeChat's words → our failed:<reason>).
TEMPLATE_FAILURES = {"failed:user block": "failed:user_block", "failed: system failed": "failed:system"}


@dataclass(frozen=True)
class SenderConfig:
    rate_per_second: float
    concurrency: int
    batch: int
    lease_seconds: int
    pass_seconds: int
    max_attempts: int
    retry_seconds: int
    quiet_start: str
    quiet_end: str
    cs_window_seconds: int
    limits_per_second: dict[str, float] = field(default_factory=dict)
    tag_keep_hours: int = 24

    @classmethod
    def of(cls, settings: Settings) -> SenderConfig:
        b, limits = settings.broadcasts, settings.wechat_limits
        per_second = {
            channel: getattr(limits, channel).per_minute / 60
            for channel in (TEMPLATE, SUBSCRIBE, CUSTOM)
            if getattr(limits, channel).per_minute
        }
        return cls(
            rate_per_second=b.send_rate_per_second,
            concurrency=b.send_concurrency,
            batch=b.send_batch,
            lease_seconds=b.claim_lease_seconds,
            pass_seconds=b.pass_seconds,
            max_attempts=settings.outbox.max_attempts,
            retry_seconds=settings.outbox.retry_interval_seconds,
            quiet_start=b.quiet_start,
            quiet_end=b.quiet_end,
            cs_window_seconds=settings.customer_service.message_window_seconds,
            limits_per_second=per_second,
            tag_keep_hours=b.tag_keep_hours,
        )


# --- time -----------------------------------------------------------------------------------------------------------


def next_beijing_midnight(moment: datetime) -> datetime:
    """When WeChat's daily quotas reset after ``moment``: the next 00:00 Beijing time, in UTC."""
    local = moment.astimezone(BEIJING)
    return datetime.combine(local.date() + timedelta(days=1), time(), BEIJING).astimezone(UTC)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def msgid_payload(msgid: int) -> str:
    """A sent template row's ``payload_json``: WeChat's msgid (the content is the broadcast's), matched exactly by
    :func:`template_job_finished`."""
    return json.dumps({"msgid": int(msgid)})


def row_key(broadcast_id: int, openid: str) -> str:
    """A recipient row's idempotency key; also the ``client_msg_id`` of its template message."""
    return f"bc:{broadcast_id}:{openid}"


# --- writing the recipients -----------------------------------------------------------------------------------------


def _recipients(session: Session, broadcast: Broadcast) -> Select[Any]:
    filters = None
    if broadcast.segment_id is not None:
        filters = segments.filters_of(segments.get(session, broadcast.segment_id))
    return segments.recipients(session, filters)


def _channels(broadcast: Broadcast) -> list[str]:
    return [c for c in broadcast.channels.split(",") if c]


def write_recipients(session: Session, broadcast: Broadcast, now: datetime) -> int:
    """One outbox row per recipient of ``broadcast`` (pending, on its first channel), in one ``INSERT ... SELECT``;
    a row already there (same key) is left alone. Returns the rows written."""
    recipients = _recipients(session, broadcast).subquery()
    openid = recipients.c.openid
    first = _channels(broadcast)[0]
    rows = select(
        literal(f"bc:{broadcast.id}:") + openid,
        openid,
        literal(first),
        literal("{}"),
        literal(PENDING),
        literal(0),
        literal(now, OutboundMessage.created_at.type),
        literal(now, OutboundMessage.next_attempt_at.type),
        literal(broadcast.id),
    ).select_from(recipients)
    columns = [
        "idempotency_key",
        "openid",
        "channel",
        "payload_json",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "broadcast_id",
    ]
    statement = insert(OutboundMessage).from_select(columns, rows)
    if _is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(OutboundMessage).from_select(columns, rows).on_conflict_do_nothing()
    else:
        statement = statement.prefix_with("OR IGNORE")
    return rowcount(session.execute(statement))


def start_due(session: Session, settings: Settings, *, now: datetime | None = None) -> list[int]:
    """Start every scheduled broadcast whose time has come (outside quiet hours unless it ignores them): write its
    recipient rows, then ``sending``. Two schedulers at once start each broadcast once (the status guard)."""
    now = now or utcnow()
    quiet = plan.in_quiet_hours(settings, now)
    due = select(Broadcast.id).where(
        Broadcast.status == SCHEDULED, (Broadcast.scheduled_at.is_(None)) | (Broadcast.scheduled_at <= now)
    )
    if quiet:
        due = due.where(Broadcast.ignore_quiet_hours.is_(True))
    started = []
    for broadcast_id in list(session.scalars(due.order_by(Broadcast.id))):
        claimed = session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == SCHEDULED)
            .values(status=SENDING, started_at=now)
        )
        if rowcount(claimed) != 1:
            continue  # another scheduler started it
        broadcast = session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        written = write_recipients(session, broadcast, now)
        session.commit()  # each broadcast's rows and status commit together, before the next one
        log.info("broadcast %s started: %d recipient rows written", broadcast_id, written)
        started.append(broadcast_id)
    return started


# --- the sender ---------------------------------------------------------------------------------------------------


class _Pacer:
    """Spaces calls ``rate`` a second across threads (each caller waits for its slot). Slots missed while every
    thread was busy (a slow answer, the machine) may be caught up, at most ``catch_up`` seconds of them, so the rate
    holds on average: over any second at most ``rate * (1 + catch_up)`` calls start. WeChat's own limits are the
    gateway's (``wechat.limits``), never this."""

    def __init__(self, rate: float, catch_up: float = 0.2) -> None:
        self.interval = 1.0 / rate
        self.catch_up = catch_up
        self.next = clock.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = clock.monotonic()
            slot = max(self.next, now - self.catch_up)
            self.next = slot + self.interval
        if slot > now:
            clock.sleep(slot - now)


@dataclass
class _Row:
    id: int
    openid: str
    channel: str
    attempts: int


@dataclass
class _Facts:
    subscribed: bool = False
    last_interaction_at: datetime | None = None
    mp_openid: str | None = None
    allowance: int = 0


@dataclass(frozen=True)
class _Outcome:
    status: str  # sent | failed:<errcode> | skipped:<reason> | pending (back in the queue)
    channel: str
    retry_at: datetime | None = None  # pending: when it may go again
    counted: bool = True  # pending: whether this claim counts as an attempt
    spend: tuple[str, str] | None = None  # a subscribe allowance (mp openid, template id) to spend
    forfeit: tuple[str, str] | None = None  # WeChat said 43101: our allowance for it is stale, set to 0
    msgid: int | None = None  # a template message's msgid, kept on the row for TEMPLATESENDJOBFINISH


@dataclass
class _Batch:
    """What the threads of one batch share: payloads, facts, pacing, and the stop flag set by a 45009."""

    broadcast_id: int
    channels: list[str]
    payloads: dict[str, dict[str, Any] | None]
    facts: dict[str, _Facts]
    now: datetime
    cfg: SenderConfig
    pacers: dict[str, _Pacer]
    stop: threading.Event = field(default_factory=threading.Event)
    awaited: str | None = None  # an outreach broadcast's campaign key: a recipient sent to is awaited (answers)


def _payloads(broadcast: Broadcast) -> dict[str, dict[str, Any] | None]:
    from services.broadcasts import compose

    payloads: dict[str, dict[str, Any] | None] = {}
    for channel in _channels(broadcast):
        try:
            payloads[channel] = compose.content_payload(broadcast, channel)
        except ValidationFailed:
            payloads[channel] = None  # this content cannot go by this channel: recipients fall back
    return payloads


def _facts(session: Session, openids: list[str], payloads: dict[str, dict[str, Any] | None]) -> dict[str, _Facts]:
    facts = {o: _Facts() for o in openids}
    for openid, subscribed, last in session.execute(
        select(Follower.openid, Follower.subscribed, Follower.last_interaction_at).where(Follower.openid.in_(openids))
    ):
        facts[openid].subscribed, facts[openid].last_interaction_at = bool(subscribed), last
    sub = payloads.get(SUBSCRIBE)
    if sub is not None:
        oa, mp = WeChatIdentity.__table__.alias("oa"), WeChatIdentity.__table__.alias("mp")
        pairs = session.execute(
            select(oa.c.value, mp.c.value)
            .join(mp, (mp.c.person_id == oa.c.person_id) & (mp.c.kind == MP_OPENID))
            .where(oa.c.kind == OA_OPENID, oa.c.value.in_(openids))
        ).all()
        for openid, mp_openid in pairs:
            facts[openid].mp_openid = mp_openid
        by_mp = {mp_openid: openid for openid, mp_openid in pairs}
        if by_mp:
            for mp_openid, remaining in session.execute(
                select(SubscribeAllowance.openid, SubscribeAllowance.remaining).where(
                    SubscribeAllowance.openid.in_(list(by_mp)),
                    SubscribeAllowance.template_id == sub["template_id"],
                )
            ):
                facts[by_mp[mp_openid]].allowance = int(remaining)
    return facts


def _send_one(gateway: Gateway, batch: _Batch, row: _Row) -> _Outcome:
    """Send one row through the first channel (from its own) that can reach the user; never raises. A subscribe
    message WeChat refused with 43101 (no consent left at WeChat's end) forfeits our stale allowance."""
    stale: list[tuple[str, str]] = []
    outcome = _ladder(gateway, batch, row, stale)
    return replace(outcome, forfeit=stale[0]) if stale else outcome


def _ladder(gateway: Gateway, batch: _Batch, row: _Row, stale: list[tuple[str, str]]) -> _Outcome:  # noqa: PLR0911, PLR0912, PLR0915 - one ladder
    cfg, now = batch.cfg, batch.now
    facts = batch.facts.get(row.openid, _Facts())
    start = batch.channels.index(row.channel) if row.channel in batch.channels else 0
    reason = "unreachable"
    for channel in batch.channels[start:]:
        payload = batch.payloads.get(channel)
        if channel == MASS:
            continue  # the mass phase handled this recipient's mass turn; it fell back past it
        if payload is None:
            reason = "content_unsupported"
            continue
        if channel in (TEMPLATE, CUSTOM) and not facts.subscribed:
            reason = "unsubscribed"
            continue
        if channel == CUSTOM and (
            facts.last_interaction_at is None
            or facts.last_interaction_at < now - timedelta(seconds=cfg.cs_window_seconds)
        ):
            reason = "window_closed"
            continue
        if channel == SUBSCRIBE and facts.mp_openid is None:
            reason = "no_miniprogram"
            continue
        if channel == SUBSCRIBE and facts.allowance <= 0:
            reason = "no_consent"
            continue
        if batch.stop.is_set():
            return _Outcome(PENDING, row.channel, retry_at=now, counted=False)
        batch.pacers["all"].wait()
        if channel in batch.pacers:
            batch.pacers[channel].wait()
        msgid: int | None = None
        try:
            if channel == TEMPLATE:
                msgid = gateway.official.send_template(
                    row.openid,
                    payload["template_id"],
                    payload["data"],
                    client_msg_id=row_key(batch.broadcast_id, row.openid),
                    url=payload.get("url"),
                )
            elif channel == SUBSCRIBE:
                assert facts.mp_openid is not None
                gateway.miniprogram.send_subscribe_message(
                    facts.mp_openid, payload["template_id"], payload["data"], payload.get("page")
                )
            else:
                gateway.official.send_customer_message(row.openid, payload)
        except WeChatQuotaExhausted:
            batch.stop.set()  # the broadcast pauses until 00:00 Beijing time; nothing more goes this batch
            return _Outcome(PENDING, row.channel, retry_at=now, counted=False)
        except WeChatRateLimited:
            return _Outcome(PENDING, row.channel, retry_at=now + timedelta(seconds=1), counted=False)
        except WeChatAPIError as exc:
            if exc.errcode in UNREACHABLE:
                reason = UNREACHABLE[exc.errcode]
                if channel == SUBSCRIBE and exc.errcode == NO_SUBSCRIBE_CONSENT and facts.mp_openid:
                    stale.append((facts.mp_openid, payload["template_id"]))
                continue
            if exc.errcode in PERMANENT_ERRCODES or row.attempts >= cfg.max_attempts:
                return _Outcome(f"failed:{exc.errcode}", channel)
            log.warning("broadcast row %s: errcode %s (attempt %s), again later", row.id, exc.errcode, row.attempts)
            return _Outcome(PENDING, row.channel, retry_at=now + timedelta(seconds=cfg.retry_seconds * row.attempts))
        except OSError as exc:
            if row.attempts >= cfg.max_attempts:
                return _Outcome("failed:network", channel)
            log.warning("broadcast row %s: %s (attempt %s), again later", row.id, type(exc).__name__, row.attempts)
            return _Outcome(PENDING, row.channel, retry_at=now + timedelta(seconds=cfg.retry_seconds * row.attempts))
        spend = (facts.mp_openid, payload["template_id"]) if channel == SUBSCRIBE and facts.mp_openid else None
        return _Outcome(SENT, channel, spend=spend, msgid=msgid)
    return _Outcome(f"skipped:{reason}", row.channel)


def spend_allowance(session: Session, mp_openid: str, template_id: str) -> bool:
    """Spend one subscribe allowance of a recipient reached by subscribe message."""
    return segments.spend_allowance(session, mp_openid, template_id)


def _count_column(status: str) -> str | None:
    if status == SENT:
        return "sent_count"
    if status.startswith("failed:"):
        return "failed_count"
    if status.startswith("skipped:"):
        return "skipped_count"
    return None


def _row_extras(  # noqa: PLR0917 - private, one caller
    session: Session,
    done: Sequence[int],
    spends: dict[int, tuple[str, str]],
    forfeits: dict[int, tuple[str, str]],
    msgids: dict[int, int],
    now: datetime,
) -> None:
    """What the rows recorded leave besides their status: subscribe allowances (one spent per subscribe message
    sent; a stale one, 43101, to 0) and each template message's msgid."""
    kept = [{"id": i, "payload_json": msgid_payload(msgids[i])} for i in done if i in msgids]
    if kept:
        session.execute(update(OutboundMessage), kept)
    for row_id in done:
        if row_id in spends:
            spend_allowance(session, *spends[row_id])
        if row_id in forfeits:
            mp_openid, template_id = forfeits[row_id]
            session.execute(
                update(SubscribeAllowance)
                .where(SubscribeAllowance.openid == mp_openid, SubscribeAllowance.template_id == template_id)
                .values(remaining=0, updated_at=now)
            )


def _record(  # noqa: PLR0917 - private, one caller
    session: Session, broadcast_id: int, rows: list[_Row], outcomes: list[_Outcome], now: datetime, quota: bool
) -> dict[str, int]:
    """Every row's end (or its return to the queue) and the broadcast's counts, in the caller's transaction. A row
    another worker took back after our lease ran out (its attempts moved on) is not ours to record."""
    groups: dict[tuple[str, str, datetime | None, bool], list[tuple[int, int]]] = defaultdict(list)
    spends: dict[int, tuple[str, str]] = {}
    forfeits: dict[int, tuple[str, str]] = {}
    msgids: dict[int, int] = {}
    for row, outcome in zip(rows, outcomes, strict=True):
        groups[(outcome.status, outcome.channel, outcome.retry_at, outcome.counted)].append((row.id, row.attempts))
        if outcome.spend is not None:
            spends[row.id] = outcome.spend
        if outcome.forfeit is not None:
            forfeits[row.id] = outcome.forfeit
        if outcome.msgid is not None:
            msgids[row.id] = outcome.msgid
    counts: dict[str, int] = defaultdict(int)
    tally: dict[str, int] = defaultdict(int)
    for (status, channel, retry_at, counted), members in groups.items():
        values: dict[str, Any] = {"status": status, "channel": channel}
        if status == PENDING:
            values["next_attempt_at"] = retry_at or now
            if not counted:
                values["attempts"] = OutboundMessage.attempts - 1
        elif status == SENT:
            values["sent_at"] = now
        for start in range(0, len(members), 500):
            chunk = members[start : start + 500]
            done = session.scalars(
                update(OutboundMessage)
                .where(
                    tuple_(OutboundMessage.id, OutboundMessage.attempts).in_(chunk),
                    OutboundMessage.status == SENDING,
                )
                .values(**values)
                .returning(OutboundMessage.id)
            ).all()
            _row_extras(session, done, spends, forfeits, msgids, now)
            counts[status.split(":")[0] if status != PENDING else PENDING] += len(done)
            column = _count_column(status)
            if column:
                tally[column] += len(done)
    if tally:
        session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values({name: getattr(Broadcast, name) + n for name, n in tally.items()})
        )
    if quota:
        _quota_pause(session, broadcast_id, now)
    return dict(counts)


def _claim(session: Session, broadcast_id: int, limit: int, now: datetime) -> list[_Row]:
    """Take up to ``limit`` pending per-user rows of the broadcast (pending → sending, attempts + 1). The ids are
    picked first (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so a second worker picks others) and updated after: inside
    one ``UPDATE ... IN (SELECT ... LIMIT ... FOR UPDATE)`` PostgreSQL may run the subquery again per row."""
    pick = (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.broadcast_id == broadcast_id,
            OutboundMessage.status == PENDING,
            OutboundMessage.channel != MASS,
            OutboundMessage.next_attempt_at <= now,
        )
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    if _is_postgres(session):
        pick = pick.with_for_update(skip_locked=True)
    rows = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(list(session.scalars(pick))), OutboundMessage.status == PENDING)
        .values(status=SENDING, attempts=OutboundMessage.attempts + 1, next_attempt_at=now)
        .returning(OutboundMessage.id, OutboundMessage.openid, OutboundMessage.channel, OutboundMessage.attempts)
    ).all()
    return sorted((_Row(*r) for r in rows), key=lambda r: r.id)


def requeue_stuck(session: Session, lease_seconds: int, *, now: datetime | None = None) -> int:
    """Broadcast rows a crashed worker left ``sending`` / ``tagging`` longer than the lease go back to pending.

    A template row may have reached WeChat before the crash: it goes again with the same ``client_msg_id``, which
    WeChat (and the emulator) answer without a second delivery within 10 minutes of the first send; the lease is
    kept well under that. A customer-service or subscribe row has no such key at WeChat: it too goes again (a rare
    duplicate rather than a lost message), and only the rows of one unfinished batch can be in that state."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=lease_seconds)
    stuck = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.broadcast_id.is_not(None),
            OutboundMessage.status.in_((SENDING, TAGGING)),
            OutboundMessage.next_attempt_at < cutoff,
        )
        .values(status=PENDING)
    )
    count = rowcount(stuck)
    if count:
        log.warning("broadcasts: %d rows left in flight by a stopped worker are queued again", count)
    return count


def _status(session: Session, broadcast_id: int) -> str | None:
    return session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))


def _has_open_rows(session: Session, broadcast_id: int, statuses: tuple[str, ...] = OPEN) -> bool:
    return bool(
        session.scalar(
            select(exists().where(OutboundMessage.broadcast_id == broadcast_id, OutboundMessage.status.in_(statuses)))
        )
    )


def _cancel_rows(session: Session, broadcast_id: int) -> int:
    """A cancelled broadcast's rows not sent yet end ``skipped:cancelled`` (in flight ones end as they end)."""
    done = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.broadcast_id == broadcast_id, OutboundMessage.status.in_((PENDING, TAGGED)))
        .values(status="skipped:cancelled")
    )
    count = rowcount(done)
    if count:
        session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id).values(skipped_count=Broadcast.skipped_count + count)
        )
    return count


def _finish_if_done(session: Session, broadcast_id: int, now: datetime) -> bool:
    if _has_open_rows(session, broadcast_id):
        return False
    done = session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == SENDING)
        .values(status=BROADCAST_FINISHED, finished_at=now)
    )
    return rowcount(done) == 1


# --- mass send -------------------------------------------------------------------------------------------------


def _quota_pause(session: Session, broadcast_id: int, now: datetime) -> None:
    session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == SENDING)
        .values(status=QUOTA_PAUSED, paused_until=next_beijing_midnight(now))
    )


def _create_tag(
    sessions: SessionFactory, gateway: Gateway, broadcast_id: int, now: datetime, keep_hours: int
) -> int | None:
    """A new tag for the broadcast's mass send. At WeChat's 100 tags (45056) the tags no broadcast needs are swept
    and it tries once more; None when the account is still full (the caller fails the mass rows: no retry loop)."""
    for attempt in (1, 2):
        try:
            return gateway.official.create_tag(tags.tag_name(broadcast_id, now))
        except WeChatAPIError as exc:
            if exc.errcode != tags.TOO_MANY_TAGS:
                raise
        if attempt == 1:
            tags.sweep(sessions, gateway.official, keep_hours=keep_hours)
    log.error(
        "broadcast %s: the account has 100 WeChat tags and none of them is ours to delete; its mass rows end "
        "failed:45056 (delete tags in the WeChat admin, then send again)",
        broadcast_id,
    )
    return None


def _fail_mass_rows(session: Session, broadcast_id: int, errcode: int) -> int:
    failed = rowcount(
        session.execute(
            update(OutboundMessage)
            .where(
                OutboundMessage.broadcast_id == broadcast_id,
                OutboundMessage.channel == MASS,
                OutboundMessage.status.in_((PENDING, TAGGED)),
            )
            .values(status=f"failed:{errcode}")
        )
    )
    if failed:
        session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id).values(failed_count=Broadcast.failed_count + failed)
        )
    return failed


def _mass_phase(  # noqa: PLR0911, PLR0912, PLR0915, PLR0917 - the steps in order
    sessions: SessionFactory, gateway: Gateway, broadcast_id: int, now: datetime, deadline: float, keep_hours: int
) -> str:
    """Work on the mass turn of a broadcast: recipients over the monthly limit fall back (or end
    ``skipped:mass_limit``), the rest are tagged 50 per call, then one send with ``clientmsgid=bc<id>``. Returns
    ``done`` (no mass rows left), ``waiting`` (stopped: time, status, quota or rate) or ``busy`` (another worker).
    When WeChat's 100 tags are used even after a sweep, the mass rows end ``failed:45056``."""
    month = segments.beijing_month(now)
    with sessions() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status != SENDING:
            return "waiting"
        channels = _channels(broadcast)
        payload = _payloads(broadcast).get(MASS)
        mass_rows = (
            OutboundMessage.broadcast_id == broadcast_id,
            OutboundMessage.channel == MASS,
            OutboundMessage.status == PENDING,
        )
        after = channels[channels.index(MASS) + 1 :] if MASS in channels else []
        over_limit = (
            select(MassReceipt.openid)
            .where(MassReceipt.month == month)
            .group_by(MassReceipt.openid)
            .having(func.count() >= segments.MONTHLY_MASS_LIMIT)
        )
        gone = select(Follower.openid).where(Follower.subscribed.is_(False))
        unfit: list[tuple[str, ColumnElement[bool]]] = (
            [("mass_limit", OutboundMessage.openid.in_(over_limit)), ("unsubscribed", OutboundMessage.openid.in_(gone))]
            if payload is not None
            else [("content_unsupported", OutboundMessage.id.is_not(None))]
        )
        for reason, target in unfit:  # these recipients cannot get this mass send: the next channel, or skipped
            if after:
                session.execute(update(OutboundMessage).where(*mass_rows, target).values(channel=after[0]))
                continue
            skipped = rowcount(
                session.execute(update(OutboundMessage).where(*mass_rows, target).values(status=f"skipped:{reason}"))
            )
            if skipped:
                session.execute(
                    update(Broadcast)
                    .where(Broadcast.id == broadcast_id)
                    .values(skipped_count=Broadcast.skipped_count + skipped)
                )
        if payload is None:
            return "done"
        tag_id = broadcast.mass_tag_id
    try:
        if tag_id is None:
            created = _create_tag(sessions, gateway, broadcast_id, now, keep_hours)
            if created is None:
                with sessions() as session:
                    _fail_mass_rows(session, broadcast_id, tags.TOO_MANY_TAGS)
                return "done"
            with sessions() as session:
                session.execute(
                    update(Broadcast)
                    .where(Broadcast.id == broadcast_id, Broadcast.mass_tag_id.is_(None))
                    .values(mass_tag_id=created)
                )
                tag_id = session.scalar(select(Broadcast.mass_tag_id).where(Broadcast.id == broadcast_id))
        while True:
            if clock.monotonic() > deadline:
                return "waiting"
            with sessions() as session:
                if _status(session, broadcast_id) != SENDING:
                    return "waiting"
                pick = (
                    select(OutboundMessage.id)
                    .where(
                        OutboundMessage.broadcast_id == broadcast_id,
                        OutboundMessage.channel == MASS,
                        OutboundMessage.status == PENDING,
                    )
                    .order_by(OutboundMessage.id)
                    .limit(MASS_TAG_BATCH)
                )
                if _is_postgres(session):
                    pick = pick.with_for_update(skip_locked=True)
                claimed = session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id.in_(list(session.scalars(pick))), OutboundMessage.status == PENDING)
                    .values(status=TAGGING, next_attempt_at=now)
                    .returning(OutboundMessage.id, OutboundMessage.openid)
                ).all()
            if not claimed:
                break
            assert tag_id is not None
            gateway.official.tag_users(tag_id, [openid for _, openid in claimed])
            with sessions() as session:
                session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id.in_([i for i, _ in claimed]), OutboundMessage.status == TAGGING)
                    .values(status=TAGGED)
                )
        with sessions() as session:
            if _status(session, broadcast_id) != SENDING:
                return "waiting"
            if _has_open_rows(session, broadcast_id, (TAGGING,)) or session.scalar(select(exists().where(*mass_rows))):
                return "busy"  # another worker is still tagging
            if not _has_open_rows(session, broadcast_id, (TAGGED,)):
                return "done"
        sent = gateway.official.mass_send(payload, clientmsgid=f"bc{broadcast_id}", tag_id=tag_id)
    except WeChatQuotaExhausted:
        with sessions() as session:
            _quota_pause(session, broadcast_id, now)
        return "waiting"
    except WeChatAPIError as exc:  # 45011, 45066 (a repeat within a minute), WeChat down: the next pass tries again
        if exc.errcode in MASS_REFUSED:  # the content itself: no pass would fare better
            log.error("broadcast %s: WeChat refused the mass send (errcode %s)", broadcast_id, exc.errcode)
            with sessions() as session:
                _fail_mass_rows(session, broadcast_id, exc.errcode)
            return "done"
        log.warning("broadcast %s: mass step not done (errcode %s); next pass", broadcast_id, exc.errcode)
        return "waiting"
    with sessions() as session:
        done = session.scalars(
            update(OutboundMessage)
            .where(
                OutboundMessage.broadcast_id == broadcast_id,
                OutboundMessage.channel == MASS,
                OutboundMessage.status == TAGGED,
            )
            .values(status=SENT, sent_at=now)
            .returning(OutboundMessage.openid)
        ).all()
        if done:
            receipts = [{"openid": o, "broadcast_id": broadcast_id, "month": month} for o in done]
            for start in range(0, len(receipts), 5000):
                _insert_receipts(session, receipts[start : start + 5000])
        session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(sent_count=Broadcast.sent_count + len(done), mass_msg_id=sent.msg_id)
        )
    log.info("broadcast %s: mass send %s to %d recipients", broadcast_id, sent.msg_id, len(done))
    return "done"


def _insert_receipts(session: Session, receipts: list[dict[str, Any]]) -> None:
    if _is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(MassReceipt).on_conflict_do_nothing(), receipts)
    else:
        session.execute(insert(MassReceipt).prefix_with("OR IGNORE"), receipts)


# --- the pass ---------------------------------------------------------------------------------------------------


def _resume_quota_paused(session: Session, now: datetime) -> int:
    return rowcount(
        session.execute(
            update(Broadcast)
            .where(Broadcast.status == QUOTA_PAUSED, Broadcast.paused_until <= now)
            .values(status=SENDING, paused_until=None)
        )
    )


@contextmanager
def _prefetching(gateway: Gateway, cfg: SenderConfig, batch: int) -> Iterator[None]:
    """The per-user channels' limiter tokens in grants of what half a second of sending needs (at most a batch): one
    Redis round trip per grant instead of one per send (``wechat.limits.RateLimiter.prefetching``)."""
    sizes = {
        channel: max(1, min(batch, int(min(cfg.rate_per_second, cfg.limits_per_second.get(channel, 1e9)) / 2)))
        for channel in (TEMPLATE, SUBSCRIBE, CUSTOM)
    }
    official, mini = gateway.official.limits, gateway.miniprogram.limits
    with (
        official.prefetching({TEMPLATE: sizes[TEMPLATE], CUSTOM: sizes[CUSTOM]}),
        mini.prefetching({SUBSCRIBE: sizes[SUBSCRIBE]}),
    ):
        yield


def send_pass(  # noqa: PLR0912, PLR0915 - the pass loop reads top to bottom
    sessions: SessionFactory,
    gateway: Gateway,
    settings: Settings,
    *,
    now: datetime | None = None,
    batch: int | None = None,
    budget: int | None = None,
    config: SenderConfig | None = None,
    store: redis.Redis | None = None,
) -> dict[str, int]:
    """One pass of the sender over every ``sending`` broadcast: at most ``budget`` rows (None: until nothing is
    left or ``pass_seconds`` passed), ``batch`` rows per claim. Checks each broadcast's status before every batch
    (pause, cancel), the quiet hours, and resumes quota-paused broadcasts whose reset time came. ``store`` holds the
    outreach answers' marks (default: the gateway's Redis, the process's one). Returns counts: ``sent``, ``failed``,
    ``skipped``, ``pending`` (back in the queue), ``quota_paused``, ``finished``."""
    cfg = config or SenderConfig.of(settings)
    marks = store if store is not None else gateway.official.cs.redis
    size = batch or cfg.batch
    fixed_now = now
    deadline = clock.monotonic() + cfg.pass_seconds
    totals: dict[str, int] = defaultdict(int)
    with sessions() as session:
        _resume_quota_paused(session, fixed_now or utcnow())
        requeue_stuck(session, cfg.lease_seconds, now=fixed_now)
        for cancelled in session.scalars(select(Broadcast.id).where(Broadcast.status == CANCELLED)):
            totals["skipped"] += _cancel_rows(session, cancelled)
        ids = list(session.scalars(select(Broadcast.id).where(Broadcast.status == SENDING).order_by(Broadcast.id)))
    pacers = {"all": _Pacer(cfg.rate_per_second)}
    for channel, rate in cfg.limits_per_second.items():
        if rate < cfg.rate_per_second:
            pacers[channel] = _Pacer(rate)
    left = budget
    with (
        _prefetching(gateway, cfg, size),
        ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="broadcast-send") as pool,
    ):
        for broadcast_id in ids:
            if left is not None and left <= 0:
                break
            # Batches overlap: while one is being sent, the next is claimed (and the one before recorded), so the
            # threads do not idle through the database steps. A 45009 stops every batch of the broadcast.
            stop = threading.Event()
            inflight: _InFlight | None = None
            while True:
                batch_now: _InFlight | None = None
                drained = False
                if clock.monotonic() < deadline and (left is None or left > 0) and not stop.is_set():
                    moment = fixed_now or utcnow()
                    with sessions() as session:
                        broadcast = session.get(Broadcast, broadcast_id)
                        ready = broadcast is not None and broadcast.status == SENDING
                        if ready and broadcast is not None and not broadcast.ignore_quiet_hours:
                            ready = not plan.in_quiet_hours(settings, moment)
                        mass_open = (
                            ready
                            and broadcast is not None
                            and MASS in _channels(broadcast)
                            and session.scalar(
                                select(
                                    exists().where(
                                        OutboundMessage.broadcast_id == broadcast_id,
                                        OutboundMessage.channel == MASS,
                                        OutboundMessage.status.in_((PENDING, TAGGING, TAGGED)),
                                    )
                                )
                            )
                        )
                    if mass_open:
                        if inflight is not None:
                            _settle(sessions, inflight, totals, marks)
                            inflight = None
                        if (
                            _mass_phase(sessions, gateway, broadcast_id, moment, deadline, cfg.tag_keep_hours)
                            == "waiting"
                        ):
                            ready = False
                    if ready:
                        batch_now = _submit(
                            sessions, gateway, pool, broadcast_id, size, left, moment, cfg, pacers, stop
                        )
                        drained = batch_now is None  # nothing due now: finished, once the last batch is recorded
                        if batch_now is not None and left is not None:
                            left -= len(batch_now.rows)
                if inflight is not None:
                    _settle(sessions, inflight, totals, marks)
                inflight = batch_now
                if inflight is None:
                    if drained and not stop.is_set():
                        with sessions() as session:
                            if _finish_if_done(session, broadcast_id, fixed_now or utcnow()):
                                totals["finished"] += 1
                    break
            if stop.is_set():
                totals["quota_paused"] += 1
                log.warning("broadcast %s: WeChat quota used up, paused until 00:00 Beijing time", broadcast_id)
    return dict(totals)


@dataclass
class _InFlight:
    work: _Batch
    rows: list[_Row]
    futures: list[Future[_Outcome]]


def _submit(  # noqa: PLR0917 - private, the pass's state
    sessions: SessionFactory,
    gateway: Gateway,
    pool: ThreadPoolExecutor,
    broadcast_id: int,
    size: int,
    left: int | None,
    moment: datetime,
    cfg: SenderConfig,
    pacers: dict[str, _Pacer],
    stop: threading.Event,
) -> _InFlight | None:
    """Claim the broadcast's next batch and hand its rows to the sender threads; None when none is due."""
    with sessions() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        payloads = _payloads(broadcast)
        channels = _channels(broadcast)
        awaited = broadcast.campaign_key if redis_keys.is_outreach_campaign(broadcast.campaign_key) else None
        rows = _claim(session, broadcast_id, size if left is None else min(size, left), moment)
    if not rows:
        return None
    with sessions() as session:
        facts = _facts(session, [r.openid for r in rows], payloads)
    work = _Batch(broadcast_id, channels, payloads, facts, moment, cfg, pacers, stop, awaited)
    return _InFlight(work, rows, [pool.submit(_send_one, gateway, work, row) for row in rows])


def _settle(sessions: SessionFactory, batch: _InFlight, totals: dict[str, int], marks: redis.Redis) -> None:
    """Wait for a batch's sends, mark the recipients an outreach greeting reached, and record every row's end (a
    45009 also pauses the broadcast)."""
    outcomes = [future.result() for future in batch.futures]
    if batch.work.awaited is not None:
        _mark_awaited(marks, batch.work.awaited, batch.rows, outcomes)
    with sessions() as session:
        counts = _record(
            session, batch.work.broadcast_id, batch.rows, outcomes, batch.work.now, batch.work.stop.is_set()
        )
    for name, n in counts.items():
        totals[name] += n


def _mark_awaited(marks: redis.Redis, campaign: str, rows: list[_Row], outcomes: list[_Outcome]) -> None:
    """Each recipient whose greeting went as a customer-service message is now awaited (the campaign key, for
    ``OUTREACH_AWAIT_TTL``): one pipeline for the batch. Without Redis the sends stand (they happened): the marks
    are lost, logged, and those recipients' answers reach the help desk like any text."""
    sent = [
        row.openid
        for row, outcome in zip(rows, outcomes, strict=True)
        if outcome.status == SENT and outcome.channel == CUSTOM
    ]
    if not sent:
        return
    try:
        with marks.pipeline(transaction=False) as pipe:
            for openid in sent:
                pipe.set(redis_keys.outreach_awaiting(openid), campaign, ex=redis_keys.OUTREACH_AWAIT_TTL)
            pipe.execute()
    except RedisError as exc:
        log.error("outreach %s: %d recipients sent to but not marked as awaited (%s)", campaign, len(sent), exc)


# --- WeChat's job-finished events ---------------------------------------------------------------------------------


def _recount(session: Session, broadcast_id: int) -> dict[str, int]:
    counts = {"sent_count": 0, "failed_count": 0, "skipped_count": 0}
    for status, n in session.execute(
        select(OutboundMessage.status, func.count())
        .where(OutboundMessage.broadcast_id == broadcast_id)
        .group_by(OutboundMessage.status)
    ):
        column = _count_column(status)
        if column:
            counts[column] += int(n)
    return counts


def mass_job_finished(session: Session, msg_id: int, *, sent: int, errors: int) -> int | None:
    """MASSSENDJOBFINISH for our mass send ``msg_id``: WeChat's SentCount and ErrorCount replace our count of mass
    rows sent (its filtered ones become skipped, its errors failed). Idempotent: the counts are recomputed from the
    rows each time. The broadcast lets go of its tag (``services.broadcasts.tags.sweep`` deletes it at WeChat).
    Returns the broadcast id, or None when the send is not a broadcast's."""
    broadcast_id = session.scalar(select(Broadcast.id).where(Broadcast.mass_msg_id == msg_id).with_for_update())
    if broadcast_id is None:
        return None
    counts = _recount(session, broadcast_id)
    mass_sent = int(
        session.scalar(
            select(func.count()).where(
                OutboundMessage.broadcast_id == broadcast_id,
                OutboundMessage.channel == MASS,
                OutboundMessage.status == SENT,
            )
        )
        or 0
    )
    delivered = min(sent, mass_sent)
    failed = min(errors, mass_sent - delivered)
    counts["sent_count"] -= mass_sent - delivered
    counts["failed_count"] += failed
    counts["skipped_count"] += mass_sent - delivered - failed
    session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(**counts, mass_tag_id=None))
    return broadcast_id


def template_job_finished(
    session: Session, openid: str, status: str, *, msg_id: int | None = None, now: datetime | None = None
) -> int | None:
    """TEMPLATESENDJOBFINISH: a failure (user block, system failure) turns the broadcast template row it reports
    into ``failed:<reason>``: the user's row that carries the event's ``msg_id`` (a template that is not a
    broadcast's, e.g. an inquiry's answer, matches none); without a msg_id, the user's latest sent one within a day.
    Returns the row id changed, or None."""
    if status == "success":
        return None
    ended = TEMPLATE_FAILURES.get(status, "failed:job")
    mine = (
        OutboundMessage.openid == openid,
        OutboundMessage.broadcast_id.is_not(None),
        OutboundMessage.channel == TEMPLATE,
        OutboundMessage.status == SENT,
    )
    query = select(OutboundMessage.id, OutboundMessage.broadcast_id).where(*mine)
    if msg_id:
        query = query.where(OutboundMessage.payload_json == msgid_payload(msg_id))
    else:
        since = (now or utcnow()) - timedelta(days=1)
        query = query.where(OutboundMessage.sent_at >= since)
    row = session.execute(query.order_by(OutboundMessage.sent_at.desc(), OutboundMessage.id.desc()).limit(1)).first()
    if row is None:
        return None
    changed = session.execute(
        update(OutboundMessage).where(OutboundMessage.id == row.id, OutboundMessage.status == SENT).values(status=ended)
    )
    if rowcount(changed) == 1:
        session.execute(
            update(Broadcast)
            .where(Broadcast.id == row.broadcast_id)
            .values(sent_count=Broadcast.sent_count - 1, failed_count=Broadcast.failed_count + 1)
        )
        return int(row.id)
    return None


def progress(session: Session, broadcast_id: int) -> dict[str, int]:
    """Rows of the broadcast by status (for tests and the CLI; the console reads the broadcast's counts)."""
    return {
        str(status): int(n)
        for status, n in session.execute(
            select(OutboundMessage.status, func.count())
            .where(OutboundMessage.broadcast_id == broadcast_id)
            .group_by(OutboundMessage.status)
        )
    }


__all__ = [
    "SenderConfig",
    "mass_job_finished",
    "next_beijing_midnight",
    "progress",
    "requeue_stuck",
    "row_key",
    "send_pass",
    "spend_allowance",
    "start_due",
    "template_job_finished",
    "write_recipients",
]
