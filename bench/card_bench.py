"""``python -m bench.card_bench`` (``make bench-card``): POST /api/v1/card/verify under load, and login latency.

Owns the card benchmark's run. It reuses the webhook benchmark's pieces: the storage backend and gunicorn servers
(``bench/servers.py``: SQLite + embedded Redis by default, or a PostgreSQL schema and a Redis database), the
keep-alive HTTP/1.1 client that writes pre-built requests (``bench.loadgen.Connection``) and the results file
helpers (``bench/report.py``: machine, revision, load average). Only what is card-specific is here: its own
block of ``RESULTS.md``, the seed (alumni, cards, a scanner credential),
the pre-signed tokens (each verifies once, so every request carries a fresh one), and the judging of answers.

Phases: a warm-up, then a closed-loop phase of ``--duration`` seconds with ``--connections`` keep-alive connections
from ``--loadgen-processes`` processes (throughput: how many verifications per second the server sustains), then
an open-loop phase at ``--open-rate`` (default the target, 1,000/s) for the latency at that rate: a closed loop
at saturation measures only its own queue. Every answer must be HTTP 200 with ``"result": "valid"``. Then ``--logins``
sequential logins through the emulator (code2Session over loopback HTTP) for login latency.

With ``--baseline REF`` (``bench/ab.py``) the app as it is at REF runs too, ``--rounds`` times interleaved with the
app, each on storage prepared and seeded afresh, through the same phases and logins, and is compared with it.

Exit status: 0 for a valid run (targets met or not: it reports), 1 when any request failed, 2 when the run could
not be set up, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import multiprocessing as mp
import os
import secrets
import string
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import insert

from bench import ab
from bench.loadgen import Connection, ProtocolError
from bench.report import Sample, ab_lines, load_average, machine, median, revision, write_block
from bench.servers import (
    Backend,
    BenchError,
    Server,
    bench_settings,
    prepare_backend,
    server_env,
    start_server,
    stop_on_sigterm,
    wait_healthy,
)
from core.db import Database
from core.redis import stop_embedded
from core.settings import CardSettings
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator
from emulator.wire import Account
from models import Card, Person, utcnow
from services import cards

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
MP_APPID, MP_SECRET = "wx_bench_miniprogram", "bench-mp-secret"
TARGET_RATE, TARGET_P99_MS = 1000.0, 20.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.card_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds of the measured phase (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured warm-up (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker (default 8)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--loadgen-processes", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--cards", type=int, default=2000, help="cards in the database (default 2000)")
    parser.add_argument("--max-rate", type=float, default=8000, help="requests built per closed-loop second (8000)")
    parser.add_argument(
        "--open-rate", type=float, default=TARGET_RATE, help="open-loop phase: verifications/s (default 1000)"
    )
    parser.add_argument("--logins", type=int, default=200, help="sequential logins for login latency (default 200)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    ab.add_arguments(parser)
    args = parser.parse_args(argv)
    ab.check_arguments(parser, args)
    return args


def _account() -> Account:
    alphabet = string.ascii_letters + string.digits
    token = "".join(secrets.choice(alphabet) for _ in range(32))
    return Account("wx_bench_account", token, base64.b64encode(secrets.token_bytes(32)).decode()[:43])


def seed(database_url: str, count: int) -> tuple[list[int], str]:
    """``count`` alumni with an active card each, and a scanner credential."""
    db = Database(database_url)
    try:
        now = utcnow()
        with db.session() as session:
            persons = [
                {"name": f"校友{i}", "name_simplified": f"校友{i}", "name_traditional": f"校友{i}",
                 "name_pinyin": f"xiaoyou{i}", "name_initials": "xy", "deceased": False, "restricted": False,
                 "status": "active", "provenance": {}, "created_at": now, "updated_at": now}
                for i in range(count)
            ]  # fmt: skip
            session.execute(insert(Person), persons)
            ids = [p.id for p in session.query(Person.id).order_by(Person.id)]
            session.execute(
                insert(Card),
                [
                    {"person_id": pid, "number": cards.new_number(now.year), "tier": "standard", "status": "active",
                     "version": 1, "issued_at": now, "updated_at": now}
                    for pid in ids
                ],
            )  # fmt: skip
            card_ids = [c.id for c in session.query(Card.id).order_by(Card.id)]
            _, credential = cards.create_scanner(session, label="bench desk", actor="bench")
        return card_ids, credential
    finally:
        db.dispose()


def requests_for(card_settings: CardSettings, card_ids: list[int], credential: str, n: int, port: int) -> list[bytes]:
    expires = int(time.time()) + 600
    out = []
    for i in range(n):
        token = cards.sign_token(card_settings, card_ids[i % len(card_ids)], 1, expires, secrets.token_bytes(8))
        body = json.dumps({"token": token}).encode()
        head = (
            "POST /api/v1/card/verify HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {credential}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def worker(
    port: int, batch: list[bytes], connections: int, duration: float, rate: float, offset: float, start: Any, out: Any
) -> None:
    """``connections`` threads, each on its own keep-alive connection, report latencies (s) and failures.

    Closed loop (``rate`` 0): each thread sends its next request as soon as the last is answered, for ``duration``;
    latency runs from the write to the end of the answer. Open loop (``rate`` > 0, this process's share): request
    ``i`` is due at ``t0 + i / rate`` whatever happened before, and its latency runs from that due time, so a
    server that falls behind is charged for the wait (no coordinated omission). ``offset`` (s) interleaves the
    processes' schedules.
    """
    lock = threading.Lock()
    index = iter(range(len(batch) if not rate else min(len(batch), int(rate * duration))))
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    def loop() -> None:
        conn = Connection("127.0.0.1", port)
        mine: list[float] = []
        try:
            while rate or time.perf_counter() < t_end:
                with lock:
                    i = next(index, None)
                if i is None:
                    if not rate:
                        with lock:
                            failures["ran out of pre-signed tokens"] += 1
                    return
                due = t0 + offset + i / rate if rate else time.perf_counter()
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                try:
                    status, body = conn.exchange(batch[i])
                except (OSError, ProtocolError, ValueError) as exc:
                    with lock:
                        failures[f"transport: {type(exc).__name__}"] += 1
                    continue
                mine.append(time.perf_counter() - due)
                if status != 200 or b'"result":"valid"' not in body.replace(b" ", b""):
                    with lock:
                        failures[f"http {status}: {body[:80]!r}"] += 1
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    start.wait()
    t0 = time.perf_counter()
    t_end = t0 + duration
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((latencies, dict(failures)))


def phase(
    port: int, reqs: list[bytes], args: argparse.Namespace, duration: float, rate: float = 0.0
) -> tuple[list[float], Counter[str]]:
    """One phase over ``--loadgen-processes`` processes: closed loop, or open loop at ``rate`` requests/s."""
    ctx = mp.get_context("spawn")
    out, start = ctx.Queue(), ctx.Event()
    n = args.loadgen_processes
    procs = [
        ctx.Process(
            target=worker,
            args=(
                port,
                reqs[i::n],
                args.connections // n + (i < args.connections % n),
                duration,
                rate / n,
                i / rate if rate else 0.0,
                start,
                out,
            ),
            daemon=True,
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let the processes import and reach the start line
    start.set()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    for _ in procs:
        lat, fail = out.get(timeout=duration + 120)
        latencies.extend(lat)
        failures.update(fail)
    for p in procs:
        p.join(timeout=10)
    latencies.sort()
    return latencies, failures


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[max(0, min(len(values) - 1, int(q * len(values) + 0.999999) - 1))] * 1000


def login_latency(base: str, emulator: RunningEmulator, n: int) -> tuple[list[float], int]:
    session = requests.Session()
    latencies, failed = [], 0
    for i in range(n):
        code = emulator.login_code(f"o_bench_login_{i:06d}", f"u_bench_{i:06d}")
        t0 = time.perf_counter()
        response = session.post(f"{base}/api/v1/auth/login", json={"code": code}, timeout=10)
        latencies.append(time.perf_counter() - t0)
        if response.status_code != 200 or "token" not in response.json():
            failed += 1
    latencies.sort()
    return latencies, failed


CARD_INTRO = (
    "## Card verification (`make bench-card`)\n\n"
    "`python -m bench.card_bench`: `POST /api/v1/card/verify` under gunicorn on loopback (target: ≥ 1,000 "
    "verifications/s with p99 ≤ 20 ms on this machine), and login latency through the emulator. Each run appends a "
    "section to this block.\n"
)


@dataclass
class Measurement:
    """One server through both phases (and, for the app, the logins)."""

    closed: list[float]  # latencies (s) of the closed-loop phase, sorted
    closed_cpu: float  # server CPU seconds during it
    at_rate: list[float]  # latencies (s) of the open-loop phase, from each request's due time, sorted
    at_rate_cpu: float
    failures: Counter[str]
    logins: list[float] = field(default_factory=list)  # latencies (s), sorted
    login_failures: int = 0

    def rate(self, duration: float) -> float:
        return len(self.closed) / duration

    def cpu_ms(self) -> float:
        """Server CPU per answered request in the closed loop."""
        return self.closed_cpu / max(len(self.closed), 1) * 1000

    def lines(self, args: argparse.Namespace) -> list[str]:
        return [
            f"throughput (closed loop): {len(self.closed)} answers in {args.duration:g}s = "
            f"**{self.rate(args.duration):,.0f}/s**; at saturation ms p50 {pct(self.closed, 0.5):.1f}, p99 "
            f"{pct(self.closed, 0.99):.1f}; server CPU {self.closed_cpu / args.duration:.2f} cores, "
            f"{self.cpu_ms():.2f} ms per request",
            f"at {args.open_rate:,.0f}/s (open loop, latency from each request's due time): {len(self.at_rate)} "
            f"answers; ms p50 {pct(self.at_rate, 0.5):.1f}, p90 {pct(self.at_rate, 0.9):.1f}, **p99 "
            f"{pct(self.at_rate, 0.99):.1f}**, max {pct(self.at_rate, 1.0):.1f}; server CPU "
            f"{self.at_rate_cpu / args.duration:.2f} cores; failures {sum(self.failures.values())}",
        ]


def measure(server: Server, reqs: list[bytes], args: argparse.Namespace) -> Measurement:
    """Warm up, then the closed-loop and the open-loop phases, each on its own slice of ``reqs``."""
    warm, closed = int(args.max_rate * args.warmup), int(args.max_rate * args.duration)
    print(f"[{server.name}] warm-up {args.warmup:g}s ...", flush=True)
    phase(server.port, reqs[:warm], args, args.warmup)
    print(f"[{server.name}] closed loop, {args.connections} connections, {args.duration:g}s ...", flush=True)
    cpu0 = server.cpu_seconds()
    latencies, closed_failures = phase(server.port, reqs[warm : warm + closed], args, args.duration)
    closed_cpu = server.cpu_seconds() - cpu0
    print(f"[{server.name}] open loop at {args.open_rate:,.0f}/s, {args.duration:g}s ...", flush=True)
    cpu0 = server.cpu_seconds()
    at_rate, open_failures = phase(server.port, reqs[warm + closed :], args, args.duration, args.open_rate)
    failures = Counter({f"closed loop: {k}": v for k, v in closed_failures.items()})
    failures.update({f"open loop: {k}": v for k, v in open_failures.items()})
    return Measurement(latencies, closed_cpu, at_rate, server.cpu_seconds() - cpu0, failures)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    account = _account()
    code_keys = "b1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    card_settings = CardSettings(code_keys=code_keys)
    load_before = load_average()
    emulator = RunningEmulator.start(
        EmulatorConfig(oa_appid=account.appid, oa_secret="bench-secret", mp_appid=MP_APPID, mp_secret=MP_SECRET,
                       token=account.token, aes_key=account.aes_key)
    )  # fmt: skip
    server = None
    measured: list[tuple[ab.Run, Measurement]] = []
    # The worktree outlives the servers: they are stopped in the finally below, before the stack removes it.
    with tempfile.TemporaryDirectory(prefix="xiaoyou-card-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        try:
            baseline = stack.enter_context(ab.baseline_tree(args.baseline))
            backend = prepare_backend(work, args.database_url, args.redis_url, account)
            bench_settings(work, backend.database_url, backend.redis_url, account)
            card_ids, credential = seed(backend.database_url, args.cards)
            env = server_env(work, backend, account, work / "prometheus")
            env.update(
                {
                    "XIAOYOU__CARD__CODE_KEYS": code_keys,
                    "XIAOYOU__WECHAT__API_BASE_URL": emulator.url,
                    "XIAOYOU__MINIPROGRAM__APPID": MP_APPID,
                    "XIAOYOU__MINIPROGRAM__SECRET": MP_SECRET,
                    "XIAOYOU__MINIPROGRAM_API__LOGINS_PER_IP": str(args.logins * 10),
                    "XIAOYOU__LOGGING__LEVEL": "WARNING",
                }
            )
            total = int(args.max_rate * (args.warmup + args.duration) + args.open_rate * args.duration)
            print(f"signing {total} tokens for {args.cards} cards ...", flush=True)
            if baseline:
                print(f"baseline: {baseline.label}, served from {baseline.tree}; {args.rounds} round(s)")
            for run in ab.plan("bench.card_reference:create_app()", "card", baseline, args.rounds):
                if run.prepare:  # the same empty storage and the same seed (the same ids) for every app
                    prepare_backend(work, args.database_url, args.redis_url, account)
                    card_ids, credential = seed(backend.database_url, args.cards)
                env["PROMETHEUS_MULTIPROC_DIR"] = str(work / f"prometheus-{run.name}")
                server = start_server(run.name, run.app_spec, work, env, args.workers, args.threads, run.tree)
                wait_healthy(server)
                # The reference checks nothing, so the requests' Host port and tokens need not be its own.
                result = measure(server, requests_for(card_settings, card_ids, credential, total, server.port), args)
                if run.role != "reference":
                    print(f"[{server.name}] logins through the emulator: {args.logins} sequential ...", flush=True)
                    base = f"http://127.0.0.1:{server.port}"
                    result.logins, result.login_failures = login_latency(base, emulator, args.logins)
                if result.failures or result.login_failures:
                    print(f"{server.name} server log (tail):\n{server.log_tail(40)}")
                server.stop()
                measured.append((run, result))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers", file=sys.stderr)
            return 130
        except BenchError as exc:
            print(f"bench-card: {exc}", file=sys.stderr)
            return 2
        finally:
            if server is not None:
                server.stop()
            emulator.stop()
            stop_embedded()
    return _report(args, backend, measured, baseline, load_before)


def _report(
    args: argparse.Namespace,
    backend: Backend,
    measured: list[tuple[ab.Run, Measurement]],
    baseline: ab.Baseline | None,
    load_before: str,
) -> int:
    """Print the lines (each from the median round of its role) and record them; the exit status."""

    def throughput(m: Measurement) -> float:
        return m.rate(args.duration)

    def p99(m: Measurement) -> float:
        return pct(m.at_rate, 0.99)

    def failed(m: Measurement) -> int:
        return sum(m.failures.values()) + m.login_failures

    def pick(role: ab.Role, key: Callable[[Measurement], float]) -> tuple[str, Measurement]:
        """``role``'s measurement with the median ``key``, and " (round N)" when the app ran several rounds."""
        run, m = median([(run, m) for run, m in measured if run.role == role], key=lambda rm: key(rm[1]))
        return (f" (round {run.round})" if args.rounds > 1 and run.role != "reference" else ""), m

    def described(role: ab.Role, label: str) -> list[str]:
        (closed_round, closed), (open_round, opened) = pick(role, throughput), pick(role, p99)
        return [f"{label}{closed_round}: {closed.lines(args)[0]}", f"{label}{open_round}: {opened.lines(args)[1]}"]

    def login(role: ab.Role, label: str) -> str:
        at, m = pick(role, lambda m: pct(m.logins, 0.99))
        return (
            f"{label}{at}: ms p50 {pct(m.logins, 0.5):.1f}, p90 {pct(m.logins, 0.9):.1f}, p99 "
            f"{pct(m.logins, 0.99):.1f}; failures {m.login_failures}"
        )

    def samples(role: ab.Role) -> list[Sample]:
        return [
            Sample(run.round, throughput(m), m.cpu_ms(), p99(m), failed(m)) for run, m in measured if run.role == role
        ]

    reference, app, app_open = pick("reference", throughput)[1], pick("app", throughput)[1], pick("app", p99)[1]
    rate = throughput(app)
    ok_rate = rate >= TARGET_RATE
    sent_all = len(app_open.at_rate) >= int(args.open_rate * args.duration)
    ok_p99 = sent_all and args.open_rate >= TARGET_RATE and p99(app_open) <= TARGET_P99_MS
    lines = [
        *described("app", "verify"),
        *(described("baseline", f"baseline {baseline.label}") if baseline else []),
        *described("reference", "reference (Flask answers without checking anything)"),
        f"target ≥ {TARGET_RATE:,.0f}/s: {'met' if ok_rate else 'NOT met'} "
        f"({rate / throughput(reference):.2f}x the reference); "
        f"p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:,.0f}/s: {'met' if ok_p99 else 'NOT met'}",
        login("app", "login (POST /api/v1/auth/login → code2Session at the emulator over loopback, sequential)"),
    ]
    if baseline:
        lines += [
            login("baseline", f"baseline {baseline.label} login"),
            *ab_lines(baseline.label, args.open_rate, samples("app"), samples("baseline"), baseline.caveat),
        ]
    for line in lines:
        print(line)
    failures = sum((m.failures for _, m in measured), Counter[str]())
    for reason, count in failures.most_common(5):
        print(f"  failure x{count}: {reason}")
    if not args.no_record:
        section = "\n".join(
            [
                f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {backend.label}",
                "",
                f"- App revision: {revision()}",
                f"- Machine: {machine()}; load average before the run: {load_before}",
                f"- Setup: gunicorn {args.workers} workers x {args.threads} threads (gthread); {args.connections} "
                f"keep-alive connections from {args.loadgen_processes} load-generator processes on the same "
                f"machine; {args.cards} cards; every request carries a fresh pre-signed token (tokens verify once); "
                f"each verification reads the scanner, card and holder in one query, claims the token and queues "
                f"its scan-log entry in one Redis script (written to card_scans 100 at a time, after the answer)",
                *(f"- {line}" for line in lines),
                "",
            ]
        )
        write_block(args.results, "card", section, intro=CARD_INTRO)
    return 1 if any(failed(m) for _, m in measured) else 0


if __name__ == "__main__":
    sys.exit(main())
