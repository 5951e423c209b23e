"""Every Redis key Xiaoyou writes: its name, what it holds and how long it lives. Nothing else spells a key.

One module owns the names (as aiogram's storage owns its keys), so that a grep finds every user of a key, a new
feature cannot collide with an old one, and an operator can read off the table below what a Redis database holds.
Every key starts with ``xy:``. The fixed lifetimes are constants here; a lifetime that staff may tune is a setting,
named in the table, and the caller passes it.

| key (after ``xy:``) | holds | lives |
|---|---|---|
| ``push:{dedupe_key}`` | a push's claim, then its answer | ``webhook.dedupe_ttl_seconds`` |
| ``conv:{openid}`` | conversation state (JSON) | its expiry + ``CONVERSATION_GRACE`` |
| ``lock:user:{openid}`` | the per-user lock's token | ``conversation.lock_timeout_seconds`` |
| ``scheduler:leader`` | the scheduler's leader lock | ``SCHEDULER_LEADER_TTL``, renewed |
| ``followers:link`` | follows waiting for their unionid (zset: openid → due time) | none: drained as it is fetched |
| ``wechat:token:{appid}`` | the access token (JSON) | the token's lifetime |
| ``wechat:token-lock:{appid}`` | the token refresh lock | the refresh timeout |
| ``wechat:force-gap:{appid}`` | a recent stable-token force refresh | 30 s (WeChat's minimum gap) |
| ``wechat:force:{appid}:{yyyymmdd}`` | force refreshes that Beijing day | ``DAY_COUNTER_TTL`` |
| ``wechat:bucket:{appid}:{family}`` | an API family's token bucket (hash) | until full again + 60 s |
| ``wechat:day:{appid}:{family}:{yyyymmdd}`` | an API family's calls that day | ``DAY_COUNTER_TTL`` |
| ``wechat:paused:{appid}:{family}`` | a family paused after 45009 | until 00:00 Beijing time |
| ``wechat:cs:{appid}:{openid}`` | the customer-service window (hash) | the 48-hour window + 1 h |
| ``mp:session:{sha256(token)}`` | a mini-program session | ``session_idle_seconds``, renewed |
| ``mp:login:{ip,user}:{hash}`` | login attempts | ``login_window_seconds`` |
| ``verify:fail:{openid,ip}:{hash}`` | failed identity claims | ``verification.window_seconds`` |
| ``verify:fail:global`` | failed identity claims, all users | ``verification.window_seconds`` |
| ``verify:alarm`` | the global limit was logged | ``verification.window_seconds`` |
| ``card:used:{nonce}`` | a card QR token that verified once | the token's remaining life |
| ``card:scans`` | scans waiting for the scan log | none: drained by the flush |
| ``card:scans:flush`` | the scan-log flush lock | ``SCAN_FLUSH_LOCK_TTL`` |
| ``card:forged:{scanner_id}`` | "forged" answers to a scanner | ``card.limit_window_seconds`` |
| ``card:notfound:{hash}`` | lookups of others' applications | ``card.limit_window_seconds`` |
| ``staff:session:{sha256(token)}`` | a console session (JSON) | ``admin.session_idle_seconds``, renewed |
| ``staff:sessions:{account_id}`` | an account's session hashes (a set) | ``admin.session_absolute_seconds`` |
| ``staff:fail:{user,ip}:{hash}`` | failed console logins | ``admin.lockout_window_seconds`` |
| ``staff:totp:{account_id}:{step}`` | an authenticator code that was used | ``TOTP_USED_TTL`` |
| ``databank:import:{job_id}`` | a running import's progress and heartbeat (hash) | ``IMPORT_PROGRESS_TTL``, renewed |
| ``staff:chat:{account_id}`` | the chat simulator's transcript (list of JSON) | ``CHAT_TRANSCRIPT_TTL``, renewed |
| ``inquiries:knowledge:version`` | the knowledge base's version (a counter; the matcher reloads when it moves) | none |
| ``events:checkin-qr:{event_id}:{hash}`` | an event's check-in QR link, for its token | the QR's life - 60 s |
| ``outreach:await:{hash}`` | a sent outreach greeting, its answer awaited (the campaign key) | ``OUTREACH_AWAIT_TTL`` |

``{hash}`` is :func:`hashed` of the identifier (an openid, an IP address): keys that are listed or logged never
carry one in clear. The webhook's keys carry the openid itself: they are read on every push, and an openid is a
pseudonym of the account, not a person's name or number.
"""

from __future__ import annotations

import hashlib
from typing import Literal

PREFIX = "xy"
CONVERSATION_GRACE = 86400  # an expired conversation is kept a day, so the user can be told it timed out
DAY_COUNTER_TTL = 2 * 86400  # a per-day counter outlives its (Beijing) day
SCHEDULER_LEADER_TTL = 30
SCAN_FLUSH_LOCK_TTL = 60
TOTP_USED_TTL = 150  # a used code's time step stays remembered past the ±1 step a code is accepted in


def hashed(value: str) -> str:
    """A short, stable stand-in for an identifier inside a key (96 bits of SHA-256)."""
    return hashlib.sha256(value.encode()).hexdigest()[:24]


# --- the webhook and the scheduler ----------------------------------------------------------------------------


def push(dedupe_key: str) -> str:
    return f"{PREFIX}:push:{dedupe_key}"


def conversation(openid: str) -> str:
    return f"{PREFIX}:conv:{openid}"


def user_lock(openid: str) -> str:
    return f"{PREFIX}:lock:user:{openid}"


def scheduler_leader() -> str:
    return f"{PREFIX}:scheduler:leader"


def follower_link_queue() -> str:
    return f"{PREFIX}:followers:link"


# --- the WeChat gateway ---------------------------------------------------------------------------------------


def wechat_token(appid: str) -> str:
    return f"{PREFIX}:wechat:token:{appid}"


def wechat_token_lock(appid: str) -> str:
    return f"{PREFIX}:wechat:token-lock:{appid}"


def wechat_force_gap(appid: str) -> str:
    return f"{PREFIX}:wechat:force-gap:{appid}"


def wechat_force_count(appid: str, beijing_day: str) -> str:
    return f"{PREFIX}:wechat:force:{appid}:{beijing_day}"


def wechat_bucket(appid: str, family: str) -> str:
    return f"{PREFIX}:wechat:bucket:{appid}:{family}"


def wechat_day_count(appid: str, family: str, beijing_day: str) -> str:
    return f"{PREFIX}:wechat:day:{appid}:{family}:{beijing_day}"


def wechat_paused(appid: str, family: str) -> str:
    return f"{PREFIX}:wechat:paused:{appid}:{family}"


def wechat_cs_window(appid: str, openid: str) -> str:
    return f"{PREFIX}:wechat:cs:{appid}:{openid}"


# --- the mini-program and identity verification ---------------------------------------------------------------


def mp_session(token_sha256: str) -> str:
    return f"{PREFIX}:mp:session:{token_sha256}"


def mp_login_attempts(scope: Literal["ip", "user"], identifier: str) -> str:
    return f"{PREFIX}:mp:login:{scope}:{hashed(identifier)}"


def verify_failures(scope: Literal["openid", "ip", "global"], identifier: str = "") -> str:
    if scope == "global":
        return f"{PREFIX}:verify:fail:global"
    return f"{PREFIX}:verify:fail:{scope}:{hashed(identifier)}"


def verify_alarm() -> str:
    return f"{PREFIX}:verify:alarm"


# --- the alumni card ------------------------------------------------------------------------------------------


def card_token_used(nonce_hex: str) -> str:
    return f"{PREFIX}:card:used:{nonce_hex}"


def card_scan_queue() -> str:
    return f"{PREFIX}:card:scans"


def card_scan_flush_lock() -> str:
    return f"{PREFIX}:card:scans:flush"


def card_forged(scanner_id: int) -> str:
    return f"{PREFIX}:card:forged:{scanner_id}"


def card_application_not_found(openid: str) -> str:
    return f"{PREFIX}:card:notfound:{hashed(openid)}"


# --- the staff console ----------------------------------------------------------------------------------------


def staff_session(token_sha256: str) -> str:
    return f"{PREFIX}:staff:session:{token_sha256}"


def staff_sessions_of(account_id: int) -> str:
    return f"{PREFIX}:staff:sessions:{account_id}"


def staff_login_failures(scope: Literal["user", "ip"], identifier: str) -> str:
    return f"{PREFIX}:staff:fail:{scope}:{hashed(identifier)}"


def staff_totp_used(account_id: int, time_step: int) -> str:
    return f"{PREFIX}:staff:totp:{account_id}:{time_step}"


# --- roster imports from the console --------------------------------------------------------------------------

IMPORT_PROGRESS_TTL = 86400  # renewed at every heartbeat, deleted when the import ends: only a crash leaves one


def import_progress(job_id: int) -> str:
    return f"{PREFIX}:databank:import:{job_id}"


# --- the console's chat simulator -----------------------------------------------------------------------------

CHAT_TRANSCRIPT_TTL = 86400  # a test conversation is kept a day after its last message


def staff_chat(account_id: int) -> str:
    return f"{PREFIX}:staff:chat:{account_id}"


# --- the help desk's knowledge base ------------------------------------------------------------------------------


def knowledge_version() -> str:
    """Bumped after every committed change of the knowledge base; each process's matcher compares it (at most once a
    second) with the version it loaded."""
    return f"{PREFIX}:inquiries:knowledge:version"


# --- event check-in ----------------------------------------------------------------------------------------------


def event_checkin_qr(event_id: int, token: str) -> str:
    """The link of the event's temporary check-in QR for ``token`` (a renewed token is another key: a new QR)."""
    return f"{PREFIX}:events:checkin-qr:{event_id}:{hashed(token)}"


# --- outreach to international graduates (issue 15) -------------------------------------------------------------

OUTREACH_AWAIT_TTL = 30 * 86400  # a greeting's "where are you now?" waits a month for its answer
# An outreach broadcast's ``campaign_key`` starts with this ("outreach:<from>-<to>:<broadcast id>"). It lives here,
# below both, because two layers read it: ``services.outreach`` names its campaigns with it, and the broadcast sender
# (``services.broadcasts.delivery``, which must not import outreach) sets :func:`outreach_awaiting` for each
# recipient whose greeting it has just sent.
OUTREACH_CAMPAIGN = "outreach"


def is_outreach_campaign(campaign_key: str | None) -> bool:
    """Whether a broadcast of this ``campaign_key`` is an outreach greeting (its recipients' answers are awaited)."""
    return bool(campaign_key) and str(campaign_key).startswith(f"{OUTREACH_CAMPAIGN}:")


def outreach_awaiting(openid: str) -> str:
    """A follower was sent the outreach greeting and has not answered yet: holds the campaign key. Set by the
    broadcast sender when the greeting's customer-service message is sent, never earlier."""
    return f"{PREFIX}:outreach:await:{hashed(openid)}"
