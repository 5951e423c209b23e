"""Mini-program sessions: a wx.login code becomes an opaque bearer token; the token becomes the caller's identity.

Owns login (code2Session through :class:`services.ports.MiniProgramPort`), the session store in Redis, login
throttling and logout. The token is 256 random bits; Redis keeps only its SHA-256 (the session key in
``core/redis_keys.py``), with an idle TTL renewed on each use. The ``session_key`` WeChat returns stays in that
record: it is never returned, logged or put in an exception. An openid sent by a client is never read: identity
comes only from here.

Also owns :func:`window_hit`, the fixed-window counter the card's limits use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

import redis

from core import redis_keys
from core.errors import RateLimited, Unauthenticated
from core.settings import MiniProgramApiSettings
from services.ports import MiniProgramPort

log = logging.getLogger(__name__)
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True)
class MpUser:
    """Who is calling, from the server-side session: never from the request."""

    openid: str
    unionid: str | None
    token_hash: str  # names the session (for logout and per-session limits); not the token


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def window_hit(client: redis.Redis, key: str, limit: int, window_seconds: int) -> bool:
    """Count one event in a fixed window; True while the count is within ``limit``."""
    pipe = client.pipeline()
    pipe.set(key, 0, nx=True, ex=window_seconds)
    pipe.incr(key)
    count = pipe.execute()[1]
    return int(count) <= limit


def login(
    client: redis.Redis, miniprogram: MiniProgramPort, settings: MiniProgramApiSettings, *, code: str, ip: str
) -> str:
    """Exchange a wx.login code for a new session token. Raises ``InvalidLoginCode`` (40029/40163),
    ``RateLimited`` (too many attempts from this address, or too many logins of this user)."""
    window = settings.login_window_seconds
    if not window_hit(client, redis_keys.mp_login_attempts("ip", ip), settings.logins_per_ip, window):
        raise RateLimited("login attempts over the per-address limit")
    wx = miniprogram.code_to_session(code)
    if not window_hit(client, redis_keys.mp_login_attempts("user", wx.openid), settings.logins_per_user, window):
        raise RateLimited("logins over the per-user limit")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    record = json.dumps({"openid": wx.openid, "unionid": wx.unionid, "session_key": wx.session_key})
    client.set(redis_keys.mp_session(_digest(token)), record, ex=settings.session_idle_seconds)
    log.info("mini-program login")
    return token


def authenticate(client: redis.Redis, settings: MiniProgramApiSettings, token: str) -> MpUser:
    """The session behind a bearer token, renewing its idle TTL. Raises ``Unauthenticated``."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("no session token")
    token_hash = _digest(token)
    raw = client.getex(redis_keys.mp_session(token_hash), ex=settings.session_idle_seconds)
    if raw is None:
        raise Unauthenticated("unknown or expired session")
    data = json.loads(raw)
    return MpUser(openid=str(data["openid"]), unionid=data.get("unionid") or None, token_hash=token_hash)


def logout(client: redis.Redis, token: str) -> None:
    """Revoke the session at once (a no-op for an unknown token)."""
    if token and len(token) <= MAX_TOKEN_CHARS:
        client.delete(redis_keys.mp_session(_digest(token)))
