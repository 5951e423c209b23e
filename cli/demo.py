"""``python -m cli demo seed``: fill the databank with a generated roster, and the hook ``make run`` uses for it.

``make run`` seeds only the embedded default database (SQLite under var/), only in development, and only when it
has no people yet: a configured ``DATABASE_URL`` is never touched.
"""

from __future__ import annotations

import logging

import click

from cli.common import settings, unit_of_work
from core.db import Database
from core.settings import Settings
from services.databank import demo
from services.databank.keys import Keyring

log = logging.getLogger(__name__)
RUN_SEED_COUNT = 3000


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
