"""Typed settings: ``config.yaml`` defaults, overridden by the environment, validated once at start.

Owns the shape of every configuration key and the rules for a valid value. It reads no other module's state.
Sources, strongest first: environment variables (``XIAOYOU__WECHAT__TOKEN`` for ``wechat.token``; ``DATABASE_URL``
and ``REDIS_URL`` for the two connection strings), then the YAML file (``XIAOYOU_CONFIG`` or ``config.yaml``).
In development, WeChat credentials left empty are generated once into ``var/dev-credentials.json`` so that
``make run`` and ``make chat`` agree without any secret in the repository; production refuses to start without them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import string
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config.yaml"
SECRET_KEYS = (
    "wechat.secret",
    "wechat.token",
    "wechat.aes_key",
    "wechat.previous_aes_key",
    "miniprogram.secret",
    "privacy.encryption_keys",
    "privacy.hmac_keys",
    "card.code_keys",
    "admin.secret_key",
)


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the key and what is expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_aes_key(value: str) -> str:
    """An EncodingAESKey is 43 base64 characters that decode (with one '=' appended) to 32 bytes."""
    if value == "":
        return value
    try:
        decoded = base64.b64decode(value + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("must be 43 base64 characters (the EncodingAESKey from the WeChat console)") from exc
    if len(value) != 43 or len(decoded) != 32:
        raise ValueError("must be 43 base64 characters (the EncodingAESKey from the WeChat console)")
    return value


class DatabaseSettings(_Section):
    url: str = ""
    echo: bool = False


class RedisSettings(_Section):
    url: str = ""


class WeChatSettings(_Section):
    appid: str = ""
    secret: str = ""
    token: str = Field("", max_length=32)
    aes_key: str = ""
    previous_aes_key: str = ""
    message_mode: Literal["safe", "compatible", "plaintext"] = "safe"
    max_clock_skew_seconds: int = Field(300, ge=0)
    api_base_url: str = "https://api.weixin.qq.com"
    request_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # classic: GET /cgi-bin/token; stable: POST /cgi-bin/stable_token (force_refresh only within its limits).
    token_mode: Literal["classic", "stable"] = "classic"  # noqa: S105 - a mode, not a secret
    # Refresh the shared access token this long before it expires (WeChat keeps the old one valid ~5 min).
    token_refresh_margin_seconds: int = Field(300, ge=30, le=3600)
    # Bounded retries, with jitter, for errcode -1 (system busy) and network errors.
    transient_retries: int = Field(2, ge=0, le=5)

    _aes = field_validator("aes_key", "previous_aes_key")(_check_aes_key)

    @field_validator("token")
    @classmethod
    def _token_chars(cls, value: str) -> str:
        # The WeChat console accepts 3-32 letters and digits for the Token.
        if value and not (3 <= len(value) <= 32 and value.isascii() and value.isalnum()):
            raise ValueError("must be 3 to 32 letters or digits, as entered in the WeChat console")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://api.weixin.qq.com")
        return value.rstrip("/")


class Limit(_Section):
    """A token bucket (per_minute) and a daily budget (per_day, reset at 00:00 Beijing time); 0 means no limit."""

    per_minute: int = Field(0, ge=0)
    per_day: int = Field(0, ge=0)


class WeChatLimits(_Section):
    """Our own limits in front of WeChat's quotas, so that the app never makes a call it knows will fail."""

    template: Limit = Limit(per_minute=6000, per_day=100000)
    subscribe: Limit = Limit(per_minute=6000, per_day=0)
    mass: Limit = Limit(per_minute=60, per_day=100)
    tagging: Limit = Limit(per_minute=600, per_day=0)
    wxacode: Limit = Limit(per_minute=5000, per_day=0)
    msg_sec_check: Limit = Limit(per_minute=4000, per_day=0)
    custom: Limit = Limit(per_minute=6000, per_day=0)
    users: Limit = Limit(per_minute=600, per_day=0)
    code2session: Limit = Limit(per_minute=6000, per_day=0)


class CustomerServiceWindow(_Section):
    """WeChat's customer-service (客服) message rules."""

    messages_per_user_message: int = Field(5, ge=1)
    message_window_seconds: int = Field(48 * 3600, ge=60)
    messages_per_event: int = Field(3, ge=0)
    event_window_seconds: int = Field(60, ge=1)


class MenuButton(_Section):
    """One custom-menu button, as WeChat's menu/create API takes it."""

    type: Literal["click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "location_select"] | None = None
    name: str
    key: str | None = None
    url: str | None = None
    appid: str | None = None
    pagepath: str | None = None
    sub_button: list[MenuButton] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> MenuButton:
        if self.sub_button:
            if len(self.sub_button) > 5:
                raise ValueError(f"menu button {self.name!r}: at most 5 sub-buttons")
            return self
        if self.type is None:
            raise ValueError(f"menu button {self.name!r}: needs a type or sub-buttons")
        needed = {
            "click": "key",
            "view": "url",
            "miniprogram": "pagepath",
            "location_select": "key",
            "scancode_push": "key",
            "scancode_waitmsg": "key",
        }[self.type]
        if not getattr(self, needed):
            raise ValueError(f"menu button {self.name!r}: type {self.type} needs {needed}")
        if self.type == "miniprogram" and not (self.appid and self.url):
            raise ValueError(f"menu button {self.name!r}: a miniprogram button needs appid and url (the fallback page)")
        return self


class MenuSettings(_Section):
    button: list[MenuButton] = Field(default_factory=list)

    @field_validator("button")
    @classmethod
    def _limits(cls, value: list[MenuButton]) -> list[MenuButton]:
        # WeChat: at most 3 top-level buttons of at most 16 bytes, sub-buttons of at most 60 bytes.
        if len(value) > 3:
            raise ValueError("at most 3 top-level buttons")
        for button in value:
            if len(button.name.encode()) > 16:
                raise ValueError(f"top-level name {button.name!r} is over 16 bytes")
            for sub in button.sub_button:
                if len(sub.name.encode()) > 60:
                    raise ValueError(f"sub-button name {sub.name!r} is over 60 bytes")
        return value


class MiniProgramSettings(_Section):
    appid: str = ""
    secret: str = ""


class HttpSettings(_Section):
    """The HTTP edge: how many reverse proxies in front of the service may say who the client is."""

    # 0: the client address is the connection's peer, and X-Forwarded-For is ignored (a client could forge it).
    # N: N proxies (nginx, a load balancer) each append to X-Forwarded-For / X-Forwarded-Proto; the address N hops
    # from the right is the client (werkzeug's ProxyFix). Per-address limits (console lockout, mini-program logins,
    # identity claims) need the real client: behind a proxy with 0, every client shares the proxy's address.
    trusted_proxies: int = Field(0, ge=0, le=5)


class WebhookSettings(_Section):
    max_body_bytes: int = Field(65536, ge=1024, le=1048576)
    reply_deadline_seconds: float = Field(3.0, gt=0, lt=5)
    max_passive_reply_bytes: int = Field(2048, ge=64, le=2048)
    dedupe_ttl_seconds: int = Field(3600, ge=60)
    inbound_log_retention_days: int = Field(30, ge=1)


class ConversationSettings(_Section):
    timeout_seconds: int = Field(600, ge=10)
    lock_timeout_seconds: float = Field(30, gt=0, le=300)
    lock_wait_seconds: float = Field(20, gt=0, le=300)

    @model_validator(mode="after")
    def _wait_within_hold(self) -> ConversationSettings:
        if self.lock_wait_seconds > self.lock_timeout_seconds:
            raise ValueError("conversation.lock_wait_seconds must not exceed conversation.lock_timeout_seconds")
        return self


class OutboxSettings(_Section):
    retry_interval_seconds: int = Field(15, ge=1)
    max_attempts: int = Field(5, ge=1, le=50)


def _check_crontab(value: str) -> str:
    fields = value.split()
    if len(fields) == 5 and any(ch.isdigit() for ch in fields[4]):
        # cron counts Sunday as 0, APScheduler counts Monday as 0: a name means the same to both.
        raise ValueError("name the weekday (mon, tue, ..., sun) instead of a number")
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"must be a crontab line: minute hour day month weekday ({exc})") from None
    return value


Crontab = Annotated[str, AfterValidator(_check_crontab)]


class ScheduleSettings(_Section):
    """When the scheduler runs its jobs: crontab lines in UTC (03:00 Beijing time is 19:00 UTC)."""

    inbound_purge: Crontab = "17 3 * * *"
    followers_sync: Crontab = "5 19 * * *"
    card_purge: Crontab = "35 19 * * *"
    card_expire: Crontab = "7 * * * *"
    classes_build: Crontab = "50 19 * * *"  # rebuild class cohorts from the databank
    classes_remind: Crontab = "0 * * * *"  # remind liaisons whose class group QR expires soon
    inquiries_remind: Crontab = "*/10 * * * *"  # remind assignees of inquiries near or past their SLA
    card_scans_flush_seconds: int = Field(60, ge=5, le=3600)
    followers_link_seconds: int = Field(30, ge=5, le=3600)  # retry linking new followers to their unionid
    # Recount the dashboard's recent days (services.stats): how stale its charts may be, against a few indexed counts.
    stats_rollup_seconds: int = Field(300, ge=30, le=86400)
    databank_imports_seconds: int = Field(3, ge=1, le=300)  # look for queued roster imports (the console's)
    broadcasts_send_seconds: int = Field(5, ge=1, le=300)  # start due broadcasts, send a pass of their rows
    events_remind_seconds: int = Field(300, ge=30, le=86400)  # queue the day-before reminders of events
    broadcasts_tags_seconds: int = Field(600, ge=1, le=86400)  # delete WeChat tags no broadcast needs any more
    broadcasts_campaigns: Crontab = "20 0 * * *"  # create due campaign broadcasts (08:20 Beijing time)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def _check_keyring(value: str) -> str:
    """A keyring is ``kid:base64key`` entries separated by commas; each key is 32 bytes; the first is current."""
    if value == "":
        return value
    seen: set[str] = set()
    for entry in value.split(","):
        kid, sep, encoded = entry.strip().partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if not sep or not kid.isalnum() or len(kid) > 8 or len(key) != 32 or kid in seen:
            raise ValueError("must be 'kid:base64-of-32-bytes' entries separated by commas, unique key ids")
        seen.add(kid)
    return value


class PrivacySettings(_Section):
    """Keys of the alumni databank. Secrets: set them in the environment, never in config.yaml."""

    # AES-256-GCM keys for phones, emails and addresses; the first encrypts, every one decrypts (rotation).
    encryption_keys: str = ""
    # HMAC-SHA256 keys for blind indexes (phone, email, ID number); the first writes, every one is tried on lookup.
    hmac_keys: str = ""

    _keyrings = field_validator("encryption_keys", "hmac_keys")(_check_keyring)


class DatabankSettings(_Section):
    """The alumni databank: imports, merges and search."""

    institution: str = Field("本校", min_length=1, max_length=64)
    import_chunk_rows: int = Field(5000, ge=1, le=100000)
    import_workers: int = Field(0, ge=0, le=32)
    bulk_load_min_rows: int = Field(50000, ge=1)
    max_reported_errors: int = Field(10000, ge=10)
    merge_undo_days: int = Field(30, ge=1, le=365)
    search_max_page_size: int = Field(100, ge=1, le=1000)
    search_max_offset: int = Field(10000, ge=100)
    # Roster imports from the console (services.databank.import_jobs): the largest upload, where uploads wait for the
    # scheduler ("" is var_dir/imports), and how old a running import's heartbeat may get before it counts as dead.
    upload_max_bytes: int = Field(50 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    upload_dir: str = ""
    import_stale_seconds: int = Field(120, ge=30, le=3600)

    @field_validator("upload_dir")
    @classmethod
    def _absolute_upload_dir(cls, value: str) -> str:
        if value and not Path(value).is_absolute():
            raise ValueError("must be an absolute path, or empty for var_dir/imports")
        return value


class VerificationSettings(_Section):
    """Identity claims (name + student number + a second factor) against the databank."""

    failures_per_openid: int = Field(5, ge=1)
    failures_per_ip: int = Field(30, ge=1)
    failures_global: int = Field(1000, ge=1)
    window_seconds: int = Field(900, ge=60)
    min_response_seconds: float = Field(0.4, ge=0, le=5)


class CardSettings(_Section):
    """The electronic alumni card. ``code_keys`` is a secret: set it in the environment, never in config.yaml."""

    # HMAC-SHA256 keys that sign the card's QR tokens, "kid:base64-of-32-bytes" entries; the first signs.
    code_keys: str = ""
    code_ttl_seconds: int = Field(60, ge=10, le=600)
    tiers: list[str] = Field(default_factory=lambda: ["standard", "lifetime", "honorary"], min_length=1)
    default_tier: str = "standard"
    valid_years: int = Field(0, ge=0, le=100)  # 0: the card does not expire
    evidence_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    evidence_max_files: int = Field(5, ge=1, le=20)
    evidence_retention_days: int = Field(30, ge=1, le=365)
    scan_log_retention_days: int = Field(7, ge=1, le=90)
    # Mini-program subscribe-message template for the review decision; "" sends customer-service messages only.
    decision_template_id: str = ""
    page: str = "pages/card/index"  # the mini-program page that shows the card
    # Where the 校友卡 link goes on a client that cannot open mini-programs.
    fallback_url: str = "https://mp.weixin.qq.com/"
    # Verifications answered "forged" per scanner, and reads of absent cards/applications per user, per window.
    forged_per_scanner: int = Field(30, ge=1)
    not_found_per_user: int = Field(20, ge=1)
    limit_window_seconds: int = Field(300, ge=10)

    _keyring = field_validator("code_keys")(_check_keyring)

    @model_validator(mode="after")
    def _tier_known(self) -> CardSettings:
        if self.default_tier not in self.tiers:
            raise ValueError("card.default_tier must be one of card.tiers")
        return self


class MiniProgramApiSettings(_Section):
    """The mini-program's HTTP API (/api/v1): sessions and login throttling."""

    session_idle_seconds: int = Field(7200, ge=60, le=30 * 86400)  # a session unused this long is gone
    logins_per_user: int = Field(10, ge=1)  # successful logins per user per window
    logins_per_ip: int = Field(60, ge=1)  # login attempts per client address per window
    login_window_seconds: int = Field(600, ge=10)
    max_body_bytes: int = Field(6 * 1024 * 1024, ge=1024, le=32 * 1024 * 1024)


class ClassesSettings(_Section):
    """Class groups: the join QR images liaisons upload, what their links must look like, and the expiry reminder."""

    qr_max_bytes: int = Field(2 * 1024 * 1024, ge=10 * 1024, le=10 * 1024 * 1024)
    # A group QR must decode to a link starting with one of these (per platform): anything else is refused, so a
    # liaison's upload can only ever send classmates to a group, never to a web page.
    group_link_prefixes: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "wechat": ["https://weixin.qq.com/g/"],
            "qq": ["https://qm.qq.com/", "http://qm.qq.com/"],
        }
    )
    reminder_days_before: int = Field(2, ge=1, le=6)  # tell the liaison this long before a WeChat group QR expires
    # Cohorts one person (or one openid) may join by themselves (bot, mini-program): a class and its grade for each
    # degree is six at most, so 10 leaves room for a second major or an exchange, and stops a script from joining
    # thousands (each join inflates coverage and spends a liaison's few customer-service messages).
    max_memberships_per_person: int = Field(10, ge=1, le=200)

    @field_validator("group_link_prefixes")
    @classmethod
    def _https_prefixes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for platform, prefixes in value.items():
            if platform not in ("wechat", "qq"):
                raise ValueError(f"{platform}: the platforms are wechat and qq")
            if not prefixes or any(not p.startswith(("https://", "http://")) or p.count("/") < 3 for p in prefixes):
                raise ValueError(f"{platform}: give at least one link prefix with a host, like https://host/path/")
        return value


class InquirySettings(_Section):
    """The help desk (services/inquiries): the chat's automatic answers, follow-ups, SLAs and answer delivery."""

    # A matcher score (0-100) at or above which a knowledge-base answer is sent at once; between suggest_score and
    # it, the three best entries are offered by number; below suggest_score the message opens an inquiry.
    confident_score: int = Field(82, ge=1, le=100)
    suggest_score: int = Field(60, ge=1, le=100)
    # Messages a user sends this long after their previous one join the same open inquiry.
    followup_window_minutes: int = Field(30, ge=1, le=7 * 24 * 60)
    # Hours to a first answer, per category (the SLA); a category not listed gets "other".
    sla_hours: dict[str, int] = Field(
        default_factory=lambda: {
            "card": 24,
            "verification": 48,
            "data_update": 72,
            "donation": 48,
            "event": 24,
            "archive": 120,
            "branch": 72,
            "other": 72,
        }
    )
    remind_before_hours: int = Field(4, ge=1, le=72)  # the assignee is told this long before the SLA runs out
    # Days after closing in which the user's 1-5 reply is taken as a rating.
    rating_days: int = Field(7, ge=1, le=90)
    # Official-account template message "an answer is waiting" (outside the 48-hour window); "" = held for the
    # user's next message only. Staff reminders use staff_template_id.
    answer_template_id: str = ""
    staff_template_id: str = ""
    # Mini-program subscribe-message template for an answer to a mini-program inquiry; "" = shown in the app only.
    answer_subscribe_template_id: str = ""

    @field_validator("sla_hours")
    @classmethod
    def _known_categories(cls, value: dict[str, int]) -> dict[str, int]:
        from models.inquiry import CATEGORIES

        unknown = sorted(set(value) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}: the categories are {', '.join(CATEGORIES)}")
        if "other" not in value:
            raise ValueError("give hours for 'other' (the category of anything not listed)")
        if any(not 1 <= hours <= 24 * 90 for hours in value.values()):
            raise ValueError("hours must be between 1 and 2160 (90 days)")
        return value

    @model_validator(mode="after")
    def _suggest_below_confident(self) -> InquirySettings:
        if self.suggest_score > self.confident_score:
            raise ValueError("inquiries.suggest_score must not exceed inquiries.confident_score")
        return self


# Festival greetings the campaigns know (their dates per year: jobs/campaigns.py; their copy: core/texts/zh.py).
CAMPAIGN_FESTIVALS = ("new_year", "spring_festival", "dragon_boat", "teachers_day", "mid_autumn", "double_ninth")
CAMPAIGN_CHANNELS = ("mass", "custom")  # campaign greetings are text: the channels that carry text


class CampaignSettings(_Section):
    """Recurring campaigns (services/broadcasts/campaigns.py, job broadcasts.campaigns): graduation anniversaries and
    festival greetings, created as broadcasts ``days_ahead`` days before they go, through the usual approval."""

    enabled: bool = False
    # "Graduated N years ago": one broadcast a year per N, to those who graduated that year, sent on
    # anniversary_month/anniversary_day (Beijing time).
    anniversary_years: tuple[int, ...] = (10, 20, 30, 40, 50)
    anniversary_month: int = Field(6, ge=1, le=12)
    anniversary_day: int = Field(1, ge=1, le=28)
    festivals: tuple[str, ...] = CAMPAIGN_FESTIVALS  # the greetings to send, from CAMPAIGN_FESTIVALS
    days_ahead: int = Field(7, ge=1, le=60)  # created this many days before the send day (time to approve)
    send_time: str = Field("10:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # Beijing time on the send day
    channels: tuple[str, ...] = ("mass",)  # fallback order, from CAMPAIGN_CHANNELS
    # "always": every campaign broadcast waits for a staff member's approval (nobody wrote it); "threshold": only
    # above broadcasts.approval_threshold, like a broadcast staff wrote.
    approval: Literal["always", "threshold"] = "always"

    @field_validator("anniversary_years")
    @classmethod
    def _years(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for n in value:
            if not 1 <= n <= 80:
                raise ValueError(f"{n} is not a number of years from 1 to 80")
        if len(set(value)) != len(value):
            raise ValueError("lists a number of years twice")
        return tuple(sorted(value))

    @field_validator("festivals")
    @classmethod
    def _festivals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in CAMPAIGN_FESTIVALS:
                raise ValueError(f"unknown festival {name!r}; known: {', '.join(CAMPAIGN_FESTIVALS)}")
        if len(set(value)) != len(value):
            raise ValueError("lists a festival twice")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one channel")
        for name in value:
            if name not in CAMPAIGN_CHANNELS:
                raise ValueError(
                    f"{name!r} cannot carry a campaign's text greeting; use {' and/or '.join(CAMPAIGN_CHANNELS)}"
                )
        if len(set(value)) != len(value):
            raise ValueError("lists a channel twice")
        return value


class BroadcastSettings(_Section):
    """Broadcasts (services/broadcasts): when a second staff member must approve, and the quiet hours (Beijing time)."""

    # A confirmed broadcast whose audience is larger than this waits for approval by a second staff member holding
    # broadcasts.approve (never its author); at or below it, it is scheduled at once.
    approval_threshold: int = Field(1000, ge=0, le=100_000_000)
    # No broadcast sends between quiet_start and quiet_end, Beijing time ("22:00" to "08:00" spans midnight),
    # unless the broadcast says ignore_quiet_hours. Equal times mean no quiet hours.
    quiet_start: str = Field("22:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    quiet_end: str = Field("08:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    # Test sends of one broadcast to staff's own WeChat per Beijing day (each spends one of WeChat's 100 mass
    # previews a day, or a template message).
    test_sends_per_day: int = Field(10, ge=1, le=100)
    # The sender (services/broadcasts/delivery.py, job broadcasts.send): per-user sends a second across every
    # channel (also held under wechat_limits), sends in flight at once, rows claimed per batch, how long a claimed
    # row may stay "sending" before a crash is assumed and it is sent again (a template repeat within 10 minutes is a
    # no-op at WeChat), and how long one job pass may run.
    send_rate_per_second: float = Field(50.0, gt=0, le=10000)
    send_concurrency: int = Field(8, ge=1, le=64)
    send_batch: int = Field(200, ge=1, le=5000)
    claim_lease_seconds: int = Field(120, ge=1, le=540)
    pass_seconds: int = Field(50, ge=1, le=3600)
    # A finished mass send keeps its WeChat tag until MASSSENDJOBFINISH arrives, or this long after it finished; then
    # job broadcasts.tags deletes the tag (an account has at most 100).
    tag_keep_hours: int = Field(24, ge=1, le=720)
    campaigns: CampaignSettings = CampaignSettings()


class EventSettings(_Section):
    """Events (services/events): the notices to registrants, the day-before reminders and the check-in window."""

    # Mini-program subscribe-message template for event notices (a promotion from the waitlist, the reminder, a
    # cancellation) to a mini-program registrant with an allowance left; "" = a customer-service message instead.
    notice_subscribe_template_id: str = ""
    remind_before_hours: int = Field(24, ge=1, le=168)  # the reminder goes this long before the event starts
    # The check-in window (services/events/checkin.py): a card or scene check-in is taken from this long before the
    # event starts until this long after it ends (its start, when it has no end). The desk's manual check-in is not
    # bound by it.
    checkin_opens_before_hours: int = Field(6, ge=1, le=48)
    checkin_closes_after_hours: int = Field(6, ge=1, le=48)


class AdminSettings(_Section):
    """The staff console (/admin): sessions, cookies and login lockout. ``secret_key`` is a secret."""

    # Signs Flask's cookie that carries the console's CSRF token; generated in development, required in production.
    secret_key: str = Field("", max_length=256)
    session_idle_seconds: int = Field(1800, ge=60, le=86400)  # a console session unused this long is gone
    session_absolute_seconds: int = Field(12 * 3600, ge=300, le=30 * 86400)  # and none lives longer than this
    second_step_seconds: int = Field(300, ge=30, le=3600)  # time from the password to the TOTP code
    # The cookies' Secure flag. Unset: on in production, off elsewhere (``make run`` serves plain http on loopback).
    cookie_secure: bool | None = None
    failures_per_account: int = Field(5, ge=1, le=1000)  # failed logins per username per window, then locked
    failures_per_ip: int = Field(20, ge=1, le=100000)  # failed logins per client address per window, then locked
    lockout_window_seconds: int = Field(900, ge=60, le=86400)
    audit_page_size: int = Field(50, ge=10, le=500)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("must be at least 32 random characters")
        return value

    @model_validator(mode="after")
    def _idle_within_absolute(self) -> AdminSettings:
        if self.session_idle_seconds > self.session_absolute_seconds:
            raise ValueError("admin.session_idle_seconds must not exceed admin.session_absolute_seconds")
        return self


class Settings(BaseSettings):
    """Every setting Xiaoyou reads. Build it with :func:`load_settings`, which also applies the environment."""

    model_config = SettingsConfigDict(
        env_prefix="XIAOYOU__", env_nested_delimiter="__", extra="forbid", frozen=True, case_sensitive=False
    )

    environment: Literal["development", "production", "test"] = "development"
    var_dir: Path = PROJECT_ROOT / "var"
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    wechat: WeChatSettings = WeChatSettings()
    miniprogram: MiniProgramSettings = MiniProgramSettings()
    wechat_limits: WeChatLimits = WeChatLimits()
    customer_service: CustomerServiceWindow = CustomerServiceWindow()
    menu: MenuSettings = MenuSettings()
    http: HttpSettings = HttpSettings()
    webhook: WebhookSettings = WebhookSettings()
    conversation: ConversationSettings = ConversationSettings()
    outbox: OutboxSettings = OutboxSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    logging: LoggingSettings = LoggingSettings()
    privacy: PrivacySettings = PrivacySettings()
    databank: DatabankSettings = DatabankSettings()
    verification: VerificationSettings = VerificationSettings()
    card: CardSettings = CardSettings()
    miniprogram_api: MiniProgramApiSettings = MiniProgramApiSettings()
    classes: ClassesSettings = ClassesSettings()
    inquiries: InquirySettings = InquirySettings()
    broadcasts: BroadcastSettings = BroadcastSettings()
    events: EventSettings = EventSettings()
    admin: AdminSettings = AdminSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("XIAOYOU_CONFIG") or str(DEFAULT_CONFIG_FILE)
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        """Production refuses plaintext pushes and generated credentials; every missing key is named at once."""
        if self.environment != "production":
            return self
        problems = [
            f"{key}: required in production"
            for key in (
                *("wechat.appid", "wechat.secret", "wechat.token", "wechat.aes_key", "database.url", "redis.url"),
                *("privacy.encryption_keys", "privacy.hmac_keys", "card.code_keys", "admin.secret_key"),
            )
            if not self.get(key)
        ]
        if self.admin.cookie_secure is False:
            problems.append("admin.cookie_secure: false is refused in production (the console is served over https)")
        if self.wechat.message_mode == "plaintext":
            problems.insert(0, "wechat.message_mode: plaintext is refused in production; use safe")
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def get(self, dotted: str) -> Any:
        value: Any = self
        for part in dotted.split("."):
            value = getattr(value, part)
        return value

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.var_dir / 'xiaoyou.db'}"

    @property
    def admin_cookie_secure(self) -> bool:
        """Whether the console's cookies carry ``Secure``: ``admin.cookie_secure``, or on in production only."""
        if self.admin.cookie_secure is None:
            return self.environment == "production"
        return self.admin.cookie_secure

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis.url

    def masked(self) -> dict[str, Any]:
        """The effective settings as a dict, every secret (and any password in a URL) masked."""
        data = self.model_dump(mode="json")
        for key in SECRET_KEYS:
            section, name = key.split(".")
            if data[section][name]:
                data[section][name] = "****" + data[section][name][-2:] if len(data[section][name]) > 8 else "****"
        for section in ("database", "redis"):
            data[section]["url"] = _mask_url_password(data[section]["url"])
        return data


def _mask_url_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}"


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (check the spelling against config.yaml)")
        elif not key:  # a rule across keys: its message already names them
            lines.append(f"  {message}")
        elif isinstance(err.get("input"), (str, int, float)) and not any(s in key for s in _SENSITIVE):
            lines.append(f"  {key}: {message} (got {err['input']!r})")
        else:
            lines.append(f"  {key}: {message}")
    return "invalid configuration:\n" + "\n".join(lines)


_SENSITIVE = ("secret", "token", "aes_key", "url", "_keys")


def _generated_once(
    var_dir: Path, filename: str, make: Callable[[], dict[str, dict[str, str]]]
) -> dict[str, dict[str, str]]:
    """Development secrets: made once by ``make``, kept in ``var/filename`` (mode 600) so every process agrees."""
    path = var_dir / filename
    if path.exists():
        loaded: dict[str, dict[str, str]] = json.loads(path.read_text())
        return loaded
    values = make()
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return values


def _random_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _dev_credentials() -> dict[str, dict[str, str]]:
    """WeChat credentials of the emulator's development accounts, with a random token and AES key."""
    alphabet = string.ascii_letters + string.digits
    return {
        "wechat": {
            "appid": "wx_emulator_oa",
            "secret": "emulator-oa-secret",
            "token": "".join(secrets.choice(alphabet) for _ in range(32)),
            "aes_key": _random_key()[:43],
        },
        "miniprogram": {"appid": "wx_emulator_mp", "secret": "emulator-mp-secret"},
    }


def _dev_privacy_keys() -> dict[str, dict[str, str]]:
    """Random databank keys for development."""
    return {"privacy": {"encryption_keys": "dev1:" + _random_key(), "hmac_keys": "dev1:" + _random_key()}}


def _dev_card_keys() -> dict[str, dict[str, str]]:
    """A random key that signs card QR tokens in development."""
    return {"card": {"code_keys": "dev1:" + _random_key()}}


def _dev_admin_keys() -> dict[str, dict[str, str]]:
    """A random key that signs the console's CSRF cookie in development."""
    return {"admin": {"secret_key": secrets.token_urlsafe(48)}}


# Secrets generated for development when left empty: (file under var/, maker). Production must set them all.
DEV_SECRETS: tuple[tuple[str, Callable[[], dict[str, dict[str, str]]]], ...] = (
    ("dev-credentials.json", _dev_credentials),
    ("dev-privacy-keys.json", _dev_privacy_keys),
    ("dev-card-keys.json", _dev_card_keys),
    ("dev-admin-keys.json", _dev_admin_keys),
)


def load_settings(**overrides: Any) -> Settings:
    """Read, merge and validate the configuration; raise :class:`ConfigError` with every problem listed."""
    env_aliases = {"DATABASE_URL": ("database", "url"), "REDIS_URL": ("redis", "url")}
    for var, (section, key) in env_aliases.items():
        if os.environ.get(var) and key not in overrides.get(section, {}):
            overrides.setdefault(section, {})[key] = os.environ[var]
    try:
        settings = Settings(**overrides)
        if settings.environment == "development":
            generated: dict[str, dict[str, str]] = {}
            for filename, make in DEV_SECRETS:
                generated |= _generated_once(settings.var_dir, filename, make)
            filled: dict[str, dict[str, str]] = {}
            for section, values in generated.items():
                current = getattr(settings, section)
                missing = {k: v for k, v in values.items() if not getattr(current, k)}
                if missing:
                    filled[section] = {**current.model_dump(), **missing}
            if filled:
                settings = settings.model_copy(
                    update={s: getattr(settings, s).model_validate(v) for s, v in filled.items()}
                )
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
    return settings
