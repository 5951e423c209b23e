"""Scheduled jobs, declared as data with stable ids and run by exactly one scheduler process (``python -m jobs``).

Each job is idempotent: running it twice, or after a crash half-way, does no harm. APScheduler's job stores cannot
be shared between processes (its FAQ), so the jobs live in memory, are reconciled from :data:`JOBS` at every
start, and a Redis leader lock makes a second scheduler wait instead of running them twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.runtime import Runtime
from services import inbound, outbox
from wechat.client import OfficialAccountClient, WeChatMessenger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[Runtime], Any]
    trigger: str  # "interval" or "cron"
    trigger_args: Callable[[Runtime], dict[str, Any]]
    description: str


def deliver_outbox(rt: Runtime) -> dict[str, int]:
    """Send due customer-service messages (replies that missed the passive deadline, or were too long)."""
    messenger = WeChatMessenger(OfficialAccountClient(rt.settings.wechat, rt.redis))
    counts = outbox.deliver_due(
        rt.db.session, messenger, rt.settings.outbox.max_attempts, rt.settings.outbox.retry_interval_seconds
    )
    if counts:
        log.info("outbox pass: %s", counts)
    return counts


def purge_inbound_log(rt: Runtime) -> int:
    """Drop inbound log rows past retention: they only guard against retries, which stop within seconds."""
    with rt.db.session() as session:
        removed = inbound.purge_older_than(session, rt.settings.webhook.inbound_log_retention_days)
    log.info("inbound log purge removed %d rows", removed)
    return removed


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "outbox.deliver",
        deliver_outbox,
        "interval",
        lambda rt: {"seconds": rt.settings.outbox.retry_interval_seconds},
        "retry customer-service messages that could not be sent at once",
    ),
    JobSpec(
        "inbound.purge",
        purge_inbound_log,
        "cron",
        lambda rt: {"hour": 3, "minute": 17},
        "delete inbound log rows past webhook.inbound_log_retention_days",
    ),
)
