"""Brings a database's schema up to date by applying the Alembic migrations (``migrations/``).

One function for everything that needs the schema: ``cli db upgrade``, ``make run``, the tests and the benchmarks.
It is safe to run again: Alembic applies only what the database has not seen.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from core.settings import PROJECT_ROOT, Settings


def migrate(settings: Settings) -> None:
    """Apply every Alembic migration to the configured database."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(cfg, "head")
