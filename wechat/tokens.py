"""The access token: one per account, shared by every process through Redis, refreshed by exactly one of them.

Keys (``core/redis_keys.py``): the token (JSON ``{"token", "expires_at"}``, for its lifetime) and the refresh lock.
A token is refreshed ``margin`` seconds before it expires; WeChat keeps the old one
valid for about five minutes after a refresh, so processes still holding it are not cut off. A process that finds
the token near expiry takes the lock, reads again (someone may have refreshed meanwhile), and only then fetches:
twenty processes arriving at once cause one fetch. After an invalid-token errcode the token is dropped only if it
is still the one that failed (compare-and-delete), so a late failure cannot throw away a fresh token.

Docs: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html and
https://developers.weixin.qq.com/doc/oplatform/openApi/OpenApiDoc/getStableAccessToken.html
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from core import redis_keys
from core.errors import WeChatUnavailable

log = logging.getLogger(__name__)

# Delete the key only if it still holds the token that failed.
_COMPARE_AND_DELETE = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# stable_token's force_refresh: at most 20 a day and 30 seconds apart (the stable-token doc page above).
FORCE_PER_DAY = 20
FORCE_MIN_INTERVAL = 30


@dataclass(frozen=True)
class Fetched:
    token: str
    expires_in: int


Fetch = Callable[[bool], Fetched]  # fetch(force_refresh) → a new token


class TokenStore:
    def __init__(
        self,
        client: redis.Redis,
        appid: str,
        fetch: Fetch,
        *,
        margin: int = 300,
        stable: bool = False,
        lock_timeout: float = 15,
    ) -> None:
        self.redis = client
        self.appid = appid
        self.fetch = fetch
        self.margin = margin
        self.stable = stable
        self.lock_timeout = lock_timeout
        self.key = redis_keys.wechat_token(appid)
        self.lock_key = redis_keys.wechat_token_lock(appid)
        self._cad = client.register_script(_COMPARE_AND_DELETE)

    def _read(self) -> dict[str, Any] | None:
        raw = self.redis.get(self.key)
        return json.loads(str(raw)) if raw else None

    def _fresh(self, cached: dict[str, Any] | None) -> bool:
        return cached is not None and float(cached["expires_at"]) - time.time() > self.margin

    def get(self) -> str:
        cached = self._read()
        if cached is not None and self._fresh(cached):
            return str(cached["token"])
        return self._refresh(stale=cached["token"] if cached else None, after_failure=False)

    def replace_failed(self, failed: str) -> str:
        """The token ``failed`` was refused by WeChat: drop it if it is still current, and get a working one."""
        self._cad(keys=[self.key], args=[failed])
        return self._refresh(stale=failed, after_failure=True)

    def _refresh(self, stale: str | None, after_failure: bool) -> str:
        lock = self.redis.lock(self.lock_key, timeout=self.lock_timeout, blocking_timeout=self.lock_timeout)
        if not lock.acquire():
            raise WeChatUnavailable(-1, "access token refresh is stuck (lock not acquired)")
        try:
            cached = self._read()
            if cached is not None and cached["token"] != stale and self._fresh(cached):
                return str(cached["token"])  # another process refreshed while we waited
            fetched = self.fetch(after_failure and self.stable and self._may_force())
            self.redis.set(
                self.key,
                json.dumps({"token": fetched.token, "expires_at": time.time() + fetched.expires_in}),
                ex=max(1, fetched.expires_in),
            )
            log.info("access token refreshed for %s (expires in %ss)", self.appid, fetched.expires_in)
            return fetched.token
        finally:
            lock.release()

    def _may_force(self) -> bool:
        """Count a stable-token force_refresh against WeChat's limits; False when none is left."""
        day = time.strftime("%Y%m%d", time.gmtime(time.time() + 8 * 3600))
        if not self.redis.set(redis_keys.wechat_force_gap(self.appid), "1", nx=True, ex=FORCE_MIN_INTERVAL):
            return False
        counter = redis_keys.wechat_force_count(self.appid, day)
        used = int(self.redis.incr(counter))
        self.redis.expire(counter, redis_keys.DAY_COUNTER_TTL)
        return used <= FORCE_PER_DAY
