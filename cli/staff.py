"""``python -m cli staff …``: the console's first admin, and a second factor's reset. Thin: each calls a service.

``create-admin`` makes an account with the admin role and no second factor: its holder enrols an authenticator at
the first login (http://127.0.0.1:8000/admin under ``make run``). The password is asked twice, or read from
``XIAOYOU_ADMIN_PASSWORD`` for automation. ``reset-totp`` is for a staff member who lost their authenticator and
their recovery codes: they enrol again at their next login. ``set-roles`` gives an account exactly the roles named
(as the staff page does, with the same last-admin rule and audit entry).
"""

from __future__ import annotations

import os

import click

from cli.common import actor_option, runtime, settings, unit_of_work
from core.errors import NotFound
from services import staff
from services.staff import ROLES
from services.staff.accounts import account_by_username

PASSWORD_ENV = "XIAOYOU_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password


@click.group("staff")
def staff_group() -> None:
    """Staff accounts of the console (/admin)."""


@staff_group.command("create-admin")
@click.argument("username")
@click.option("--name", "display_name", default="", help="The display name (default: the username).")
@actor_option
def create_admin(username: str, display_name: str, actor: str) -> None:
    """Create an admin account; its holder enrols two-factor authentication at the first login."""
    password = os.environ.get(PASSWORD_ENV) or click.prompt(
        "Password (at least 12 characters)", hide_input=True, confirmation_prompt=True, err=True
    )
    with unit_of_work(settings()) as session:
        account = staff.create_account(
            session,
            username=username,
            display_name=display_name or username,
            password=password,
            roles=["admin"],
            actor=actor,
        )
        created = account.username
    click.echo(f"admin {created} created.")
    click.echo(
        "Sign in at /admin (http://127.0.0.1:8000/admin under `make run`): after the password, scan the QR code "
        "with an authenticator app to enrol two-factor authentication, and keep the recovery codes it shows."
    )


@staff_group.command("reset-totp")
@click.argument("username")
@actor_option
def reset_totp(username: str, actor: str) -> None:
    """Forget USERNAME's authenticator and recovery codes and end their sessions: they enrol again at next login."""
    rt = runtime()
    try:
        with unit_of_work(rt.settings) as session:
            account = account_by_username(session, username)
            if account is None:
                raise NotFound(f"no staff account {username!r}")
            staff.reset_totp(session, rt.redis, account.id, actor=actor)
    finally:
        rt.close()
    click.echo(f"two-factor authentication of {username} reset: they enrol again at their next login.")


@staff_group.command("set-roles")
@click.argument("username")
@click.argument("roles", nargs=-1, required=True, type=click.Choice(ROLES))
@actor_option
def set_roles(username: str, roles: tuple[str, ...], actor: str) -> None:
    """Give USERNAME exactly ROLES (admin, officer, ...); it holds from their next request. The last enabled admin
    keeps the admin role."""
    with unit_of_work(settings()) as session:
        account = account_by_username(session, username)
        if account is None:
            raise NotFound(f"no staff account {username!r}")
        name, old, new = staff.set_roles(session, account.id, roles, actor=actor)
    if old == new:
        click.echo(f"{name} already has the roles {', '.join(new)}: nothing changed.")
    else:
        click.echo(f"roles of {name}: {', '.join(old)} -> {', '.join(new)}")
