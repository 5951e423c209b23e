"""From an opened push to a reply: dedupe, the per-user lock, conversation state, routing, the deadline.

Order (docs/architecture.md, "Where a push goes"), with Redis in two round trips (``bot/gate.py``): in the request
thread, claim the push, take the user's lock and read the conversation state, in one script → (worker thread) in
one transaction: the inbound log row (its unique key is the durable claim, so even when Redis lost the claim a
second delivery stops there, before its handler runs), route, handler, the outcome → commit →
open the customer-service window, write the state, release the lock and remember the reply, in one script → queue
a follow for its unionid and hand the outbox rows the push queued to a sender task (they go through that window).
The request thread waits ``reply_deadline_seconds`` for the worker; past that WeChat gets ``success`` and the reply
goes out as a customer-service message through the outbox. A handler that raises is rolled back with the whole
transaction, which then begins again with the log row and the follower touch, and the user gets an apology; a valid
push never gets an error page.

A reply's follow-ups (``Reply.then``: an image after the text, a notice to someone else) are queued in the outbox in
the same transaction as the push, under keys derived from it (or their own), so they are sent once and retried by
the scheduler if the first try fails; so are the pieces of a reply that was late or too long. Messages owed to
the sender that their message lets us send (the ``on_message`` hook: an answer held while their window was closed)
follow the reply the same way.

Nothing after the commit may wait for WeChat: by then the worker has told the request thread its reply is passive,
so the request thread waits for it. That is why a follow's user-info fetch is only queued here (one Redis round
trip) and runs on ``services.follower_links``' own thread: inline, a slow WeChat (or a token refresh) would hold
the welcome past the deadline. For the same reason the outbox rows a push queued are sent from another task of the
worker pool, not by the worker itself.

Why a worker thread at all: a WSGI request thread can answer only by returning, so the work must run elsewhere for
the request thread to answer ``success`` at the deadline while a slow handler goes on. Nothing tells a slow push
from a fast one before it runs, so every first delivery takes the hop (retries do not). It costs about 40 µs of CPU,
a few per cent of a push; running pushes inline measured no more than that faster.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import metrics
from bot.context import Context
from bot.dedupe import PENDING
from bot.gate import Entry, PushGate
from bot.protocol import Push
from bot.replies import FollowUp, Reply, fits_passively
from bot.router import Dispatcher
from bot.state import ConversationState
from core import i18n, texts
from core.db import Database
from core.errors import Busy
from core.settings import Settings
from services import followers, inbound, outbox
from services.ports import MediaUploader, Messenger
from wechat.limits import HashWrite

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What to answer WeChat with: a passive reply, or None for ``success``."""

    reply: Reply | None
    status: str  # handled | deferred | failed | duplicate | busy


class FollowHook(Protocol):
    """Told of each committed follow (``services.follower_links.FollowLinker``). ``submit`` must return at once:
    it runs before the reply goes out."""

    def submit(self, openid: str) -> None: ...

    def close(self, timeout: float = 5.0) -> None: ...


class OwedHook(Protocol):
    """Messages owed to the sender that their push lets us send (an answer held while their window was closed),
    queued after the reply in the push's transaction. Called for every push; returns () when nothing is owed, and
    keeps any write it makes in a savepoint of its own."""

    def __call__(self, ctx: Context) -> tuple[FollowUp, ...]: ...


class _Race:
    """Decides, once, whether the worker's reply goes out passively or by customer-service message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deferred = False
        self.finished = False

    def defer(self) -> bool:
        """Called by the request thread at the deadline; False if the worker already committed to a passive reply."""
        with self._lock:
            if not self.finished:
                self.deferred = True
            return self.deferred

    def finish(self) -> bool:
        """Called by the worker before it commits; True if the request thread has already given up waiting."""
        with self._lock:
            self.finished = True
            return self.deferred


class Pipeline:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        gate: PushGate,
        dispatcher: Dispatcher,
        messenger: Callable[[], Messenger],
        media: Callable[[], MediaUploader] | None = None,
        on_follow: FollowHook | None = None,
        on_message: OwedHook | None = None,
        redis_client: redis.Redis | None = None,
        max_workers: int = 32,
    ) -> None:
        self.settings = settings
        self.db = db
        self.gate = gate
        self.dedupe = gate.dedupe
        self.dispatcher = dispatcher
        self.messenger = messenger
        self.media = media
        self.on_follow = on_follow
        self.on_message = on_message
        self.redis = redis_client
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="push")

    def process(self, push: Push) -> Outcome:
        """Always returns an outcome: whatever breaks behind it, WeChat gets a reply, never an error page."""
        try:
            return self._process(push)
        except RedisError:
            log.exception("Redis unavailable while answering a push")
        except Exception:
            log.exception("push pipeline failed")
        return Outcome(Reply(texts.APOLOGY), "failed")

    def _process(self, push: Push) -> Outcome:
        key = push.dedupe_key
        deadline = self.settings.webhook.reply_deadline_seconds
        entry = self.gate.enter(key, push.openid)
        if not entry.claimed:
            metrics.DEDUPE_HITS.labels("redis").inc()
            remembered = entry.remembered
            if remembered == PENDING:
                remembered = self.dedupe.wait_for_reply(key, timeout=deadline)
            return Outcome(Reply.from_json(remembered) if remembered else None, "duplicate")
        race = _Race()
        context = contextvars.copy_context()  # carry the request id and user hash into the worker's log lines
        future: Future[Outcome] = self.executor.submit(context.run, self._work, push, race, entry)
        try:
            return future.result(timeout=deadline)
        except FutureTimeout:
            if race.defer():
                metrics.DEFERRED.labels("deadline").inc()
                log.info("handler still running at %.1fs: answering success, reply follows by message", deadline)
                return Outcome(None, "deferred")
            return future.result(timeout=1.0)  # the worker committed to a passive reply an instant ago

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
        if self.on_follow is not None:
            self.on_follow.close()

    # --- the worker -------------------------------------------------------------------------------------------

    def _work(self, push: Push, race: _Race, entry: Entry) -> Outcome:
        """Runs the push under the user's lock, then leaves through the gate (window, state, unlock, remembered
        answer), then starts what the committed push owes WeChat."""
        ctx: Context | None = None
        queued: list[int] | None = None  # the outbox rows of a committed push; None when nothing was committed
        try:
            state = entry.state if entry.locked else self.gate.lock(push.openid, entry.token)
            outcome, ctx, queued = self._locked_work(push, race, state)
        except Busy:
            # Only after lock_wait_seconds: something is badly stuck. Give the claim back so a retry can try again.
            log.error("user lock still busy after %.0fs", self.settings.conversation.lock_wait_seconds)
            with suppress(RedisError):  # if Redis is down too, the claim expires on its own
                self.dedupe.release(push.dedupe_key)
            return Outcome(Reply(texts.BUSY), "busy")
        except Exception:
            # Infrastructure trouble (database down, Redis gone): the user still gets an answer, never an error page.
            log.exception("push pipeline failed")
            outcome = Outcome(Reply(texts.APOLOGY), "failed")
        # Retries get the same answer: the reply, or `success` when it travels by message.
        answer = outcome.reply.to_json() if outcome.reply else ""
        changed = ctx is not None and ctx.state_changed
        state = ctx.state if ctx is not None else None
        window = self._window(push) if queued is not None else None
        try:
            self.gate.leave(
                push.dedupe_key, push.openid, entry.token, answer=answer, changed=changed, state=state, window=window
            )
        except RedisError:
            # The answer still goes out: the lock expires on its own, and a retry is stopped by the log row.
            log.exception("Redis unavailable after answering a push; later messages to the user may be refused")
        if queued is not None:
            self._after_leave(push, queued)
        return outcome

    def _locked_work(
        self, push: Push, race: _Race, state: ConversationState | None
    ) -> tuple[Outcome, Context | None, list[int] | None]:
        """The push's transaction. Returns its outcome, its context and the outbox rows it queued (None for a
        delivery another one had already committed: nothing here ran)."""
        sent_at = datetime.fromtimestamp(int(push.message.time), UTC)
        try:
            with self.db.session(write=True) as session:
                language = self._open(session, push, sent_at)
                ctx = Context(
                    push=push,
                    session=session,
                    settings=self.settings,
                    state=state,
                    media=self.media,
                    redis=self.redis,
                    language=language,
                    keywords=self.dispatcher.keywords,
                )
                with i18n.use(language):  # every text the handler and the hook read, in the user's language
                    reply, status, route_name = self._route(ctx, lambda: self._open(session, push, sent_at))
                    owed = self._owed(ctx)
                    outcome, queued = self._finish(
                        session, push, race, reply=reply, status=status, route_name=route_name, owed=owed
                    )
        except IntegrityError:
            # Another delivery committed first (Redis had lost the claim): nothing here ran; answer what it answered.
            metrics.DEDUPE_HITS.labels("database").inc()
            with self.db.session() as session:
                prior = inbound.prior_outcome(session, push.dedupe_key)
            reply_json = prior.reply_json if prior else None
            return Outcome(Reply.from_json(reply_json) if reply_json else None, "duplicate"), None, None
        return outcome, ctx, queued

    @staticmethod
    def _open(session: Session, push: Push, sent_at: datetime) -> str:
        """The push's first statements; returns the language to answer in. The log row first: its unique key is the
        durable claim. Another delivery of this push waits on it (PostgreSQL row lock, SQLite write lock) and then
        fails here, before its handler runs."""
        inbound.claim(
            session,
            push.dedupe_key,
            openid=push.openid,
            msg_type=push.msg_type,
            event=push.event or None,
            received_at=sent_at,
        )
        return followers.note_push(session, push.openid, push.msg_type, push.event or None, sent_at)

    def _route(self, ctx: Context, reopen: Callable[[], object]) -> tuple[Reply | None, str, str | None]:
        """Resolve and run the handler; returns (reply, status, route name). A handler that raises is rolled back
        with the whole transaction (its change of conversation state too), ``reopen`` begins it again with the log
        row and the follower touch, and the user gets an apology. No savepoint around the handler: it would cost two
        statements on every push for the rare one that fails (bench/RESULTS.md, issue 17)."""
        loaded = ctx.state
        if loaded is not None and loaded.expired():
            ctx.timed_out = loaded.conversation
            ctx.end()
        route = self.dispatcher.resolve(ctx)
        if route is None:
            return None, "handled", None
        try:
            return route.handler(ctx), "handled", route.name[:64]
        except Exception:
            metrics.HANDLER_ERRORS.labels(route.name).inc()
            log.exception("handler %s failed", route.name)
            ctx.session.rollback()
            reopen()  # another delivery that committed meanwhile raises IntegrityError here: a duplicate
            ctx.state = None if ctx.timed_out else loaded  # an expired conversation still goes
            ctx.state_changed = ctx.timed_out is not None
            return Reply(texts.APOLOGY), "failed", route.name[:64]

    def _owed(self, ctx: Context) -> tuple[FollowUp, ...]:
        """What the ``on_message`` hook says is owed; if it fails, the push is still answered and the owed messages
        wait for the next one. The hook keeps its writes in a savepoint of its own, after a cheap check that finds
        nothing on almost every push (a savepoint here would cost two round trips on each)."""
        if self.on_message is None:
            return ()
        try:
            return self.on_message(ctx)
        except Exception:
            log.exception("the on_message hook failed; what it owes waits for the next message")
            return ()

    def _finish(
        self,
        session: Session,
        push: Push,
        race: _Race,
        *,
        reply: Reply | None,
        status: str,
        route_name: str | None,
        owed: tuple[FollowUp, ...] = (),
    ) -> tuple[Outcome, list[int]]:
        """Passive reply or customer-service messages, and the outcome written to the log row for retries. Returns
        the outbox rows queued now (the reply's pieces, if it goes by message, then its follow-ups, then what was
        owed)."""
        limit = self.settings.webhook.max_passive_reply_bytes
        too_long = reply is not None and not fits_passively(reply, limit)
        late = race.finish()  # from here on the request thread can no longer switch us to a deferred reply
        queued: list[int] = []
        follow_ups = (reply.then if reply is not None else ()) + owed
        if late or too_long:
            metrics.DEFERRED.labels("deadline" if late else "too_long").inc()
            if reply is not None:
                queued = outbox.enqueue(session, push.dedupe_key, push.openid, reply.customer_messages(limit))
            status, reply = "deferred", None
        queued += self._enqueue_follow_ups(session, push, follow_ups)
        inbound.settle(
            session, push.dedupe_key, status=status, handler=route_name, reply_json=reply.to_json() if reply else ""
        )
        return Outcome(reply, status), queued

    @staticmethod
    def _enqueue_follow_ups(session: Session, push: Push, follow_ups: tuple[FollowUp, ...]) -> list[int]:
        """One outbox row per follow-up, keyed by its own key, else by the push and its place (the index first: a key
        is cut at 200 characters). A key already queued queues nothing."""
        ids: list[int] = []
        for n, follow_up in enumerate(follow_ups):
            key = follow_up.key or f"then{n}:{push.dedupe_key}"
            ids += outbox.enqueue(session, key, follow_up.openid or push.openid, [follow_up.payload])
        return ids

    def _window(self, push: Push) -> HashWrite | None:
        """The customer-service window this push opens (a message, or a click, follow or scan), written by the gate's
        ``leave`` with the rest of the push's way out."""
        kind = followers.interaction_kind(push.msg_type, push.event or None)
        return self.messenger().interaction(push.openid, kind) if kind is not None else None

    def _after_leave(self, push: Push, queued: list[int]) -> None:
        """WeChat side effects, only once the database has the push and the window is open."""
        if self.on_follow is not None and push.event in followers.FOLLOW_EVENTS:
            self._queue_link(self.on_follow, push.openid)
        if queued:
            self._send_soon(queued)

    def _queue_link(self, hook: FollowHook, openid: str) -> None:
        """Queue the follower for their unionid; WeChat is asked off this thread, so the welcome never waits."""
        try:
            hook.submit(openid)
        except Exception:
            log.exception("could not queue a follow for linking; the nightly follower sync will link it")

    def _send_soon(self, row_ids: list[int]) -> None:
        """Send the queued rows from another task of the pool: a passive reply must not wait for WeChat, and the
        request thread may be waiting for this worker. The rows are committed, so nothing is lost if this fails."""
        try:
            self.executor.submit(contextvars.copy_context().run, self._send_now, row_ids)
        except RuntimeError:  # the pool is shutting down
            log.warning("outbox rows %s left for the scheduler: the webhook is shutting down", row_ids)

    def _send_now(self, row_ids: list[int]) -> None:
        """Try the queued customer-service messages at once; the scheduler retries whatever fails."""
        try:
            messenger = self.messenger()
            for row_id in row_ids:
                outbox.deliver(
                    self.db.session,
                    messenger,
                    row_id,
                    self.settings.outbox.max_attempts,
                    self.settings.outbox.retry_interval_seconds,
                )
        except Exception:
            log.exception("immediate outbox delivery failed; the scheduler will retry")
