"""Alembic environment: migrates the database named by Xiaoyou's settings, or the URL a caller put in the config.

SQLite needs batch mode for ALTER TABLE; it is switched on for every migration so they run on both backends.
"""

from __future__ import annotations

from alembic import context

from core.db import make_engine, normalise_url
from core.settings import load_settings
from models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=normalise_url(url), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
