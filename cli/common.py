"""What every operator command shares: loading the settings, a unit of work that turns service errors into one-line
messages, the runtime (database and Redis) and the ``--actor`` option that the audit log records."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from core.db import Database
from core.errors import XiaoyouError
from core.runtime import Runtime
from core.settings import ConfigError, Settings, load_settings


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


actor_option = click.option("--actor", default=default_actor, show_default="cli:$USER", help="Who is acting.")


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def runtime() -> Runtime:
    return Runtime.build(settings())


@contextmanager
def unit_of_work(settings: Settings) -> Iterator[Session]:
    """One transaction: committed when the command's work succeeds; a service error rolls it back and becomes
    ``Error: <code>: <detail>`` with exit status 1."""
    db = Database(settings.database_url, settings.database.echo)
    session = db.sessionmaker()
    try:
        yield session
        session.commit()
    except XiaoyouError as exc:
        session.rollback()
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None
    finally:
        session.close()
        db.dispose()
