"""The service runner behind ``make run``: one command that brings up everything on the embedded defaults.

It applies migrations, starts the embedded Redis when no ``REDIS_URL`` is set, starts the local WeChat emulator
when the account is the generated development one, then runs gunicorn and the single scheduler process, and stops
them all together. Production runs the same two processes under its own supervisor (README, "Deployment").
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from types import FrameType

from cli.demo import seed_if_empty as seed_demo_databank
from core import logging as xy_logging
from core.redis import start_embedded, stop_embedded
from core.schema import migrate
from core.settings import Settings

log = logging.getLogger(__name__)
EMULATOR_PORT = int(os.environ.get("EMULATOR_PORT", "8950"))
DEV_APPID = "wx_emulator_oa"


def wants_emulator(settings: Settings) -> bool:
    """The generated development account exists nowhere but in the emulator, so that is where its API calls go."""
    return settings.environment == "development" and settings.wechat.appid == DEV_APPID


def run_service(settings: Settings, port: int, workers: int) -> int:
    xy_logging.configure(settings.logging.level)
    migrate(settings)
    seed_demo_databank(settings)  # the alumni databank's demo roster: embedded defaults and empty only
    env = dict(os.environ)
    if settings.uses_embedded_redis:
        env["REDIS_URL"] = start_embedded(settings.var_dir)
    prom_dir = settings.var_dir / "prometheus"
    shutil.rmtree(prom_dir, ignore_errors=True)
    prom_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)

    commands: dict[str, list[str]] = {}
    if wants_emulator(settings):
        emulator_url = f"http://127.0.0.1:{EMULATOR_PORT}"
        env["XIAOYOU__WECHAT__API_BASE_URL"] = emulator_url
        commands["emulator"] = [
            sys.executable,
            "-m",
            "emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(EMULATOR_PORT),
            "--webhook-url",
            f"http://127.0.0.1:{port}/wechat",
            "--appid",
            settings.wechat.appid,
            "--token",
            settings.wechat.token,
            "--aes-key",
            settings.wechat.aes_key,
            "--mode",
            settings.wechat.message_mode,
        ]
    commands["web"] = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--timeout",
        "30",
        "wsgi:app",
    ]
    commands["scheduler"] = [sys.executable, "-m", "jobs"]

    procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}  # noqa: S603 - our own argv
    log.info("serving http://127.0.0.1:%d (webhook /wechat, /healthz, /metrics); Ctrl-C stops", port)
    if "emulator" in procs:
        log.info("WeChat emulator at http://127.0.0.1:%d; `make chat` talks to the bot", EMULATOR_PORT)

    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            code = proc.poll()
            if code is not None:
                log.error("%s exited with %s; stopping the rest", name, code)
                exit_code, stopping = code or 1, True
                break
        time.sleep(0.5)
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    stop_embedded()
    return exit_code
