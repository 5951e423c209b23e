"""``python -m bench.broadcast_bench`` (``make bench-broadcast``): a broadcast to 1,000,000 followers on PostgreSQL:
its plan and its recipient rows written to the outbox (target <= 60 s together), then the sender against the
emulator at a configured 500 sends/s (target >= 95 % of that rate), measured in the same run.

Owns the broadcast benchmark only; the storage comes from ``bench/servers.py`` (the ``xiaoyou_bench`` schema in
``BENCH_DATABASE_URL``, re-created; ``BENCH_REDIS_URL`` or an embedded Redis) and the results file from
``bench/report.py``. The followers are written with ``COPY`` (generating them is not what is measured). The plan is
``services.broadcasts.plan.build`` (the reach per channel, the skipped and the ETA), the rows
``services.broadcasts.delivery.start_due`` (one ``INSERT ... SELECT``). The emulator runs in its own process
(``python -m emulator``), so it never shares the sender's interpreter; it knows the recipients of the first rows
the sender will claim (``--sender-rows``), and the sender runs ``send_pass`` for ``--send-seconds`` with
``broadcasts.send_rate_per_second`` = ``--rate`` and the template limit raised to allow it. Exit status: 0 when the
run completed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import select

from bench import import_bench
from bench.report import load_average, machine, revision, write_block
from bench.servers import BenchError, free_port, prepare_backend
from core.db import Database
from core.settings import Settings, load_settings
from emulator.wire import Account
from models import Broadcast, OutboundMessage
from models.broadcast import SCHEDULED
from services.broadcasts import delivery, plan
from wechat.gateway import build_gateway

APPID, TOKEN, SECRET = "wx_bench_account", "benchtoken", "bench-secret"
AES_KEY = "b" * 43
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
TEMPLATE = {"kind": "template", "template": {"template_id": "TPL_BENCH", "fields": {"first": "校庆", "remark": "欢迎"}}}


def openid(n: int) -> str:
    return f"oBench{n:022d}"


def copy_followers(database_url: str, count: int) -> float:
    """``count`` subscribed followers, written with COPY; returns the seconds it took."""
    started = time.perf_counter()
    db = Database(database_url)
    raw: Any = db.engine.raw_connection()
    try:
        now = datetime.now(UTC).isoformat()
        with raw.cursor() as cur, cur.copy("COPY followers (openid, subscribed, subscribed_at) FROM STDIN") as copy:
            buffer = io.StringIO()
            for n in range(count):
                buffer.write(f"{openid(n)}\tt\t{now}\n")
                if n % 50_000 == 49_999:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        raw.commit()
        with raw.cursor() as cur:
            cur.execute("ANALYZE followers")
        raw.commit()
    finally:
        raw.close()
        db.dispose()
    return time.perf_counter() - started


class Emulator:
    """``python -m emulator`` in its own process, and the controls the benchmark needs."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "EMULATOR_TOKEN": TOKEN, "EMULATOR_AES_KEY": AES_KEY, "EMULATOR_SECRET": SECRET}
        with (work / "emulator.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "emulator",
                    "--port",
                    str(self.port),
                    "--appid",
                    APPID,
                    "--log-level",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{self.url}/_emulator/calls", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise BenchError("the emulator did not start (see emulator.log)") from None
                time.sleep(0.2)

    def add_followers(self, openids: list[str]) -> None:
        for start in range(0, len(openids), 5000):
            users = [{"openid": o} for o in openids[start : start + 5000]]
            requests.post(f"{self.url}/_emulator/users", json={"users": users}, timeout=120).raise_for_status()

    def calls(self, path: str) -> int:
        found = requests.get(f"{self.url}/_emulator/calls", timeout=10).json()
        return int(found.get(path, 0))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def settings_for(work: Path, database_url: str, redis_url: str, api: str, rate: float) -> Settings:
    return load_settings(
        environment="test",
        var_dir=work,
        database={"url": database_url},
        redis={"url": redis_url},
        wechat={"appid": APPID, "secret": SECRET, "token": TOKEN, "aes_key": AES_KEY, "api_base_url": api},
        wechat_limits={"template": {"per_minute": int(rate * 60 * 1.2), "per_day": 10_000_000}},
        broadcasts={"send_rate_per_second": rate, "send_concurrency": 16, "send_batch": max(50, int(rate / 2)),
                    "pass_seconds": 3600},
    )  # fmt: skip


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    account = Account(APPID, TOKEN, AES_KEY)
    backend = prepare_backend(work, args.database_url, args.redis_url, account)
    emulator = Emulator(work)
    try:
        settings = settings_for(work, backend.database_url, backend.redis_url, emulator.url, args.rate)
        result: dict[str, Any] = {"backend": backend.label, "recipients": args.recipients, "rate": args.rate}
        result["copy_seconds"] = copy_followers(backend.database_url, args.recipients)
        db = Database(backend.database_url)
        with db.session() as session:
            broadcast = Broadcast(
                title="bench", channels="template", content_json=json.dumps(TEMPLATE, ensure_ascii=False),
                status=SCHEDULED, ignore_quiet_hours=True, created_by="bench",
            )  # fmt: skip
            session.add(broadcast)
            session.flush()
            bid = broadcast.id
            started = time.perf_counter()
            built = plan.build(session, settings, broadcast)
            result["plan_seconds"] = time.perf_counter() - started
            result["plan_reach"] = getattr(built, "audience", None)
        started = time.perf_counter()
        with db.session() as session:
            delivery.start_due(session, settings)
        result["write_seconds"] = time.perf_counter() - started
        with db.session() as session:
            result["rows"] = sum(delivery.progress(session, bid).values())
            first = list(
                session.scalars(
                    select(OutboundMessage.openid)
                    .where(OutboundMessage.broadcast_id == bid)
                    .order_by(OutboundMessage.id)
                    .limit(args.sender_rows)
                )
            )
        emulator.add_followers(first)
        gateway = build_gateway(settings, redis.Redis.from_url(backend.redis_url, decode_responses=True))
        assert gateway.official.client.access_token  # fetched before the clock starts
        config = delivery.SenderConfig.of(settings)
        config = delivery.SenderConfig(**{**config.__dict__, "pass_seconds": args.send_seconds})
        before = emulator.calls("/cgi-bin/message/template/send")
        started = time.perf_counter()
        counts = delivery.send_pass(lambda: db.session(write=True), gateway, settings, config=config,
                                    budget=args.sender_rows)  # fmt: skip
        elapsed = time.perf_counter() - started
        result["send_seconds"] = elapsed
        result["sent"] = counts.get("sent", 0)
        result["calls"] = emulator.calls("/cgi-bin/message/template/send") - before
        result["send_rate"] = result["sent"] / elapsed
        with db.session() as session:
            result["rows_sent"] = delivery.progress(session, bid).get("sent", 0)
        db.dispose()
        return result
    finally:
        emulator.stop()
        backend.close()


def section(r: dict[str, Any]) -> str:
    total = r["plan_seconds"] + r["write_seconds"]
    share = r["send_rate"] / r["rate"] * 100
    return "\n".join(
        [
            f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, revision {revision()}",
            "",
            f"Machine: {machine()}; load average before: {load_average()}. Storage: {r['backend']}.",
            "",
            "| step | measured | target |",
            "|---|---|---|",
            f"| followers written with COPY (setup) | {r['recipients']:,} in {r['copy_seconds']:.1f} s | - |",
            f"| plan (`plan.build`: reach, skipped, ETA) | {r['plan_seconds']:.1f} s | |",
            f"| recipient rows (`start_due`, one INSERT ... SELECT) | {r['rows']:,} rows in {r['write_seconds']:.1f} s"
            " | |",
            f"| plan + rows | {total:.1f} s | <= 60 s: {'met' if total <= 60 else 'NOT met'} |",
            f"| sender at a configured {r['rate']:.0f}/s (emulator, own process) | {r['sent']:,} sent in "
            f"{r['send_seconds']:.1f} s = {r['send_rate']:.0f}/s ({share:.1f} %); {r['calls']:,} calls, "
            f"{r['rows_sent']:,} rows sent | >= 95 %: {'met' if share >= 95 else 'NOT met'} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", import_bench.DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--sender-rows", type=int, default=15_000, help="rows the sender sends (30 s at 500/s)")
    parser.add_argument("--send-seconds", type=int, default=120, help="the longest the sender may run")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xiaoyou-broadcast-bench-") as tmp:
        try:
            result = run(args, Path(tmp))
        except BenchError as exc:
            print(f"broadcast bench: {exc}", file=sys.stderr)
            return 2
    text = section(result)
    print(text)
    if not args.no_write:
        write_block(RESULTS, "broadcast", text, intro="## Broadcasts (`make bench-broadcast`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
