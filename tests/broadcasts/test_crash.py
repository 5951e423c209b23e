"""A 10,000-recipient template broadcast sent by a real sender process that is SIGKILLed five times at random
points and restarted: every recipient receives exactly one message at the emulator, and our rows agree."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.db import Database
from emulator.testing import RunningEmulator
from models import Broadcast
from models.broadcast import FINISHED
from services.broadcasts import delivery
from tests.broadcasts.delivery_helpers import add_broadcast, add_followers, ids

RECIPIENTS = 10_000
KILLS = 5
ROOT = Path(__file__).resolve().parents[2]


def _sender(work_dir: Path, settings: Any, redis_url: str, emulator: RunningEmulator) -> subprocess.Popen[bytes]:
    args = [str(work_dir), settings.database_url, redis_url, emulator.url]
    with (work_dir / "crash_sender.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "tests.broadcasts.crash_sender", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _sent(emulator: RunningEmulator) -> int:
    return int(emulator.calls().get("/cgi-bin/message/template/send", 0))


def test_sigkilled_sender_loses_nothing_and_sends_nothing_twice(
    gateway_settings: Any, emulator: RunningEmulator, work_dir: Path, redis_url: str
) -> None:
    begun = time.monotonic()
    settings = gateway_settings()
    db = Database(settings.database_url)
    everyone = ids(RECIPIENTS)
    with db.session() as session:
        add_followers(session, emulator, everyone)
        bid = add_broadcast(session)
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a log line per send would slow the emulator down
    kills = []
    started = time.monotonic()
    for n in range(KILLS):
        sender = _sender(work_dir, settings, redis_url, emulator)
        if n == 0:
            time.sleep(rng.uniform(0.2, 2.5))  # during start-up or writing the rows
        else:  # somewhere in the sending: after a random number of further sends, at a random instant
            target = _sent(emulator) + rng.randrange(100, 1500)
            while _sent(emulator) < target and sender.poll() is None:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.05))
        assert sender.poll() is None, f"seed {seed}: the sender ended before it was killed"
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
        kills.append(_sent(emulator))
    assert kills[-1] < RECIPIENTS, f"seed {seed}: the broadcast finished before the last kill ({kills})"
    last = time.monotonic()
    sender = _sender(work_dir, settings, redis_url, emulator)
    sender.wait(120)
    assert sender.returncode == 0, (work_dir / "crash_sender.log").read_text()[-3000:]
    finished = time.monotonic()

    got = Counter(d["openid"] for d in emulator.deliveries(channel="template"))
    assert set(got) == set(everyone), f"seed {seed}: {RECIPIENTS - len(got)} recipients got nothing"
    assert max(got.values()) == 1, f"seed {seed}: {sum(1 for n in got.values() if n > 1)} received twice"
    with db.session() as session:
        assert delivery.progress(session, bid) == {"sent": RECIPIENTS}
        b = session.scalars(select(Broadcast).where(Broadcast.id == bid)).one()
        assert (b.status, b.sent_count, b.failed_count, b.skipped_count) == (FINISHED, RECIPIENTS, 0, 0)
    db.dispose()
    print(
        f"seed {seed}: template calls at each kill {kills}; kills {finished - started:.1f} s after the setup"
        f" ({started - begun:.1f} s), the last sender {finished - last:.1f} s"
    )
