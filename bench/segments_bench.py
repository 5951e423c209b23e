"""``python -m bench.segments_bench [--followers N]``: a broadcast segment's recipients, count and reach on
PostgreSQL at N followers (default 200,000), on a synthetic databank written with ``generate_series``.

Owns only this measurement. The database (``--database-url``, default ``BENCH_DATABASE_URL`` or the local
``xiaoyou_segments_bench``) is the benchmark's: its ``public`` schema is dropped and migrated again. The shape: every
follower's person has one education record (20 colleges, 46 graduation years, three levels), half a current
employment (five cities), 70 % a news consent (one in twenty of all withdrawn), a third a card; 80 % of followers are
known by their official-account openid, 10 % by their unionid, 10 % are unknown to the databank; 40 % of persons
have a mini-program openid, half of those a subscribe allowance; followers have 0-4 mass receipts this month.

Prints the plan of the recipients statement (EXPLAIN ANALYZE) and the time of ``count``, ``reach`` (what the
console's preview runs) and an ``INSERT ... SELECT`` of the recipients into a scratch table, each the best of three.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import text

from core.db import Database
from core.schema import migrate
from core.settings import load_settings
from services.broadcasts import segments
from services.broadcasts.segments import Filters

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/xiaoyou_segments_bench"

LOAD = [
    """INSERT INTO persons (id, name, name_simplified, name_traditional, name_pinyin, name_initials, deceased,
       restricted, status, provenance, created_at, updated_at)
       SELECT i, 'P' || i, 'p' || i, 'P' || i, 'p' || i, 'p', false, false, 'active', '{}', now(), now()
       FROM generate_series(1, :n) i""",
    "SELECT setval('persons_id_seq', :n)",
    """INSERT INTO education_records (person_id, institution, student_no, college, college_folded, major,
       major_folded, grad_year, level, international, provenance, created_at, updated_at)
       SELECT i, '本校', 'S' || i, '学院' || (i % 20), '学院' || (i % 20), '专业' || (i % 200), '专业' || (i % 200),
              1980 + i % 46, (ARRAY['bachelor', 'master', 'doctor'])[1 + i % 3], false, '{}', now(), now()
       FROM generate_series(1, :n) i""",
    """INSERT INTO employments (person_id, city, country, current, provenance, created_at)
       SELECT i, (ARRAY['北京', '上海', '深圳', '广州', 'New York'])[1 + i % 5],
              CASE WHEN i % 5 = 4 THEN 'USA' ELSE '中国' END, true, '{}', now()
       FROM generate_series(2, :n, 2) i""",
    """INSERT INTO consents (person_id, purpose, version, channel, granted_at, withdrawn_at)
       SELECT i, 'news', 'v1', 'import', now(), CASE WHEN i % 20 = 0 THEN now() END
       FROM generate_series(1, :n) i WHERE i % 10 < 7""",
    """INSERT INTO cards (person_id, number, tier, status, version, issued_at, updated_at)
       SELECT i, 'C' || i, 'standard', CASE WHEN i % 9 = 0 THEN 'expired' ELSE 'active' END, 1, now(), now()
       FROM generate_series(3, :n, 3) i""",
    """INSERT INTO wechat_identities (person_id, kind, value, bound_at)
       SELECT i, CASE WHEN i % 10 < 8 THEN 'oa_openid' ELSE 'unionid' END,
              CASE WHEN i % 10 < 8 THEN 'oa' || i ELSE 'un' || i END, now()
       FROM generate_series(1, :n) i WHERE i % 10 < 9""",
    """INSERT INTO wechat_identities (person_id, kind, value, bound_at)
       SELECT i, 'mp_openid', 'mp' || i, now() FROM generate_series(1, :n) i WHERE i % 5 < 2""",
    """INSERT INTO followers (openid, unionid, subscribed, subscribed_at, last_interaction_at)
       SELECT 'oa' || i, 'un' || i, i % 10 <> 7, now(), now() - (i % 100) * interval '1 hour'
       FROM generate_series(1, :n) i""",
    """INSERT INTO subscribe_allowances (openid, template_id, remaining, updated_at)
       SELECT 'mp' || i, 'T1', 1, now() FROM generate_series(1, :n) i WHERE i % 5 < 2 AND i % 2 = 0""",
    """INSERT INTO broadcasts (id, title, channels, content_json, status, ignore_quiet_hours, audience, created_by,
       created_at, sent_count, failed_count, skipped_count)
       SELECT b, 'bench', 'mass', '{}', 'finished', false, 0, 'bench', now(), 0, 0, 0 FROM generate_series(1, 4) b""",
    """INSERT INTO mass_receipts (openid, broadcast_id, month)
       SELECT 'oa' || i, b, :month FROM generate_series(1, :n) i, generate_series(1, 4) b WHERE b <= i % 5""",
]


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--followers", type=int, default=200_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="measure the data an earlier run loaded")
    args = parser.parse_args()
    settings = load_settings(environment="test", database={"url": args.database_url})
    db = Database(args.database_url)
    if not args.keep:
        load(db, settings, args.followers)
    measure(db, settings)
    db.dispose()
    return 0


def load(db: Database, settings: Any, followers: int) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    migrate(settings)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        for statement in LOAD:
            conn.execute(text(statement), {"n": followers, "month": segments.beijing_month()})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"loaded {followers:,} followers in {time.perf_counter() - started:.1f} s")


def measure(db: Database, settings: Any) -> None:
    cases = {
        "every follower": None,
        "news consent (default filter)": Filters(),
        "2010-2015, 3 colleges, bachelor": Filters(grad_year_from=2010, grad_year_to=2015,
                                                   colleges=("学院1", "学院2", "学院3"), levels=("bachelor",)),
        "Beijing or New York, active card": Filters(regions=("北京", "new york"), card_status=("active",)),
    }  # fmt: skip
    with db.session() as session:
        for label, filters in cases.items():
            took_count, n = best_of(3, partial(segments.count, session, filters))
            took_reach, r = best_of(3, partial(segments.reach, session, settings, filters, template_id="T1"))
            reached = {c: r.channels[c].reachable for c in r.channels}
            print(f"{label}: count {n:,} in {took_count * 1000:.0f} ms; reach in {took_reach * 1000:.0f} ms {reached}")
        statement = segments.recipients(session, cases["2010-2015, 3 colleges, bachelor"], template_id="T1")
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        with segments.without_jit(session):
            plan = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS OFF) {compiled}")).scalars().all()
        print("\n".join(plan))
        session.execute(text("CREATE TEMPORARY TABLE scratch (openid varchar(64), person_id integer)"))

        def copy() -> int:
            session.execute(text("TRUNCATE scratch"))
            inner = segments.recipients(session, None).subquery()
            compiled = inner.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            result = session.execute(text(f"INSERT INTO scratch SELECT r.openid, r.person_id FROM ({compiled}) r"))
            return int(result.rowcount)  # type: ignore[attr-defined]

        took, rows = best_of(3, copy)
        print(
            f"INSERT ... SELECT of every follower's recipient row (JIT as configured): {rows:,} in {took * 1000:.0f} ms"
        )
        with segments.without_jit(session):
            took, rows = best_of(3, copy)
        print(f"INSERT ... SELECT of every follower's recipient row (JIT off): {rows:,} in {took * 1000:.0f} ms")
        session.rollback()


if __name__ == "__main__":
    raise SystemExit(main())
