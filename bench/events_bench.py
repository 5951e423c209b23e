"""``python -m bench.events_bench`` (``make bench-events``): check-in at an event's door, and registration for its
last places, under load.

Owns the events benchmark's run and only what is event-specific; the rest is reused: the storage and the gunicorn
servers (``bench/servers.py``: the ``xiaoyou_bench`` schema in ``BENCH_DATABASE_URL`` with ``BENCH_REDIS_URL``,
re-created; or SQLite + an embedded Redis when neither is given), the card benchmark's seed (alumni with an active
card each), pre-signed tokens and open-loop load generator (``bench/card_bench.py``), and the results-file helpers
(``bench/report.py``).

(a) **Check-in**: ``--per-minute`` x ``--duration`` alumni (default 2,000) are registered for one event (through
``services.events.registration.register``), and a scanner credential scoped to that event scans each one's card
once through the real ``POST /api/v1/card/verify`` under gunicorn, open loop at ``--per-minute`` (default 2,000 a
minute): latency p50/p99 from each request's due time, and the rate achieved. In the same run, the same load through
the same endpoint with an *unscoped* scanner (the plain card verification, which checks nobody in) is the reference;
the two alternate in ``--slices`` slices (default 3, the reference first in each), so that other work on the machine
weighs on both alike. Every answer must be 200 and valid, and afterwards exactly one check-in per scanned attendee
must be in the database.

(b) **Registration**: ``--registrants`` (default 500) mini-program users register at once for an event with
``--places`` places (default 100) and a waitlist: through the real ``POST /api/v1/events/{id}/registrations`` when
the app serves it (each user logged in first through the emulator's code2Session), else by calling ``register``
from as many threads. Exactly ``--places`` must be confirmed and the rest waitlisted; latency p50/p99 is reported.

Exit status: 0 for a valid run (targets met or not: it reports), 1 when a request failed or a count is wrong, 2 when
the run could not be set up, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import logging
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests
from sqlalchemy import func, select

from bench import card_bench
from bench.report import load_average, machine, revision, write_block
from bench.servers import (
    Backend,
    BenchError,
    Server,
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
from models import Card, Event, EventRegistration, utcnow
from models.event import REG_CONFIRMED, REG_WAITLISTED
from services.events import catalog, checkin, registration
from services.events.registration import Registrant

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
MP_APPID, MP_SECRET = "wx_bench_miniprogram", "bench-mp-secret"
TARGET_PER_MINUTE, TARGET_P99_MS = 2000.0, 50.0
REGISTRATIONS_PATH = re.compile(r"^/api/v1/events/\{[a-z_]+\}/registrations$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--per-minute", type=float, default=TARGET_PER_MINUTE, help="check-ins a minute (2000)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of each check-in phase (default 60)")
    parser.add_argument("--slices", type=int, default=3, help="alternating reference/check-in slices (default 3)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured warm-up (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker (default 8)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--loadgen-processes", type=int, default=1, help="load-generator processes (default 1)")
    parser.add_argument("--registrants", type=int, default=500, help="concurrent registrations (default 500)")
    parser.add_argument("--places", type=int, default=100, help="the event's places (default 100)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    parser.add_argument("--note", default="", help="a line recorded with the run (what else the machine was doing)")
    args = parser.parse_args(argv)
    args.attendees = int(args.per_minute * args.duration / 60)
    if args.attendees < args.slices or args.slices < 1 or args.registrants < 1 or args.places < 1:
        parser.error("--per-minute x --duration must make a check-in per slice; --registrants and --places >= 1")
    return args


# --- the data ---------------------------------------------------------------------------------------------------


def seed(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Alumni with cards (the card benchmark's seed: also an unscoped scanner), the check-in event with every one
    of them registered, its scoped scanner, and the event with ``--places`` places for the registrations."""
    card_ids, unscoped = card_bench.seed(database_url, args.attendees)
    db = Database(database_url)
    try:
        now = utcnow()
        with db.session() as session:
            people = {card_id: person_id for card_id, person_id in session.execute(select(Card.id, Card.person_id))}
            door = catalog.create_event(
                session,
                actor="bench",
                association_id=None,
                title="校友返校日（压测）",
                starts_at=now + timedelta(hours=1),
            )
            catalog.publish(session, door.id, actor="bench", now=now)
            for card_id in card_ids:
                registration.register(session, door.id, Registrant(people[card_id]), channel="console", now=now)
            _, scoped = checkin.create_event_scanner(session, door.id, label="bench door", actor="bench")
            places = catalog.create_event(
                session, actor="bench", association_id=None, title="名额有限的讲座（压测）",
                starts_at=now + timedelta(days=3), capacity=args.places, waitlist=True,
            )  # fmt: skip
            catalog.publish(session, places.id, actor="bench", now=now)
            return {
                "card_ids": card_ids,
                "unscoped": unscoped,
                "scoped": scoped,
                "door": door.id,
                "places": places.id,
            }
    finally:
        db.dispose()


def checked_in(database_url: str, event_id: int) -> tuple[int, int]:
    """(registrations checked in, distinct registrations checked in by card) at the event."""
    db = Database(database_url)
    try:
        with db.session() as session:
            done = select(func.count()).where(
                EventRegistration.event_id == event_id, EventRegistration.checked_in_at.is_not(None)
            )
            by_card = done.where(EventRegistration.checkin_method == "card")
            return int(session.scalar(done) or 0), int(session.scalar(by_card) or 0)
    finally:
        db.dispose()


def places_taken(database_url: str, event_id: int) -> dict[str, int]:
    db = Database(database_url)
    try:
        with db.session() as session:
            rows = session.execute(
                select(EventRegistration.status, func.count())
                .where(EventRegistration.event_id == event_id)
                .group_by(EventRegistration.status)
            ).all()
            event = session.get(Event, event_id)
            assert event is not None
            counts = {str(status): int(n) for status, n in rows}
            counts["confirmed_count"], counts["waitlisted_count"] = event.confirmed_count, event.waitlisted_count
            return counts
    finally:
        db.dispose()


# --- (a) check-in ---------------------------------------------------------------------------------------------------


def requests_for(settings: CardSettings, card_ids: list[int], credential: str, n: int, port: int) -> list[bytes]:
    """``n`` verify requests, each with a fresh token, card ``i`` for request ``i`` (so each attendee is scanned once
    when ``n`` is their count)."""
    return card_bench.requests_for(settings, card_ids, credential, n, port)


def open_loop(
    server: Server, reqs: list[bytes], args: argparse.Namespace, duration: float
) -> tuple[list[float], Counter[str], float]:
    """One open-loop phase at ``--per-minute``: latencies (s, sorted), failures, and the wall time it took."""
    shape = SimpleNamespace(loadgen_processes=args.loadgen_processes, connections=args.connections)
    started = time.perf_counter()
    latencies, failures = card_bench.phase(server.port, reqs, shape, duration, args.per_minute / 60)  # type: ignore[arg-type]
    return latencies, failures, time.perf_counter() - started - 1.0  # the phase waits 1 s for its processes


def interleaved(
    server: Server, reference: list[bytes], scans: list[bytes], args: argparse.Namespace
) -> tuple[tuple[list[float], Counter[str], float], tuple[list[float], Counter[str], float], float]:
    """The reference and the check-in in ``--slices`` alternating slices (reference first in each), so that what
    else the machine is doing weighs on both alike: (reference, check-in, server CPU seconds during the check-in)."""
    k = args.slices
    results: dict[str, tuple[list[float], Counter[str], float]] = {
        "reference": ([], Counter(), 0.0),
        "checkin": ([], Counter(), 0.0),
    }
    cpu = 0.0
    for i in range(k):
        for name, reqs in (("reference", reference), ("checkin", scans)):
            share = reqs[len(reqs) * i // k : len(reqs) * (i + 1) // k]
            print(f"[{i + 1}/{k}] {name}: {len(share)} scans at {args.per_minute:,.0f}/min ...", flush=True)
            cpu0 = server.cpu_seconds()
            part = (len(share) + 0.5) / (args.per_minute / 60)  # the slice's seconds: exactly its share is sent
            latencies, failures, wall = open_loop(server, share, args, part)
            if name == "checkin":
                cpu += server.cpu_seconds() - cpu0
            lat, fail, total = results[name]
            results[name] = ([*lat, *latencies], fail + failures, total + wall)
    for name, (lat, fail, total) in results.items():
        results[name] = (sorted(lat), fail, total)
    return results["reference"], results["checkin"], cpu


# --- (b) registration -----------------------------------------------------------------------------------------------


def serves_registrations(base: str) -> bool:
    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    return any(REGISTRATIONS_PATH.match(path) and "post" in ops for path, ops in doc.get("paths", {}).items())


def login_all(base: str, emulator: RunningEmulator, n: int) -> list[str]:
    """``n`` mini-program users logged in through the emulator's code2Session: their session tokens."""
    session = requests.Session()
    tokens = []
    for i in range(n):
        code = emulator.login_code(f"o_bench_reg_{i:06d}", f"u_bench_reg_{i:06d}")
        response = session.post(f"{base}/api/v1/auth/login", json={"code": code}, timeout=10)
        if response.status_code != 200:
            raise BenchError(f"login {i} answered {response.status_code}: {response.text[:200]}")
        tokens.append(str(response.json()["token"]))
    return tokens


def at_once(n: int, one: Any) -> tuple[list[float], Counter[str]]:
    """``one(i)`` from ``n`` threads released together: latencies (s, sorted) and failures."""
    barrier = threading.Barrier(n)
    lock = threading.Lock()
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    def run(i: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        try:
            problem = one(i)
        except Exception as exc:  # every failure is counted and reported: the run goes on
            problem = f"{type(exc).__name__}: {str(exc)[:80]}"
        elapsed = time.perf_counter() - t0
        with lock:
            latencies.append(elapsed)
            if problem:
                failures[problem] += 1

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    latencies.sort()
    return latencies, failures


def register_over_http(port: int, event_id: int, tokens: list[str]) -> tuple[list[float], Counter[str]]:
    def one(i: int) -> str | None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(
                "POST",
                f"/api/v1/events/{event_id}/registrations",
                body=b"{}",
                headers={"Authorization": f"Bearer {tokens[i]}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status not in (200, 201):
            return f"http {response.status}: {body[:80]!r}"
        return None

    return at_once(len(tokens), one)


def register_directly(database_url: str, event_id: int, n: int) -> tuple[list[float], Counter[str]]:
    db = Database(database_url)

    def one(i: int) -> str | None:
        with db.session(write=True) as session:
            registration.register(
                session, event_id, Registrant(None, mp_openid=f"o_bench_reg_{i:06d}"), channel="miniprogram"
            )
        return None

    try:
        return at_once(n, one)
    finally:
        db.dispose()


# --- the run --------------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    return card_bench.pct(values, q)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's access log: one line per login
    stop_on_sigterm()
    account = card_bench._account()
    code_keys = "b1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    card_settings = CardSettings(code_keys=code_keys)
    load_before = load_average()
    emulator = RunningEmulator.start(
        EmulatorConfig(oa_appid=account.appid, oa_secret="bench-secret", mp_appid=MP_APPID, mp_secret=MP_SECRET,
                       token=account.token, aes_key=account.aes_key)
    )  # fmt: skip
    server: Server | None = None
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="xiaoyou-events-bench-") as tmp:
        work = Path(tmp)
        try:
            backend = prepare_backend(work, args.database_url, args.redis_url, account)
            print(f"seeding {args.attendees} alumni with cards, registered for the check-in event ...", flush=True)
            t0 = time.perf_counter()
            data = seed(backend.database_url, args)
            out["seed_s"] = time.perf_counter() - t0
            env = server_env(work, backend, account, work / "prometheus")
            env.update(
                {
                    "XIAOYOU__CARD__CODE_KEYS": code_keys,
                    "XIAOYOU__WECHAT__API_BASE_URL": emulator.url,
                    "XIAOYOU__MINIPROGRAM__APPID": MP_APPID,
                    "XIAOYOU__MINIPROGRAM__SECRET": MP_SECRET,
                    "XIAOYOU__MINIPROGRAM_API__LOGINS_PER_IP": str(args.registrants * 10),
                    "XIAOYOU__LOGGING__LEVEL": "WARNING",
                }
            )
            server = start_server("app", "wsgi:app", work, env, args.workers, args.threads)
            wait_healthy(server)
            n = args.attendees
            warm = max(1, int(args.per_minute / 60 * args.warmup))
            print(f"warm-up {args.warmup:g}s (unscoped verifications) ...", flush=True)
            open_loop(server, requests_for(card_settings, data["card_ids"], data["unscoped"], warm, server.port),
                      args, args.warmup)  # fmt: skip
            reference = requests_for(card_settings, data["card_ids"], data["unscoped"], n, server.port)
            scans = requests_for(card_settings, data["card_ids"], data["scoped"], n, server.port)
            out["reference"], out["checkin"], out["checkin_cpu"] = interleaved(server, reference, scans, args)
            out["checked_in"] = checked_in(backend.database_url, data["door"])

            base = f"http://127.0.0.1:{server.port}"
            if serves_registrations(base):
                print(f"logging in {args.registrants} mini-program users through the emulator ...", flush=True)
                tokens = login_all(base, emulator, args.registrants)
                print(f"{args.registrants} registrations at once over HTTP for {args.places} places ...", flush=True)
                out["how"] = "HTTP"
                out["registrations"] = register_over_http(server.port, data["places"], tokens)
            else:
                print(f"{args.registrants} registrations at once through register() ...", flush=True)
                out["how"] = "direct"
                out["registrations"] = register_directly(backend.database_url, data["places"], args.registrants)
            out["places"] = places_taken(backend.database_url, data["places"])
            if any(out[k][1] for k in ("reference", "checkin")) or out["registrations"][1]:
                print(f"server log (tail):\n{server.log_tail(40)}")
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the server", file=sys.stderr)
            return 130
        except BenchError as exc:
            print(f"bench-events: {exc}", file=sys.stderr)
            return 2
        finally:
            if server is not None:
                server.stop()
            emulator.stop()
            stop_embedded()
    return _report(args, backend, out, load_before)


def _report(args: argparse.Namespace, backend: Backend, out: dict[str, Any], load_before: str) -> int:
    load_after = load_average()
    ref_lat, ref_fail, _ = out["reference"]
    lat, fail, wall = out["checkin"]
    done, by_card = out["checked_in"]
    reg_lat, reg_fail = out["registrations"]
    places = out["places"]
    confirmed, waitlisted = places.get(REG_CONFIRMED, 0), places.get(REG_WAITLISTED, 0)
    expected_wait = max(0, args.registrants - args.places)
    counts_ok = (
        done == by_card == len(lat) - sum(fail.values())
        and confirmed == places["confirmed_count"] == min(args.places, args.registrants)
        and waitlisted == places["waitlisted_count"] == expected_wait
    )
    # Every request is due at its scheduled time: the last answer came at most the longest latency after the last
    # one was due, so this is the rate the door was served at (a lower bound).
    rate = len(lat) / (len(lat) / (args.per_minute / 60) + max(lat, default=0.0)) * 60 if lat else 0.0
    how = (
        "POST /api/v1/events/{id}/registrations under gunicorn"
        if out["how"] == "HTTP"
        else "register() from as many threads: the HTTP endpoint is not served yet"
    )
    p99 = pct(lat, 0.99)
    ok_rate = args.per_minute >= TARGET_PER_MINUTE and len(lat) >= args.attendees
    ok_p99 = ok_rate and p99 <= TARGET_P99_MS
    lines = [
        f"check-in (event-scoped scanner, POST /api/v1/card/verify): {len(lat):,} scans of {args.attendees:,} "
        f"registered attendees at {args.per_minute:,.0f}/min (open loop, latency from each request's due time): "
        f"achieved **{rate:,.0f}/min**; ms p50 {pct(lat, 0.5):.1f}, p90 {pct(lat, 0.9):.1f}, **p99 {p99:.1f}**, "
        f"max {pct(lat, 1.0):.1f}; server CPU {out['checkin_cpu'] / max(wall, 1e-9):.2f} cores; failures "
        f"{sum(fail.values())}; checked in afterwards: {done:,} ({by_card:,} by card)",
        f"reference (the plain card verify of an unscoped scanner, same endpoint, same load, same run): "
        f"{len(ref_lat):,} scans; ms p50 {pct(ref_lat, 0.5):.1f}, p90 {pct(ref_lat, 0.9):.1f}, p99 "
        f"{pct(ref_lat, 0.99):.1f}, max {pct(ref_lat, 1.0):.1f}; failures {sum(ref_fail.values())}",
        f"target {TARGET_PER_MINUTE:,.0f} check-ins/min with p99 ≤ {TARGET_P99_MS:g} ms: "
        f"{'met' if ok_p99 else 'NOT met'}",
        f"registration ({how}): "
        f"{args.registrants} at once for {args.places} places: {confirmed} confirmed, {waitlisted} waitlisted "
        f"(event counters {places['confirmed_count']}/{places['waitlisted_count']}; "
        f"{'exactly as expected' if counts_ok else 'WRONG'}); ms p50 {pct(reg_lat, 0.5):.1f}, p99 "
        f"{pct(reg_lat, 0.99):.1f}, max {pct(reg_lat, 1.0):.1f}; failures {sum(reg_fail.values())}",
    ]
    for line in lines:
        print(line)
    failures = ref_fail + fail + reg_fail
    for reason, count in failures.most_common(5):
        print(f"  failure x{count}: {reason}")
    if not args.no_record:
        section = "\n".join(
            [
                f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {backend.label}",
                "",
                f"- Command: `python -m bench.events_bench --per-minute {args.per_minute:g} --duration "
                f"{args.duration:g} --slices {args.slices} --registrants {args.registrants} --places {args.places}` "
                "(`make bench-events` "
                "runs it with the defaults)",
                f"- App revision: {revision()}",
                f"- Machine: {machine()}; load average before {load_before}, after {load_after}",
                f"- Setup: gunicorn {args.workers} workers x {args.threads} threads (gthread); {args.connections} "
                f"keep-alive connections from {args.loadgen_processes} load-generator process(es) on the same "
                f"machine; seed {out['seed_s']:.1f} s",
                *(f"- {line}" for line in lines),
                *([f"- Note: {args.note}"] if args.note else []),
                "",
            ]
        )
        write_block(args.results, "events", section, intro=EVENTS_INTRO)
    return 1 if failures or not counts_ok else 0


EVENTS_INTRO = (
    "## Events: check-in and registration (`make bench-events`)\n\n"
    "`python -m bench.events_bench`: (a) 2,000 check-ins a minute at one event through `POST /api/v1/card/verify` "
    "with an event-scoped scanner under gunicorn (target p99 ≤ 50 ms), with the plain verify of an unscoped "
    "scanner as the reference in the same run; (b) 500 registrations at once for 100 places (exactly 100 "
    "confirmed, the rest waitlisted; p99 reported). Each run appends a section to this block.\n"
)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
