"""``python -m jobs``: the one scheduler process. A second one waits on the leader lock as a hot standby."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from redis.exceptions import LockError

from core import logging as xy_logging
from core import redis_keys
from core.runtime import Runtime
from core.settings import ConfigError, load_settings
from jobs import JOBS, JobContext

log = logging.getLogger("jobs")
LEADER_TTL = redis_keys.SCHEDULER_LEADER_TTL


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)  # noqa: T201 - the operator reads this before logging exists
        return 2
    xy_logging.configure(settings.logging.level)
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # one line per run every 15 s is noise
    rt = Runtime.build(settings)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    leader = rt.redis.lock(redis_keys.scheduler_leader(), timeout=LEADER_TTL, thread_local=False)
    while not stop.is_set() and not leader.acquire(blocking=False):
        log.info("another scheduler holds the leader lock; standing by")
        stop.wait(LEADER_TTL / 3)
    if stop.is_set():
        return 0

    context = JobContext(rt)
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for spec in JOBS:
        scheduler.add_job(
            spec.func,
            spec.trigger(settings),
            args=[context],
            id=spec.id,
            name=spec.description,
            replace_existing=True,
            max_instances=spec.max_instances,
        )
    scheduler.start()
    log.info("scheduler leading with jobs: %s", ", ".join(spec.id for spec in JOBS))
    try:
        while not stop.wait(LEADER_TTL / 3):
            try:
                leader.extend(LEADER_TTL, replace_ttl=True)
            except LockError:
                log.error("lost the leader lock; stopping so that jobs never run twice")
                break
    finally:
        scheduler.shutdown(wait=True)
        try:
            leader.release()
        except LockError:
            log.debug("leader lock already gone")
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
