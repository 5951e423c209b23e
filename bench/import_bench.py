"""``python -m bench.import_bench`` (``make bench-import``): a million-row roster import and search on PostgreSQL.

Owns the run: generate the roster as a CSV (``services.databank.demo``, cached under ``bench/out/``), rebuild a
dedicated PostgreSQL database (``BENCH_DATABASE_URL``, default ``xiaoyou_bench`` on 127.0.0.1; never the app's),
measure a raw ``COPY`` of the same file into a bare table, then the real import (``importer.import_file``: the
same code as ``alumni import``), then search latency over the imported rows with a mix of queries. Prints the
numbers and replaces its own section of ``bench/RESULTS.md`` (between the ``bench-import`` markers; other
sections are left alone).

Targets (reported, not gated): import <= 300 s and <= 3x the raw COPY; search p99 <= 20 ms.
Exit status: 0 when the run completed, 1 when it could not run (no PostgreSQL, a failed import).
"""

from __future__ import annotations

import argparse
import base64
import csv
import os
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, text

from bench.report import write_block
from core.db import Database, normalise_url
from core.errors import XiaoyouError
from core.schema import migrate
from core.settings import load_settings
from models import EducationRecord, Person
from services.databank import demo, importer, search
from services.databank.keys import Keyring

OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/xiaoyou_bench"


def generate(rows: int, seed: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"roster-{rows}-{seed}.csv"
    if path.exists():
        return path
    started = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(demo.HEADERS)
        writer.writerows(demo.rows(rows, seed))
    tmp.replace(path)
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s -> {path}")
    return path


def reset_database(url: str) -> None:
    """Create the benchmark database if needed and empty it."""
    conninfo = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
    base, _, name = conninfo.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def raw_copy(url: str, path: Path) -> float:
    """COPY the same file into a bare table of text columns: the floor for loading these rows."""
    conninfo = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
    columns = ", ".join(f"c{i} text" for i in range(len(demo.HEADERS)))
    with psycopg.connect(conninfo) as conn:
        conn.execute(f"CREATE TABLE raw_roster ({columns})")
        conn.commit()
        started = time.perf_counter()
        sql = "COPY raw_roster FROM STDIN WITH (FORMAT csv, HEADER true)"
        with conn.cursor() as cur, cur.copy(sql) as copy, path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE raw_roster")
        conn.commit()
    return elapsed


TABLES = ("persons", "person_names", "education_records", "contact_points", "employments")


def table_sizes(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()) for table in TABLES}


def stored_megabytes(db: Database) -> float:
    """What the imported rows take in the database: the five tables with their indexes."""
    with db.engine.connect() as conn:
        query = "SELECT sum(pg_total_relation_size(CAST(t AS regclass))) FROM unnest(CAST(:t AS text[])) AS t"
        return int(conn.execute(text(query), {"t": list(TABLES)}).scalar_one()) / 1e6


def rebuild_seconds(url: str) -> tuple[float, str]:
    """How long the import's last step alone takes on these rows: dropping the five tables' secondary indexes,
    unique keys and foreign keys, then creating them again, as a first load does. Rolled back."""
    conninfo = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        tables = list(TABLES)
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY(%s::text[]::regclass[]) AND contype IN ('u', 'f') ORDER BY contype DESC",
            (tables,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
            "WHERE indrelid = ANY(%s::text[]::regclass[]) AND NOT indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'u')",
            (tables,),
        ).fetchall()
        for table, name, _ in constraints:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")  # as the importer does
        started = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        for table, name, definition in reversed(constraints):
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        elapsed = time.perf_counter() - started
        conn.rollback()
    unique = sum(1 for _, _, definition in constraints if definition.startswith("UNIQUE"))
    return elapsed, f"{len(indexes)} indexes, {unique} unique keys and {len(constraints) - unique} foreign keys"


def query_mix(db: Database, count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """Queries a staff member would type, drawn from the imported data."""
    rng = random.Random(seed)
    with db.sessionmaker() as s:
        top = s.scalar(select(func.max(Person.id))) or 1
        sample_ids = [rng.randrange(1, top + 1) for _ in range(count)]
        people = {p.id: p for p in s.scalars(select(Person).where(Person.id.in_(sample_ids)))}
        schools = {
            e.person_id: e for e in s.scalars(select(EducationRecord).where(EducationRecord.person_id.in_(sample_ids)))
        }
    kinds = ["name", "surname", "pinyin", "initials", "student_no", "college_year", "major", "city", "name_college"]
    queries: list[tuple[str, dict[str, Any]]] = []
    for pid in sample_ids:
        person, school = people.get(pid), schools.get(pid)
        if person is None or school is None:
            continue
        kind = kinds[len(queries) % len(kinds)]
        if kind == "name":
            queries.append((kind, {"q": person.name}))
        elif kind == "surname":
            queries.append((kind, {"q": person.name[:1]}))
        elif kind == "pinyin":
            queries.append((kind, {"q": person.name_pinyin}))
        elif kind == "initials":
            queries.append((kind, {"q": person.name_initials}))
        elif kind == "student_no":
            queries.append((kind, {"q": school.student_no[: rng.choice((6, 9, 13))]}))
        elif kind == "college_year":
            queries.append((kind, {"college": school.college, "year": school.grad_year}))
        elif kind == "major":
            queries.append((kind, {"major": school.major, "page": rng.randint(1, 5)}))
        elif kind == "city":
            queries.append((kind, {"city": rng.choice(demo.CITIES)}))
        else:
            queries.append((kind, {"q": person.name[:1], "college": school.college}))
    return queries


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_searches(db: Database, settings: Any, queries: list[tuple[str, dict[str, Any]]]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    with db.sessionmaker() as s:
        for _kind, params in queries[:200]:  # warm the caches the way a running service has them
            search.search(s, settings.databank, **params)
        for kind, params in queries:
            started = time.perf_counter()
            search.search(s, settings.databank, **params)
            timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
            s.expunge_all()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=None, help="validation processes (default: settings)")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)

    path = generate(args.rows, args.seed)
    size_mb = path.stat().st_size / 1e6
    settings = load_settings(
        environment="test",
        database={"url": url},
        privacy={
            "encryption_keys": "b1:" + base64.b64encode(os.urandom(32)).decode(),
            "hmac_keys": "b1:" + base64.b64encode(os.urandom(32)).decode(),
        },
    )
    try:
        reset_database(url)
    except psycopg.OperationalError as exc:
        print(f"cannot reach PostgreSQL at {url}: {exc}", file=sys.stderr)
        return 1
    migrate(settings)

    copy_seconds = raw_copy(url, path)
    print(f"raw COPY of {args.rows:,} rows ({size_mb:.0f} MB): {copy_seconds:.1f} s")

    db = Database(settings.database_url)
    keyring = Keyring.from_settings(settings.privacy)
    started = time.perf_counter()
    try:
        with db.sessionmaker() as session:
            result = importer.import_file(session, path, keyring=keyring, settings=settings.databank, actor="bench",
                                          workers=args.workers)  # fmt: skip
    except XiaoyouError as exc:
        print(f"import failed: {exc.code} {exc.detail}", file=sys.stderr)
        return 1
    import_seconds = time.perf_counter() - started
    peak_rss_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024  # fmt: skip
    print(f"import: {import_seconds:.1f} s ({result.inserted:,} new), {import_seconds / copy_seconds:.2f}x raw COPY, "
          f"peak RSS {peak_rss_mb:.0f} MB")  # fmt: skip

    started = time.perf_counter()
    with psycopg.connect(normalise_url(url).replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    analyze_seconds = time.perf_counter() - started
    sizes = table_sizes(db)
    stored_mb = stored_megabytes(db)
    rebuild, rebuilt = rebuild_seconds(url)

    started = time.perf_counter()
    rerun = None
    if args.rows <= 1_000_000:
        with db.sessionmaker() as session:
            rerun = importer.import_file(session, path, keyring=keyring, settings=settings.databank, actor="bench",
                                         workers=args.workers)  # fmt: skip
    rerun_seconds = time.perf_counter() - started

    queries = query_mix(db, args.queries, args.seed)
    timings = run_searches(db, settings, queries)
    everything = [t for values in timings.values() for t in values]
    db.dispose()

    lines = [
        f"## Databank import and search (`make bench-import`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end (other work on the machine counts), "
        f"PostgreSQL at `{url.rpartition('@')[2]}`; roster generated by `services/databank/demo.py` "
        f"({args.rows:,} rows, {size_mb:.0f} MB CSV, 20 columns: names, ID numbers, phones, emails, employment).",
        "",
        "| step | seconds | note |",
        "|---|---:|---|",
        f"| raw `COPY` of the CSV into a bare text table | {copy_seconds:.1f} | the floor |",
        f"| `alumni import` (validate, hash, encrypt, upsert, provenance) | {import_seconds:.1f} | "
        f"{import_seconds / copy_seconds:.2f}x raw COPY; peak RSS {peak_rss_mb:.0f} MB |",
        f"| of which its last step, rebuilding {rebuilt} | {rebuild:.1f} | measured again alone after the import, "
        "in a rolled-back transaction |",
        f"| the same file again (idempotent: compares every row) | {rerun_seconds:.1f} | "
        f"{rerun.unchanged if rerun else 0:,} unchanged, {rerun.updated if rerun else 0} updated |",
        f"| `VACUUM ANALYZE` after the import | {analyze_seconds:.1f} | |",
        "",
        "Rows written: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) + f" ({stored_mb:,.0f} MB with their "
        f"indexes, from {size_mb:.0f} MB of CSV: ciphertexts, HMACs and name forms are larger than the values).",
        "",
        f"Search over those rows ({len(everything):,} queries after a warm-up, one session, through `search.search`):",
        "",
        "| query | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, values in [*sorted(timings.items()), ("all", everything)]:
        lines.append(f"| {kind} | {len(values)} | {statistics.median(values):.2f} | {percentile(values, 95):.2f} | "
                     f"{percentile(values, 99):.2f} | {max(values):.2f} |")  # fmt: skip
    import_ok = import_seconds <= 300
    ratio_ok = import_seconds <= 3 * copy_seconds
    search_ok = percentile(everything, 99) <= 20
    lines += [
        "",
        f"Targets: import <= 300 s: {'met' if import_ok else 'NOT met'}; import <= 3x raw COPY: "
        f"{'met' if ratio_ok else 'NOT met'} ({import_seconds / copy_seconds:.2f}x); search p99 <= 20 ms: "
        f"{'met' if search_ok else 'NOT met'} ({percentile(everything, 99):.2f} ms).",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_record:
        write_block(RESULTS, "import", section, replace=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
