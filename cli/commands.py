"""The command groups. ``python -m cli --help`` lists them."""

from __future__ import annotations

import base64
import os
import secrets
import sys

import click
import yaml

from cli.alumni import alumni
from cli.broadcast import broadcast_group
from cli.card import card_group
from cli.chat import chat_loop
from cli.classes import classes_group
from cli.common import settings as _settings
from cli.demo import demo_group
from cli.i18n import i18n_group
from cli.runner import run_service
from cli.staff import staff_group
from cli.wechat import wechat_group
from core.schema import migrate


@click.group()
def main() -> None:
    """Xiaoyou operator commands."""


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
def config_show() -> None:
    """Print the effective settings (config.yaml + environment) with secrets masked."""
    click.echo(yaml.safe_dump(_settings().masked(), allow_unicode=True, sort_keys=False), nl=False)


@config.command("check")
def config_check() -> None:
    """Validate the configuration and exit 0, or print every problem and exit 1."""
    _settings()
    click.echo("configuration is valid")


@config.command("new-key")
@click.argument("kid", default="")
def config_new_key(kid: str) -> None:
    """Print a fresh "kid:base64" key for privacy.encryption_keys, privacy.hmac_keys or card.code_keys.

    To rotate, put the new entry first and keep the old ones after it (the first writes, every one reads)."""
    kid = kid or f"k{secrets.token_hex(2)}"
    if not kid.isascii() or not kid.isalnum() or len(kid) > 8:
        raise click.BadParameter("a key id is 1 to 8 letters or digits", param_hint="KID")
    click.echo(f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (safe to run again: it does nothing when up to date)."""
    migrate(_settings())
    click.echo("database is up to date")


@main.command()
@click.option("--port", type=int, envvar="PORT", default=8000, show_default=True, help="HTTP port (env PORT).")
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn worker processes.")
def run(port: int, workers: int) -> None:
    """Run the service: migrations, embedded Redis if no REDIS_URL, gunicorn, the scheduler (and the emulator)."""
    sys.exit(run_service(_settings(), port=port, workers=workers))


@main.command()
@click.option("--url", default="", help="Webhook URL (default: http://127.0.0.1:$PORT/wechat).")
@click.option("--user", default="o_chat_newcomer", show_default=True, help="The openid you chat as.")
@click.option("--emulator", default="", help="Emulator URL, to show messages that arrive later (default: from run).")
def chat(url: str, user: str, emulator: str) -> None:
    """Talk to the running bot as WeChat would: each line is signed, encrypted and posted; replies are decrypted."""
    settings = _settings()
    port = os.environ.get("PORT", "8000")
    sys.exit(chat_loop(settings, url or f"http://127.0.0.1:{port}/wechat", user, emulator or None))


main.add_command(wechat_group)
main.add_command(alumni)
main.add_command(broadcast_group)
main.add_command(card_group)
main.add_command(classes_group)
main.add_command(demo_group)
main.add_command(i18n_group)
main.add_command(staff_group)
