"""Changing a staff account's roles: on the staff page (admin only) and with ``python -m cli staff set-roles``, through
one service that checks the roles, keeps the last enabled admin an admin (409), audits old and new roles, and takes
effect at the account's next request."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from cli.commands import main
from models import AuditEntry
from services.staff.accounts import roles_of as stored_roles
from tests.admin.conftest import post, sign_in, text


def roles_of(app: Flask, account_id: int) -> set[str]:
    with app.extensions["xiaoyou"].db.session() as session:
        return set(stored_roles(session, account_id))


def role_changes(app: Flask) -> list[tuple[str, dict[str, Any]]]:
    with app.extensions["xiaoyou"].db.session() as session:
        query = select(AuditEntry).where(AuditEntry.action == "staff.roles_changed").order_by(AuditEntry.id)
        return [(e.actor, e.detail) for e in session.scalars(query)]


def set_roles(client: Any, account_id: int, *roles: str) -> Any:
    return post(client, f"/admin/staff/{account_id}/roles", {"roles": list(roles)}, page="/admin/staff")


def test_an_admin_changes_roles_which_hold_from_the_accounts_next_request(
    console_app: Flask, signed_in: Any, make_member: Any
) -> None:
    admin, me = signed_in("admin")
    member = make_member("officer")
    other = console_app.test_client()
    sign_in(console_app, other, member)
    assert other.get("/admin/audit").status_code == 200
    page = text(admin.get("/admin/staff"))
    assert f'action="/admin/staff/{member.id}/roles"' in page and "修改角色" in page

    changed = set_roles(admin, member.id, "viewer", "broadcaster")
    assert changed.status_code == 302
    assert f"已修改 {member.username} 的角色" in text(admin.get(changed.headers["Location"]))
    assert roles_of(console_app, member.id) == {"viewer", "broadcaster"}
    assert other.get("/admin/audit").status_code == 403  # the same session, the new roles
    assert other.get("/admin/wechat/menu").status_code == 200
    assert role_changes(console_app) == [
        (f"staff:{me.username}", {"account_id": member.id, "old": ["officer"], "new": ["broadcaster", "viewer"]})
    ]
    assert set_roles(admin, member.id, "broadcaster", "viewer").status_code == 302
    assert len(role_changes(console_app)) == 1  # nothing changed, nothing audited


def test_the_last_enabled_admin_keeps_the_admin_role(console_app: Flask, signed_in: Any, make_member: Any) -> None:
    admin, me = signed_in("admin")
    refused = set_roles(admin, me.id, "officer")
    assert refused.status_code == 409
    assert "不能取消最后一位在用管理员的管理员角色" in text(refused)
    assert roles_of(console_app, me.id) == {"admin"}
    assert set_roles(admin, me.id, "admin", "officer").status_code == 302  # keeping admin is fine

    second = make_member("admin")
    other = console_app.test_client()
    sign_in(console_app, other, second)
    post(admin, f"/admin/staff/{second.id}/disable", page="/admin/staff")  # a disabled admin does not count
    assert set_roles(admin, me.id, "officer").status_code == 409

    third = make_member("admin")
    assert set_roles(admin, me.id, "officer").status_code == 302  # another enabled admin remains
    assert admin.get("/admin/staff").status_code == 403  # and this one is no longer one
    assert roles_of(console_app, third.id) == {"admin"}
    assert [d["new"] for _, d in role_changes(console_app)] == [["admin", "officer"], ["officer"]]


def test_bad_roles_and_unknown_accounts_are_refused(console_app: Flask, signed_in: Any, make_member: Any) -> None:
    admin, _ = signed_in("admin")
    member = make_member("officer")
    for roles in ((), ("superuser",), ("officer", "superuser")):
        response = set_roles(admin, member.id, *roles)
        assert response.status_code == 400 and "请至少选择一个有效角色" in text(response)
    assert roles_of(console_app, member.id) == {"officer"}
    assert set_roles(admin, 999999, "viewer").status_code == 404
    officer, _ = signed_in("officer")
    assert set_roles(officer, member.id, "admin").status_code == 403
    assert role_changes(console_app) == []


def test_the_cli_sets_roles_through_the_same_service(console_app: Flask, make_member: Any, tmp_path: Path) -> None:
    member = make_member("viewer")
    settings = console_app.extensions["xiaoyou"].settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYOU")} | {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis.url,
    }
    runner = CliRunner()
    done = runner.invoke(main, ["staff", "set-roles", member.username, "officer", "--actor", "cli:ops"], env=env)
    assert done.exit_code == 0, done.output
    assert f"roles of {member.username}: viewer -> officer" in done.output
    assert roles_of(console_app, member.id) == {"officer"}
    assert role_changes(console_app) == [("cli:ops", {"account_id": member.id, "old": ["viewer"], "new": ["officer"]})]

    unknown = runner.invoke(main, ["staff", "set-roles", member.username, "superuser"], env=env)
    assert unknown.exit_code == 2 and "superuser" in unknown.output
    nobody = runner.invoke(main, ["staff", "set-roles", "no-such-user", "viewer"], env=env)
    assert nobody.exit_code == 1 and "no staff account" in nobody.output
    last = make_member("admin")
    refused = runner.invoke(main, ["staff", "set-roles", last.username, "viewer"], env=env)
    assert refused.exit_code == 1 and "last enabled admin" in refused.output
    assert roles_of(console_app, last.id) == {"admin"}
