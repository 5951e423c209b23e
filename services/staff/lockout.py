"""Failed-login counters in Redis: per username and per client address, in a fixed window.

A username is counted whether or not an account has it, so a locked "no such user" and a locked real user look the
same. Wrong second-factor codes are counted here too (a 6-digit code must not be guessed at leisure). Reaching the
limit locks further tries (without checking the password) until the window that started with the first failure
passes; a successful login clears the username's counter, not the address's.
"""

from __future__ import annotations

import redis

from core import redis_keys
from core.settings import AdminSettings


def _keys(username: str, ip: str) -> tuple[str, str]:
    return (
        redis_keys.staff_login_failures("user", username.strip().lower()),
        redis_keys.staff_login_failures("ip", ip or "-"),
    )


def locked(client: redis.Redis, settings: AdminSettings, *, username: str, ip: str) -> bool:
    user_key, ip_key = _keys(username, ip)
    user_count, ip_count = client.mget(user_key, ip_key)
    return int(user_count or 0) >= settings.failures_per_account or int(ip_count or 0) >= settings.failures_per_ip


def record_failure(client: redis.Redis, settings: AdminSettings, *, username: str, ip: str) -> bool:
    """Count one failure for the username and the address; True if this failure brought either to its limit."""
    user_key, ip_key = _keys(username, ip)
    window = settings.lockout_window_seconds
    pipe = client.pipeline()
    for key in (user_key, ip_key):
        pipe.set(key, 0, nx=True, ex=window)
        pipe.incr(key)
    results = pipe.execute()
    return int(results[1]) == settings.failures_per_account or int(results[3]) == settings.failures_per_ip


def clear(client: redis.Redis, *, username: str) -> None:
    client.delete(redis_keys.staff_login_failures("user", username.strip().lower()))


def minutes_left(client: redis.Redis, settings: AdminSettings, *, username: str, ip: str) -> int:
    """Whole minutes (at least 1) until the longer of the two windows that lock this try has passed."""
    user_key, ip_key = _keys(username, ip)
    ttl = max(int(client.ttl(user_key)), int(client.ttl(ip_key)), 1)
    return min(max(1, -(-ttl // 60)), -(-settings.lockout_window_seconds // 60))
