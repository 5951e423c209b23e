"""Two real scheduler processes (``python -m jobs``) started at once against the same database, Redis and WeChat
emulator: one leads, the other stands by, and each run of a short-interval job (``broadcasts.tags`` every 2 s,
which calls WeChat's tags/get once a run) happens once, counted at the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from core.settings import PROJECT_ROOT
from emulator.testing import RunningEmulator, wait_for
from models import utcnow
from services.broadcasts import tags
from tests.conftest import AES_KEY, APPID, TOKEN
from wechat.gateway import Gateway

INTERVAL = 2  # seconds between runs of broadcasts.tags
LIST, DELETE = "/cgi-bin/tags/get", "/cgi-bin/tags/delete"


def test_two_schedulers_started_at_once_run_each_job_once(
    settings: Any, gateway: Gateway, emulator: RunningEmulator, tmp_path: Path
) -> None:
    orphan = gateway.official.create_tag(tags.tag_name(4242, utcnow()))  # a crash left it: the sweep deletes it
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYOU")} | {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis.url,
        "XIAOYOU__WECHAT__API_BASE_URL": emulator.url,
        "XIAOYOU__WECHAT__APPID": APPID,
        "XIAOYOU__WECHAT__SECRET": "test-secret",
        "XIAOYOU__WECHAT__TOKEN": TOKEN,
        "XIAOYOU__WECHAT__AES_KEY": AES_KEY,
        "XIAOYOU__SCHEDULE__BROADCASTS_TAGS_SECONDS": str(INTERVAL),
    }
    logs: list[list[str]] = []
    readers: list[threading.Thread] = []
    procs: list[subprocess.Popen[str]] = []
    launched = time.monotonic()
    for _ in range(2):  # at once: both race for the leader lock
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs"], cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        lines: list[str] = []
        logs.append(lines)
        readers.append(threading.Thread(target=lambda p=proc, out=lines: out.extend(p.stderr or ()), daemon=True))
        readers[-1].start()
        procs.append(proc)

    def said(text: str) -> list[int]:
        return [i for i, lines in enumerate(logs) if any(text in line for line in list(lines))]

    try:
        assert wait_for(lambda: said("scheduler leading"), timeout=60)
        assert wait_for(lambda: said("standing by"), timeout=60)
        assert wait_for(lambda: emulator.calls().get(LIST, 0) >= 8, timeout=180)  # eight runs at least
        calls = emulator.calls()  # read before the time, so the bound below is never too tight
        elapsed = time.monotonic() - launched
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        for reader in readers:
            reader.join(5)
        for proc in procs:
            if proc.stderr is not None:
                proc.stderr.close()
    text = ["".join(lines) for lines in logs]
    assert [p.returncode for p in procs] == [0, 0], text
    assert len(said("scheduler leading")) == 1 and said("standing by") != said("scheduler leading"), text
    # One run per interval at most since the processes were launched (the first INTERVAL s after the leader
    # started): both schedulers running the job would call tags/get about twice as often. The orphan is deleted
    # once, by one of them.
    assert calls[LIST] <= elapsed / INTERVAL + 1, (calls, elapsed)
    assert calls.get(DELETE) == 1
    assert orphan not in {t.id for t in gateway.official.list_tags()}
