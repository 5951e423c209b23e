"""The service runner behind ``make run``: one command that brings up everything on the embedded defaults.

It applies migrations, starts the embedded Redis when no ``REDIS_URL`` is set, starts the local WeChat emulator
when the account is the generated development one, then runs gunicorn and the single scheduler process, and stops
them all together. Production runs the same two processes under its own supervisor (README, "Deployment").

Each child runs in a session of its own, so the terminal's Ctrl-C reaches only this runner, which then sends each
child one SIGTERM, waits a bounded time and kills whatever is left, grandchildren (gunicorn's workers) included. A
gunicorn gthread worker that got the terminal's SIGINT *and* its master's quit could deadlock in ``handle_quit``,
ignore SIGTERM and keep holding the port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from types import FrameType

import psutil

from cli.common import emulator_port, wants_emulator
from cli.demo import seed_if_empty as seed_demo_databank
from core import logging as xy_logging
from core.redis import start_embedded, stop_embedded
from core.schema import migrate
from core.settings import Settings

log = logging.getLogger(__name__)
# How long the children have to stop after their SIGTERM before the runner kills what is left.
STOP_GRACE_SECONDS = 10.0
# The emulator reads its secrets from these, not from its command line (which every user can read in ps).
EMULATOR_SECRET_ENV = ("EMULATOR_TOKEN", "EMULATOR_AES_KEY", "EMULATOR_SECRET")


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own: the terminal's SIGINT (sent to its whole foreground process group) stays out of it.
    return subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - our own argv


def _family(procs: dict[str, subprocess.Popen[bytes]]) -> list[psutil.Process]:
    """Every child and each one's descendants, as they are now."""
    found: list[psutil.Process] = []
    for proc in procs.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(proc.pid)
            found += [parent, *parent.children(recursive=True)]
    return found


def stop_children(procs: dict[str, subprocess.Popen[bytes]], grace: float = STOP_GRACE_SECONDS) -> None:
    """One SIGTERM to each child (gunicorn's master passes it on to its workers itself), up to ``grace`` seconds
    for all of them and their descendants to exit, then SIGKILL for anything left in their process groups."""
    family = _family(procs)
    groups = {proc.pid for proc in procs.values()}  # each child leads its own session, hence its own group
    for name, proc in procs.items():
        if proc.poll() is None:
            log.info("stopping %s (pid %d)", name, proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(family, timeout=grace)
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process not in alive and os.getpgid(process.pid) in groups and process.pid != os.getpid():
                alive.append(process)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            log.warning("pid %d did not stop within %.0f s: killing it", process.pid, grace)
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


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
    # cli.common.settings resolved the WeChat base URL (the emulator, for the development account): pass it on.
    env["XIAOYOU__WECHAT__API_BASE_URL"] = settings.wechat.api_base_url

    commands: dict[str, tuple[list[str], dict[str, str]]] = {}
    if wants_emulator(settings):
        secrets = (settings.wechat.token, settings.wechat.aes_key, settings.wechat.secret)
        emulator_env = {**env, **dict(zip(EMULATOR_SECRET_ENV, secrets, strict=True))}
        commands["emulator"] = (
            [
                sys.executable,
                "-m",
                "emulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(emulator_port()),
                "--webhook-url",
                f"http://127.0.0.1:{port}/wechat",
                "--appid",
                settings.wechat.appid,
                "--mode",
                settings.wechat.message_mode,
            ],
            emulator_env,
        )
    commands["web"] = (
        [
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
            # The app is built once in the master and the workers fork from it (wsgi.py): they share its imports
            # and the help desk's matcher instead of loading their own (bench/RESULTS.md, issue 17: memory).
            "--preload",
            "wsgi:app",
        ],
        env,
    )
    commands["scheduler"] = ([sys.executable, "-m", "jobs"], env)

    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    procs = {name: _spawn(command, child_env) for name, (command, child_env) in commands.items()}
    log.info("serving http://127.0.0.1:%d (webhook /wechat, /healthz, /metrics); Ctrl-C stops", port)
    if "emulator" in procs:
        log.info("WeChat emulator at http://127.0.0.1:%d; `make chat` talks to the bot", emulator_port())

    exit_code = 0
    try:
        while not stopping:
            for name, proc in procs.items():
                code = proc.poll()
                if code is not None:
                    log.error("%s exited with %s; stopping the rest", name, code)
                    exit_code, stopping = code or 1, True
                    break
            time.sleep(0.5)
    finally:
        stop_children(procs)
        stop_embedded()
    return exit_code
