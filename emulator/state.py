"""The emulator's whole world in memory: accounts, tokens, followers, quotas, deliveries, and its clock.

One ``EmulatorState`` per app, guarded by one re-entrant lock: the server is a single threaded process, so a lock is
all the consistency it needs. Handlers take ``state.lock`` for the whole of a WeChat call and release it before any
outbound HTTP (a webhook may call straight back in). The clock is real time plus an offset that
``POST /_emulator/clock/advance`` moves, so tests can cross a 48-hour window without waiting; frozen, only
``advance`` moves it, so tests can stand exactly one second before or after a boundary.

Daily quotas reset at midnight Beijing time (UTC+8) and monthly ones on the first of the month, as WeChat's do;
per-minute limits are sliding 60-second windows, which never let a burst straddle a minute boundary.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from emulator.config import EmulatorConfig
from emulator.errors import WxError

AccountKind = Literal["oa", "mp"]
BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class AppAccount:
    kind: AccountKind
    appid: str
    secret: str


@dataclass
class Token:
    value: str
    appid: str
    issued_at: float
    expires_at: float
    stable: bool
    # Set when a newer token replaced this one: it keeps working until then (the overlap window).
    revoked_at: float | None = None


@dataclass
class Follower:
    openid: str
    unionid: str | None
    subscribed: bool
    subscribe_time: int
    subscribe_scene: str = "ADD_SCENE_OTHERS"
    qr_scene: int = 0
    qr_scene_str: str = ""
    # Kept but never returned: since 2021-12-27 user/info no longer returns nickname or avatar.
    nickname: str = ""
    language: str = "zh_CN"
    remark: str = ""
    tagids: list[int] = field(default_factory=list)


@dataclass
class MiniUser:
    openid: str
    unionid: str | None
    session_key: str = ""


@dataclass
class CsWindow:
    """When the user last opened each customer-service window, and how many messages each has carried since."""

    message_at: float | None = None
    message_used: int = 0
    event_at: float | None = None
    event_used: int = 0


@dataclass
class OneTimeCode:
    code: str
    issued_at: float
    payload: dict[str, Any]
    used: bool = False


@dataclass
class Tag:
    id: int
    name: str


@dataclass
class Media:
    media_id: str
    type: str
    content: bytes
    content_type: str
    created_at: float


@dataclass
class MassJob:
    msg_id: int
    msg_data_id: int | None
    clientmsgid: str
    created_at: float
    total: int
    filtered: int
    sent: int
    errors: int


class EmulatorState:
    """Everything the emulator remembers. Callers hold ``lock`` around any read-modify-write."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.lock = threading.RLock()
        self.initial_config = config
        self.config = config
        self._reset_data()

    def _reset_data(self) -> None:
        self.clock_offset = 0.0
        self.frozen_at: float | None = None
        self.tokens: dict[str, Token] = {}
        self.current_token: dict[tuple[str, bool], str] = {}
        self.last_force_refresh: dict[str, float] = {}
        self.followers: dict[str, Follower] = {}
        self.follower_order: list[str] = []
        self.follower_pos: dict[str, int] = {}
        self.subscribed_count = 0
        self.mini_users: dict[str, MiniUser] = {}
        self.cs_windows: dict[str, CsWindow] = {}
        self.login_codes: dict[str, OneTimeCode] = {}
        self.phone_codes: dict[str, OneTimeCode] = {}
        self.consents: Counter[tuple[str, str]] = Counter()
        self.template_sent: dict[tuple[str, str], tuple[int, float]] = {}
        self.mass_by_clientmsgid: dict[str, MassJob] = {}
        self.mass_jobs: dict[int, MassJob] = {}
        # Mass messages each user received in ``mass_month`` (a new month starts from zero).
        self.mass_month = ""
        self.mass_received: Counter[str] = Counter()
        self.tags: dict[int, Tag] = {}
        self.next_tag_id = 100  # 0, 1 and 2 are WeChat's reserved system tags
        self.menu: dict[str, Any] | None = None
        self.qr_tickets: dict[str, dict[str, Any]] = {}
        self.media: dict[str, Media] = {}
        # The most recent ``config.deliveries_kept`` deliveries, and how many there were per channel in all.
        self.deliveries: deque[dict[str, Any]] = deque()
        self.delivered: Counter[str] = Counter()
        self.push_log: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        # Injected faults: the next ``count`` calls to a path answer ``errcode`` (e.g. -1, "system busy").
        self.faults: dict[str, list[int]] = {}
        # Injected latency: the next ``count`` calls to a path are answered ``seconds`` late (a slow WeChat).
        self.delays: dict[str, list[float]] = {}
        self.daily: Counter[tuple[str, ...]] = Counter()
        self.windows: dict[tuple[str, ...], deque[float]] = {}
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(int(time.time()) * 1000 % 10**12 + 10**12)

    def reset(self) -> None:
        """Forget everything, including clock offset and config changes made at run time."""
        with self.lock:
            self.config = self.initial_config
            self._reset_data()

    # --- clock and ids ---

    def now(self) -> float:
        if self.frozen_at is not None:
            return self.frozen_at
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        if self.frozen_at is not None:
            self.frozen_at += seconds
        self.clock_offset += seconds

    def freeze(self, frozen: bool) -> None:
        """Stop the clock at its current reading (only ``advance`` moves it), or let it run on from there."""
        if frozen and self.frozen_at is None:
            self.frozen_at = self.now()
        elif not frozen and self.frozen_at is not None:
            self.clock_offset = self.frozen_at - time.time()
            self.frozen_at = None

    def day_key(self) -> str:
        return datetime.fromtimestamp(self.now(), BEIJING).strftime("%Y-%m-%d")

    def month_key(self) -> str:
        return datetime.fromtimestamp(self.now(), BEIJING).strftime("%Y-%m")

    def next_id(self) -> int:
        return next(self._ids)

    def next_msg_id(self) -> int:
        """A 13-digit id, unique within this emulator run, for msgid / MsgId / msg_id fields."""
        return next(self._msg_ids)

    # --- quotas ---

    def take_daily(self, key: tuple[str, ...], limit: int) -> bool:
        """Count one use of a per-day quota; ``False`` (and nothing counted) when the day's quota is spent."""
        full = (*key, self.day_key())
        if self.daily[full] >= limit:
            return False
        self.daily[full] += 1
        return True

    def take_window(self, key: tuple[str, ...], limit: int, seconds: float = 60.0) -> bool:
        """Count one use of a sliding-window quota; ``False`` (and nothing counted) when the window is full."""
        now = self.now()
        hits = self.windows.setdefault(key, deque())
        while hits and hits[0] <= now - seconds:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        return True

    # --- accounts and tokens ---

    def accounts(self) -> dict[str, AppAccount]:
        cfg = self.config
        return {
            cfg.oa_appid: AppAccount("oa", cfg.oa_appid, cfg.oa_secret),
            cfg.mp_appid: AppAccount("mp", cfg.mp_appid, cfg.mp_secret),
        }

    def check_credentials(self, appid: str | None, secret: str | None) -> AppAccount:
        """The checks every credential exchange makes, in WeChat's order."""
        if not appid:
            raise WxError(41002)
        if not secret:
            raise WxError(41004)
        account = self.accounts().get(appid)
        if account is None:
            raise WxError(40013)
        if not secrets.compare_digest(secret.encode(), account.secret.encode()):
            raise WxError(40125)
        return account

    def issue_token(self, appid: str, stable: bool, overlap: bool = True) -> Token:
        """Mint a token; the previous one keeps working for the overlap window (or dies now if ``overlap`` is off)."""
        now = self.now()
        cfg = self.config
        previous = self.tokens.get(self.current_token.get((appid, stable), ""))
        if previous is not None:
            ends = now + cfg.token_overlap_seconds if overlap else now
            previous.revoked_at = ends if previous.revoked_at is None else min(previous.revoked_at, ends)
        token = Token(
            value=secrets.token_urlsafe(96),
            appid=appid,
            issued_at=now,
            expires_at=now + cfg.token_lifetime_seconds,
            stable=stable,
        )
        self.tokens[token.value] = token
        self.current_token[(appid, stable)] = token.value
        return token

    def authorize(self, access_token: str | None, *kinds: AccountKind) -> AppAccount:
        """The account an API call acts for, or the error WeChat gives for its token."""
        if not access_token:
            raise WxError(41001)
        token = self.tokens.get(access_token)
        now = self.now()
        if token is None or (token.revoked_at is not None and now >= token.revoked_at):
            raise WxError(40001)
        if now >= token.expires_at:
            raise WxError(42001)
        account = self.accounts().get(token.appid)
        if account is None:  # the account's appid was changed at run time
            raise WxError(40001)
        if account.kind not in kinds:
            # An official-account API called with the mini-program's token (or the reverse): WeChat answers 48001.
            raise WxError(48001)
        return account

    # --- followers ---

    def add_follower(self, follower: Follower) -> None:
        old = self.followers.get(follower.openid)
        if old is not None and old.subscribed:
            self.subscribed_count -= 1
        if follower.openid not in self.follower_pos:
            self.follower_pos[follower.openid] = len(self.follower_order)
            self.follower_order.append(follower.openid)
        self.followers[follower.openid] = follower
        if follower.subscribed:
            self.subscribed_count += 1

    def set_subscribed(self, openid: str, subscribed: bool) -> None:
        follower = self.followers[openid]
        if follower.subscribed != subscribed:
            self.subscribed_count += 1 if subscribed else -1
            follower.subscribed = subscribed
        if subscribed:
            follower.subscribe_time = int(self.now())
        else:
            follower.tagids = []

    def follower(self, openid: str | None) -> Follower:
        """A known user of the official account (subscribed or not); 40003 for an openid WeChat never issued."""
        if not openid or openid not in self.followers:
            raise WxError(40003)
        return self.followers[openid]

    def subscribed_follower(self, openid: str | None) -> Follower:
        follower = self.follower(openid)
        if not follower.subscribed:
            raise WxError(43004)
        return follower

    # --- interactions (customer-service windows) ---

    def record_interaction(self, openid: str, kind: str) -> None:
        """A user message opens the 48-hour window; a click, subscribe or scan opens the 1-minute one."""
        window = self.cs_windows.setdefault(openid, CsWindow())
        if kind == "message":
            window.message_at, window.message_used = self.now(), 0
        else:
            window.event_at, window.event_used = self.now(), 0

    # --- deliveries ---

    def deliver(self, channel: str, appid: str, openid: str, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        record = {
            "id": self.next_id(),
            "channel": channel,
            "appid": appid,
            "openid": openid,
            "at": self.now(),
            "message": message,
            **extra,
        }
        self.deliveries.append(record)
        self.delivered[channel] += 1
        while len(self.deliveries) > self.config.deliveries_kept:
            self.deliveries.popleft()
        return record

    def mass_count(self, openid: str) -> int:
        """Mass messages ``openid`` received this calendar month."""
        month = self.month_key()
        if month != self.mass_month:
            self.mass_month, self.mass_received = month, Counter()
        return self.mass_received[openid]


def prune_before(entries: dict[Any, Any], cutoff: float, stamp: Any) -> None:
    """Drop the oldest entries of an insertion-ordered map while ``stamp(value) < cutoff``.

    The emulated clock never runs backwards, so insertion order is time order and pruning stops at the first entry
    still in its window: a million-recipient broadcast does not leave a million stale dedupe keys behind.
    """
    while entries:
        first = next(iter(entries))
        if stamp(entries[first]) >= cutoff:
            return
        del entries[first]
