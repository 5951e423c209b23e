"""What every operator command shares: loading the settings, a unit of work that turns service errors into one-line
messages, the runtime (database and Redis) and the ``--actor`` option that the audit log records.

It also owns the one rule for where the development account's WeChat calls go (:func:`with_dev_emulator`), so that
``make run``'s processes and every other command agree."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from core.db import Database
from core.errors import XiaoyouError
from core.runtime import Runtime
from core.settings import ConfigError, Settings, WeChatSettings, load_settings

DEV_APPID = "wx_emulator_oa"  # the generated development account (core.settings._dev_credentials)
WECHAT_API_BASE_URL: str = WeChatSettings.model_fields["api_base_url"].default


def emulator_port() -> int:
    """The local WeChat emulator's port: ``EMULATOR_PORT``, else 8950 (the Makefile's ``make chat`` agrees)."""
    return int(os.environ.get("EMULATOR_PORT", "8950"))


def wants_emulator(settings: Settings) -> bool:
    """The generated development account exists nowhere but in the emulator, so that is where its API calls go."""
    return settings.environment == "development" and settings.wechat.appid == DEV_APPID


def with_dev_emulator(settings: Settings) -> Settings:
    """In development with the generated account, every command calls the local emulator, as ``make run``'s
    processes do: WeChat itself does not know that account. A ``wechat.api_base_url`` set to anything other than
    WeChat's own is kept (a test's emulator on another port, say)."""
    if not wants_emulator(settings) or settings.wechat.api_base_url != WECHAT_API_BASE_URL:
        return settings
    wechat = settings.wechat.model_copy(update={"api_base_url": f"http://127.0.0.1:{emulator_port()}"})
    return settings.model_copy(update={"wechat": wechat})


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


actor_option = click.option("--actor", default=default_actor, show_default="cli:$USER", help="Who is acting.")


def settings() -> Settings:
    try:
        return with_dev_emulator(load_settings())
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
