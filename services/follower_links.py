"""Linking a new follower to their WeChat identity: the unionid from WeChat's user info, fetched right after a follow.

Without it the official account cannot map the follower to a person (the unionid is what the official account's
openid shares with the mini-program's) until the nightly follower sync, so a card holder who has just followed is
told they have no card, and a card decision cannot reach them there.

The fetch never runs on the webhook's reply path: a follow only puts the openid in a queue in Redis after the push
has committed (one round trip), and WeChat is called from the queue by :class:`FollowLinker`'s background thread at
once, and by the ``followers.link`` job (``schedule.followers_link_seconds``) for whatever that could not do: WeChat
down, our rate limit or WeChat's quota reached, a process that stopped. A drain claims up to 100 openids for a lease
(so that processes draining at the same time do not fetch the same users), fetches them in one batch-info call,
stores the unionids, then removes them; on a failure they stay, and are due again when the lease ends. The follower's
subscription state is never written here: the follow and unfollow events own it (a fetch racing an unfollow would
undo it), and the nightly sync remains the backstop for all of it.

:func:`link` and :func:`link_unlinked` link on demand, for code that finds the link missing (a card decision
notice). Docs: https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import redis_keys
from core.errors import InvalidOpenId, WeChatAPIError
from models import Follower
from services.outbox import SessionFactory
from services.ports import FollowerProfiles
from wechat.official_account import INFO_BATCH, FollowerInfo

log = logging.getLogger(__name__)

# A claimed openid is due again after this long if its fetch failed or its process stopped. Longer than a fetch can
# take (the gateway's timeout and retries), short enough for a WeChat outage to be caught up within minutes.
CLAIM_LEASE_SECONDS = 60
# Batches one drain takes at most: a backlog (a long WeChat outage) is caught up over several runs.
MAX_BATCHES = 20
# The web process's linker waits this long after a follow before it drains, so that a burst of follows (a QR code
# shown at an event) is fetched in batch calls of up to 100 rather than one call each: without it a burst of more than
# ``wechat_limits.users.per_minute`` / 60 follows a second would run into our own rate limit and wait for the job.
LINGER_SECONDS = 0.5

# Take up to ARGV[2] openids that are due (score <= ARGV[1]) and push each one's due time to ARGV[3]: a claim.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, openid in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], openid) end
return due
"""


@dataclass
class LinkReport:
    fetched: int = 0  # profiles WeChat returned
    linked: int = 0  # followers whose unionid was stored
    dropped: int = 0  # openids WeChat refused as invalid (40003): the nightly sync has the last word
    waiting: int = 0  # claimed but not fetched (WeChat down, rate limit, quota): due again after the lease


# --- storing what WeChat answered ----------------------------------------------------------------------------


def store_unionids(session: Session, infos: Sequence[FollowerInfo]) -> int:
    """Write the unionid (and the WeChat language) of each profile onto its follower row; returns how many rows got
    a new unionid.

    Not subscription state: that belongs to the follow/unfollow events (see the module docstring)."""
    known = {i.openid: i for i in infos if i.unionid or i.language}
    if not known:
        return 0
    changed = 0
    for follower in session.scalars(select(Follower).where(Follower.openid.in_(list(known)))):
        info = known[follower.openid]
        if info.language:
            follower.language = info.language
        if info.unionid and follower.unionid != info.unionid:
            follower.unionid = info.unionid
            changed += 1
    session.flush()
    return changed


def link(session: Session, directory: FollowerProfiles, openid: str) -> str | None:
    """Fetch one follower's profile now and store its unionid, in the caller's transaction.

    Returns the unionid, or None when WeChat has none for the user or could not be asked (down, rate limit, quota:
    logged, never raised; the queue and the nightly sync will try again). Does not wait for the rate limiter."""
    try:
        infos = directory.follower_infos([openid], wait=0)
    except WeChatAPIError as exc:
        log.info("follower profile not fetched on demand: errcode %s", exc.errcode)
        return None
    store_unionids(session, infos)
    return next((i.unionid for i in infos if i.openid == openid and i.unionid), None)


def link_unlinked(session: Session, directory: FollowerProfiles, *, limit: int = INFO_BATCH) -> int:
    """Link the most recent followers that have no unionid yet (at most ``limit``, one WeChat call); returns how many
    were linked. For code that knows a person's unionid but finds no follower with it: on an account bound to the
    Open Platform every follower has a unionid, so the candidates are exactly the follows not linked yet (few; none
    means no call). Never raises a WeChat error (as :func:`link`)."""
    openids = list(
        session.scalars(
            select(Follower.openid)
            .where(Follower.unionid.is_(None), Follower.subscribed.is_(True))
            .order_by(Follower.subscribed_at.desc().nulls_last(), Follower.id.desc())
            .limit(min(limit, INFO_BATCH))
        )
    )
    if not openids:
        return 0
    try:
        infos = directory.follower_infos(openids, wait=0)
    except InvalidOpenId:
        infos = []
        for openid in openids:  # one openid WeChat refuses fails the whole batch: ask one at a time
            try:
                infos += directory.follower_infos([openid], wait=0)
            except InvalidOpenId:
                continue
            except WeChatAPIError as exc:
                log.info("follower profiles not fetched on demand: errcode %s", exc.errcode)
                break
    except WeChatAPIError as exc:
        log.info("follower profiles not fetched on demand: errcode %s", exc.errcode)
        return 0
    return store_unionids(session, infos)


# --- the queue ---------------------------------------------------------------------------------------------------


def enqueue(client: redis.Redis, openid: str) -> None:
    """Queue a follow for linking, due now (a second follow before the first is linked keeps one entry)."""
    client.zadd(redis_keys.follower_link_queue(), {openid: time.time()})


def queued(client: redis.Redis) -> int:
    return int(client.zcard(redis_keys.follower_link_queue()))


def _claim(client: redis.Redis, limit: int) -> list[str]:
    now = time.time()
    script = client.register_script(_CLAIM)
    found = script(keys=[redis_keys.follower_link_queue()], args=[now, limit, now + CLAIM_LEASE_SECONDS])
    return [o.decode() if isinstance(o, bytes) else str(o) for o in found]


def _done(client: redis.Redis, openids: Sequence[str]) -> None:
    if openids:
        client.zrem(redis_keys.follower_link_queue(), *openids)


def _fetch(directory: FollowerProfiles, openids: list[str], report: LinkReport) -> tuple[list[FollowerInfo], list[str]]:
    """Profiles for ``openids`` and the openids settled (fetched, or refused as invalid). Raises WeChatAPIError
    (WeChat down, rate limit, quota, another errcode) only when nothing was settled."""
    try:
        return directory.follower_infos(openids, wait=0), openids
    except InvalidOpenId:
        if len(openids) == 1:
            report.dropped += 1
            log.warning("WeChat refused a queued follower's openid (40003); dropped from the link queue")
            return [], openids
    infos: list[FollowerInfo] = []
    settled: list[str] = []
    for openid in openids:  # one openid WeChat refuses fails the whole batch: ask one at a time
        try:
            found, done = _fetch(directory, [openid], report)
        except WeChatAPIError:
            if not settled:
                raise
            break  # the rest stay claimed and are due again after the lease
        infos += found
        settled += done
    return infos, settled


def drain(sessions: SessionFactory, client: redis.Redis, directory: FollowerProfiles) -> LinkReport:
    """Link the queued follows that are due: claim a batch, fetch it, store it, remove it; until none is due."""
    report = LinkReport()
    for _ in range(MAX_BATCHES):
        batch = _claim(client, INFO_BATCH)
        if not batch:
            break
        try:
            infos, settled = _fetch(directory, batch, report)
        except WeChatAPIError as exc:
            report.waiting += len(batch)
            log.warning(
                "follower profiles not fetched (errcode %s): %d follows wait for a retry", exc.errcode, len(batch)
            )
            break
        with sessions() as session:
            report.linked += store_unionids(session, infos)
        _done(client, settled)  # after the commit: a crash in between only fetches them again
        report.fetched += len(infos)
        report.waiting += len(batch) - len(settled)
        if len(settled) < len(batch):
            break
    return report


class FollowLinker:
    """The web process's side of the queue: :meth:`submit` queues a follow and wakes one background thread (started
    on first use, so after a fork) that drains the queue at once. Nothing here runs on the push's reply path but
    the queueing; the thread makes at most one WeChat call at a time, so a slow WeChat costs one thread, not the
    webhook's workers."""

    def __init__(
        self, sessions: SessionFactory, client: redis.Redis, directory: Callable[[], FollowerProfiles]
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.directory = directory
        self._cond = threading.Condition()
        self._requested = 0  # follows submitted
        self._served = 0  # follows submitted before the last finished drain began
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(self, openid: str) -> None:
        """Queue ``openid`` (durably, in Redis) and have it linked now. Raises only RedisError (then the nightly sync
        links the follower)."""
        enqueue(self.client, openid)
        with self._cond:
            if self._stopping:
                return  # queued: the followers.link job takes it
            self._requested += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="follow-linker", daemon=True)
                self._thread.start()
            self._cond.notify()

    def wait_idle(self, timeout: float) -> bool:
        """True once every follow submitted so far has had its attempt (for an orderly shutdown, and tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._served >= self._requested, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread after its current attempt (waiting at most ``timeout`` s); the queue keeps the rest."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._requested > self._served)
                self._cond.wait_for(lambda: self._stopping, LINGER_SECONDS)  # let a burst gather
                if self._stopping:
                    return  # the queue keeps what is left for the followers.link job
                covered = self._requested  # a follow submitted from here on wakes the next drain
            try:
                report = drain(self.sessions, self.client, self.directory())
                if report.waiting:
                    log.info("follower link: %d follows left for the followers.link job", report.waiting)
            except Exception:
                log.exception("follower link failed; the followers.link job will retry")
            with self._cond:
                self._served = covered
                self._cond.notify_all()
