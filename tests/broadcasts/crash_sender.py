"""The sender as its own process, for the crash test: ``python -m tests.broadcasts.crash_sender <work dir>
<database url> <redis url> <emulator url>`` runs what the ``broadcasts.send`` job runs (start the due broadcasts,
then sender passes) until no broadcast is left sending, then exits 0. The test SIGKILLs it at random points."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import redis
from sqlalchemy import select

from core.db import Database
from models import Broadcast
from models.broadcast import SCHEDULED, SENDING
from services.broadcasts import delivery
from tests.conftest import make_settings
from tests.gateway.conftest import MP_APPID, MP_SECRET
from wechat.gateway import build_gateway


def main(work_dir: str, database_url: str, redis_url: str, emulator_url: str) -> int:
    settings = make_settings(
        Path(work_dir),
        database_url,
        redis_url,
        wechat={"api_base_url": emulator_url, "transient_retries": 1},
        miniprogram={"appid": MP_APPID, "secret": MP_SECRET},
        broadcasts={"send_rate_per_second": 3000, "send_concurrency": 8, "send_batch": 100, "claim_lease_seconds": 2},
        wechat_limits={"template": {"per_minute": 600_000, "per_day": 100_000}},
    )
    db = Database(settings.database_url)
    gateway = build_gateway(settings, redis.Redis.from_url(redis_url, decode_responses=True))
    while True:
        with db.session(write=True) as session:
            delivery.start_due(session, settings)
        delivery.send_pass(lambda: db.session(write=True), gateway, settings)
        with db.session() as session:
            left = session.scalar(select(Broadcast.id).where(Broadcast.status.in_((SCHEDULED, SENDING))).limit(1))
        if left is None:
            return 0
        time.sleep(0.2)  # rows another (killed) worker left in flight wait out their lease


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
