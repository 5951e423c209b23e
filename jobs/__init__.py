"""Scheduled jobs, declared as data with stable ids and run by exactly one scheduler process (``python -m jobs``).

Each job is idempotent: running it twice, or after a crash half-way, does no harm. APScheduler's job stores cannot
be shared between processes (its FAQ), so the jobs live in memory, are reconciled from :data:`JOBS` at every
start, and a Redis leader lock makes a second scheduler wait instead of running them twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.runtime import Runtime
from core.settings import ScheduleSettings, Settings
from jobs.campaigns import FESTIVALS
from services import cards, classes, follower_links, follower_sync, inbound, outbox, stats
from services.broadcasts import campaigns as broadcast_campaigns
from services.broadcasts import delivery as broadcast_delivery
from services.broadcasts import tags as broadcast_tags
from services.cards import applications as card_applications
from services.classes import invites as class_invites
from services.databank import import_jobs
from services.events import notices as event_notices
from services.inquiries import reminders as inquiry_reminders
from wechat.gateway import Gateway, LazyGateway

log = logging.getLogger(__name__)


class JobContext:
    """What a job gets: the process's runtime and its WeChat gateway (built on first use)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._gateway = LazyGateway(rt.settings, rt.redis)

    @property
    def gateway(self) -> Gateway:
        return self._gateway()


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[JobContext], Any]
    trigger: Callable[[Settings], BaseTrigger]  # when it runs, from the settings (``schedule.*`` in config.yaml)
    description: str
    # Runs of this job allowed at once. An import holds its run for minutes: with 2, the passes meanwhile return at
    # once (services.databank.import_jobs keeps one import per process) instead of APScheduler logging each skip.
    max_instances: int = 1


def _cron(line: Callable[[ScheduleSettings], str]) -> Callable[[Settings], BaseTrigger]:
    return lambda settings: CronTrigger.from_crontab(line(settings.schedule), timezone="UTC")


def _every(seconds: Callable[[Settings], int]) -> Callable[[Settings], BaseTrigger]:
    return lambda settings: IntervalTrigger(seconds=seconds(settings))


def deliver_outbox(ctx: JobContext) -> dict[str, int]:
    """Send due customer-service messages (replies that missed the passive deadline, or were too long)."""
    rt = ctx.rt
    counts = outbox.deliver_due(
        rt.db.session,
        ctx.gateway.official,
        rt.settings.outbox.max_attempts,
        rt.settings.outbox.retry_interval_seconds,
        templates=ctx.gateway.official,  # template rows (an inquiry answer is waiting)
        subscriber=ctx.gateway.miniprogram,  # subscribe rows (mini-program inquiries)
    )
    if counts:
        log.info("outbox pass: %s", counts)
    return counts


def purge_inbound_log(ctx: JobContext) -> int:
    """Drop inbound log rows past retention: they only guard against retries, which stop within seconds."""
    with ctx.rt.db.session() as session:
        removed = inbound.purge_older_than(session, ctx.rt.settings.webhook.inbound_log_retention_days)
    log.info("inbound log purge removed %d rows", removed)
    return removed


def sync_followers(ctx: JobContext) -> follower_sync.SyncReport:
    """Pull every follower from WeChat (resumes from its checkpoint after a crash)."""
    return follower_sync.sync_followers(ctx.rt.db.session, ctx.gateway.official)


def link_followers(ctx: JobContext) -> follower_links.LinkReport:
    """Fetch the unionid of new followers the web process could not link at once (WeChat down, limits, a restart)."""
    report = follower_links.drain(lambda: ctx.rt.db.session(write=True), ctx.rt.redis, ctx.gateway.official)
    if report.fetched or report.waiting or report.dropped:
        log.info("follower link pass: %s", report)
    return report


def build_classes(ctx: JobContext) -> classes.BuildReport:
    """Rebuild class cohorts from the databank (idempotent; writes only what changed)."""
    with ctx.rt.db.session(write=True) as session:
        report = classes.build(session)
    log.info("class cohorts built: %s", report)
    return report


def remind_liaisons(ctx: JobContext) -> int:
    """Queue reminders for class group QRs about to expire; the outbox sends them at once after."""
    settings = ctx.rt.settings
    with ctx.rt.db.session(write=True) as session:
        reminded = class_invites.remind_expiring(session, days_before=settings.classes.reminder_days_before)
    if reminded:
        deliver_outbox(ctx)
    return reminded


def remind_inquiries(ctx: JobContext) -> inquiry_reminders.RemindReport:
    """Remind assignees of inquiries near or past their SLA (and the officers of unassigned overdue ones); the
    template messages it queued go out through the outbox at once after."""
    with ctx.rt.db.session(write=True) as session:
        report = inquiry_reminders.remind(session, ctx.rt.settings)
    if report.templates:
        deliver_outbox(ctx)
    return report


def send_broadcasts(ctx: JobContext) -> dict[str, int]:
    """Start the broadcasts whose time came (their recipients written to the outbox), then one sender pass. Two
    schedulers at once never send a row twice: the sender claims rows in their own transaction."""
    rt = ctx.rt
    with rt.db.session(write=True) as session:
        started = broadcast_delivery.start_due(session, rt.settings)
    counts = broadcast_delivery.send_pass(lambda: rt.db.session(write=True), ctx.gateway, rt.settings, store=rt.redis)
    if started or counts:
        log.info("broadcasts: started %s, pass %s", started, counts)
    return counts


def create_campaigns(ctx: JobContext) -> broadcast_campaigns.CampaignReport:
    """Create the campaign broadcasts (anniversaries, festival greetings) whose time to be prepared came; each is
    confirmed and waits for the approval the rules require (``services.broadcasts.campaigns``)."""
    rt = ctx.rt
    with rt.db.session(write=True) as session:
        report = broadcast_campaigns.run(session, rt.settings, FESTIVALS)
    if report.created:
        log.info("campaigns: %s", report)
    return report


def sweep_broadcast_tags(ctx: JobContext) -> broadcast_tags.SweepReport:
    """Delete the WeChat tags of finished (or cancelled) mass sends, and the orphans a crash left behind."""
    rt = ctx.rt
    return broadcast_tags.sweep(
        lambda: rt.db.session(write=True), ctx.gateway.official, keep_hours=rt.settings.broadcasts.tag_keep_hours
    )


def remind_events(ctx: JobContext) -> event_notices.RemindReport:
    """Queue the day-before reminders of events in the outbox (each registration once; the outbox job sends them)."""
    with ctx.rt.db.session(write=True) as session:
        report = event_notices.remind_due(session, ctx.rt.settings.events)
    if report.reminded:
        log.info("event reminders: %s", report)
    return report


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "outbox.deliver",
        deliver_outbox,
        _every(lambda settings: settings.outbox.retry_interval_seconds),
        "retry customer-service messages that could not be sent at once",
    ),
    JobSpec(
        "inbound.purge",
        purge_inbound_log,
        _cron(lambda schedule: schedule.inbound_purge),
        "delete inbound log rows past webhook.inbound_log_retention_days",
    ),
    JobSpec(
        "followers.sync",
        sync_followers,
        _cron(lambda schedule: schedule.followers_sync),
        "pull every follower from WeChat into the follower table",
    ),
    JobSpec(
        "followers.link",
        link_followers,
        _every(lambda settings: settings.schedule.followers_link_seconds),
        "fetch the unionid of new followers that could not be linked when they followed",
    ),
    JobSpec(
        "card.purge",
        lambda ctx: card_applications.purge_expired(ctx.rt.db.session, ctx.rt.redis, ctx.rt.settings.card),
        _cron(lambda schedule: schedule.card_purge),
        "delete card evidence files and scan logs past card.*_retention_days",
    ),
    JobSpec(
        "card.scans.flush",
        lambda ctx: cards.flush_scans(ctx.rt.db.session, ctx.rt.redis),
        _every(lambda settings: settings.schedule.card_scans_flush_seconds),
        "write queued card scans to the scan log (busy desks also trigger it every 100 scans)",
    ),
    JobSpec(
        "card.expire",
        lambda ctx: cards.expire_due(ctx.rt.db.session),
        _cron(lambda schedule: schedule.card_expire),  # verification already answers "expired" at once
        "mark cards past their expires_at expired",
    ),
    JobSpec(
        "classes.build",
        build_classes,
        _cron(lambda schedule: schedule.classes_build),
        "create and refresh class cohorts from the databank; place each education record in its cohort",
    ),
    JobSpec(
        "classes.remind",
        remind_liaisons,
        _cron(lambda schedule: schedule.classes_remind),
        "remind liaisons before their class group's join QR expires (through the outbox)",
    ),
    JobSpec(
        "inquiries.remind",
        remind_inquiries,
        _cron(lambda schedule: schedule.inquiries_remind),
        "remind assignees of inquiries near or past their SLA (console banner; template message to a linked WeChat)",
    ),
    JobSpec(
        "stats.rollup",
        lambda ctx: stats.rollup(ctx.rt.db.session, lambda: ctx.rt.db.session(write=True)),
        # First run 10 s after the scheduler starts (not a whole interval later): a new deploy backfills at once.
        lambda settings: IntervalTrigger(
            seconds=settings.schedule.stats_rollup_seconds, start_date=datetime.now(UTC) + timedelta(seconds=10)
        ),
        "recount the dashboard's recent days, and fill the days it has not counted yet",
    ),
    JobSpec(
        "broadcasts.send",
        send_broadcasts,
        _every(lambda settings: settings.schedule.broadcasts_send_seconds),
        "start due broadcasts (recipients into the outbox) and send their rows, paced within WeChat's limits",
    ),
    JobSpec(
        "broadcasts.campaigns",
        create_campaigns,
        _cron(lambda schedule: schedule.broadcasts_campaigns),
        "create due anniversary and festival broadcasts (broadcasts.campaigns.*); they wait for approval as ruled",
    ),
    JobSpec(
        "broadcasts.tags",
        sweep_broadcast_tags,
        _every(lambda settings: settings.schedule.broadcasts_tags_seconds),
        "delete the WeChat tags of finished mass sends and the orphans a crash left (an account has at most 100)",
    ),
    JobSpec(
        "databank.imports",
        lambda ctx: import_jobs.scheduled_pass(ctx.rt),
        _every(lambda settings: settings.schedule.databank_imports_seconds),
        "run the oldest roster import queued from the console; mark imports whose runner died interrupted",
        max_instances=2,
    ),
    JobSpec(
        "events.remind",
        remind_events,
        _every(lambda settings: settings.schedule.events_remind_seconds),
        "queue the day-before reminders of events for their confirmed registrants (each once), sent by the outbox",
    ),
)
