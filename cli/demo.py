"""``python -m cli demo seed``: fill the databank with a generated roster, and the hook ``make run`` uses for it;
``python -m cli demo pick``: a seeded alumnus's card-application claim, to try the mini-program API with.

``make run`` seeds only the embedded default database (SQLite under var/), only in development, and only when it
has no people yet: a configured ``DATABASE_URL`` is never touched. The roster is generated, so ``pick`` prints its
made-up details in the clear: nobody real is behind them.
"""

from __future__ import annotations

import json
import logging
from itertools import islice

import click

from cli.common import settings, unit_of_work
from core.db import Database
from core.settings import Settings
from services.databank import demo, search
from services.databank.keys import Keyring

log = logging.getLogger(__name__)
RUN_SEED_COUNT = 3000
DEMO_SEED = 2026
# demo.rows is a stream: a roster of any size with a seed begins with the same people. pick looks this far into it.
PICK_LOOKAHEAD = 2000


def seed_if_empty(settings: Settings, count: int = RUN_SEED_COUNT) -> int:
    """Seed the embedded development database when it is empty; returns how many people were added (0: none)."""
    if settings.environment != "development" or settings.database.url:
        return 0
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            if not demo.is_empty(session):
                return 0
            result = demo.seed(session, Keyring.from_settings(settings.privacy), settings.databank, count=count)
        log.info("seeded the empty development databank with %d generated alumni (batch %d)", count, result.batch_id)
        return result.inserted
    finally:
        db.dispose()


@click.group("demo")
def demo_group() -> None:
    """Demonstration data."""


@demo_group.command("seed")
@click.option("--count", type=int, default=5000, show_default=True, help="How many people to generate.")
@click.option("--seed", "random_seed", type=int, default=2026, show_default=True, help="Random seed.")
def seed_cmd(count: int, random_seed: int) -> None:
    """Import a realistic generated roster (names, colleges, majors, classes, decades, continuing education,
    international students) as one registrar batch. Seeding twice with the same seed changes nothing."""
    cfg = settings()
    with unit_of_work(cfg) as session:
        keyring = Keyring.from_settings(cfg.privacy)
        result = demo.seed(session, keyring, cfg.databank, count=count, random_seed=random_seed)
    click.echo(f"batch {result.batch_id}: {result.inserted} new, {result.unchanged} unchanged")


@demo_group.command("pick")
@click.option("--nth", type=click.IntRange(min=1), default=1, show_default=True, help="Which seeded alumnus.")
@click.option("--seed", "random_seed", type=int, default=DEMO_SEED, show_default=True, help="The roster's seed.")
def pick_cmd(nth: int, random_seed: int) -> None:
    """Print a seeded demo alumnus's claim as the JSON body of POST /api/v1/card/applications: name, student
    number and the last 4 characters of the ID number. Checked against the databank; the roster is generated, so
    the details are made up. Another --nth gives another alumnus (one who has no card yet, say)."""
    name_col, student_col, id_col, intl_col = (demo.HEADERS.index(h) for h in ("姓名", "学号", "身份证号", "留学生"))
    cfg = settings()
    found = 0
    with unit_of_work(cfg) as session:
        for row in islice(demo.rows(PICK_LOOKAHEAD, random_seed), PICK_LOOKAHEAD):
            if not row[id_col] or row[intl_col] == "是":
                continue
            hits = search.search(session, cfg.databank, q=row[student_col], per_page=1).items
            if not hits or hits[0].name != row[name_col]:
                continue
            found += 1
            if found == nth:
                claim = {"name": row[name_col], "student_no": row[student_col], "id_last4": row[id_col][-4:]}
                click.echo(json.dumps(claim, ensure_ascii=False))
                return
    raise click.ClickException(
        f"found {found} seeded demo alumni, not {nth}: seed the databank first (python -m cli demo seed)"
    )
