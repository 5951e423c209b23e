"""The console's pages: staff accounts (create, disable, reset a second factor), the audit log (filters, paging),
the settings (secrets masked), and the CLI that makes the first admin."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from cli.commands import main
from core.settings import Settings
from models import AuditEntry, StaffAccount, StaffRole
from tests.admin.conftest import PASSWORD, post, text
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS

NEW: dict[str, Any] = {
    "username": "Li.Hua",
    "display_name": "李华",
    "password": "a long enough secret",
    "password_again": "a long enough secret",
    "roles": ["officer", "broadcaster"],
}


def test_an_admin_creates_an_account_with_roles(console_app: Flask, signed_in: Any) -> None:
    admin, me = signed_in("admin")
    created = admin.post("/admin/staff", data={**NEW, "csrf_token": _token(admin)})
    assert created.status_code == 302
    page = text(admin.get(created.headers["Location"]))
    assert "已创建账号 li.hua" in page and "校友办工作人员、群发专员" in page and "未绑定" in page
    with console_app.extensions["xiaoyou"].db.session() as session:
        account = session.scalars(select(StaffAccount).where(StaffAccount.username == "li.hua")).one()
        assert set(session.scalars(select(StaffRole.role).where(StaffRole.account_id == account.id))) == {
            "officer",
            "broadcaster",
        }
        assert account.password_hash.startswith("$argon2id$") and account.totp_secret is None
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "staff.account_created")).all()[-1]
        assert entry.actor == f"staff:{me.username}" and entry.detail["roles"] == ["officer", "broadcaster"]


def _token(client: Any) -> str:
    from tests.admin.conftest import csrf_token

    return csrf_token(client, "/admin/staff")


def test_bad_account_forms_say_what_is_wrong_and_create_nothing(console_app: Flask, signed_in: Any) -> None:
    admin, _ = signed_in("admin")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"password_again": "something else entirely"}, 400, "两次输入的密码不一致"),
        ({"password": "short", "password_again": "short"}, 400, "密码至少 12 个字符"),
        ({"username": "x"}, 400, "用户名须为"),
        ({"roles": ["superuser"]}, 400, "请至少选择一个有效角色"),
        ({"roles": []}, 400, "请至少选择一个有效角色"),
        ({"display_name": " "}, 400, "请填写姓名"),
    ]
    for change, status, message in cases:
        response = admin.post("/admin/staff", data={**NEW, **change, "csrf_token": _token(admin)})
        assert response.status_code == status and message in text(response), change
        assert 'value="李华"' in text(response) or change.get("display_name")  # the form keeps what was typed
    assert admin.post("/admin/staff", data={**NEW, "csrf_token": _token(admin)}).status_code == 302
    taken = admin.post("/admin/staff", data={**NEW, "csrf_token": _token(admin)})
    assert taken.status_code == 409 and "用户名已被使用" in text(taken)
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert len(session.scalars(select(StaffAccount).where(StaffAccount.username == "li.hua")).all()) == 1


def test_disable_and_reset_totp(console_app: Flask, signed_in: Any, make_member: Any) -> None:
    admin, me = signed_in("admin")
    member = make_member("officer")
    assert post(admin, f"/admin/staff/{member.id}/reset-totp", page="/admin/staff").status_code == 302
    login = admin.application.test_client()
    first = post(login, "/admin/login", {"username": member.username, "password": PASSWORD})
    assert first.headers["Location"] == "/admin/login/enrol"  # enrols again
    assert post(admin, f"/admin/staff/{member.id}/disable", page="/admin/staff").status_code == 302
    refused = post(console_app.test_client(), "/admin/login", {"username": member.username, "password": PASSWORD})
    assert refused.status_code == 401 and "用户名或密码错误" in text(refused)
    assert login.get("/admin/login/enrol").headers["Location"] == "/admin/login?notice=step"  # its pending step died
    myself = post(admin, f"/admin/staff/{me.id}/disable", page="/admin/staff")
    assert myself.status_code == 409 and "不能停用自己的账号" in text(myself)
    actions = [a for _, a in _entries(console_app)]
    assert "staff.totp_reset" in actions and "staff.account_disabled" in actions


def _entries(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["xiaoyou"].db.session() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_the_audit_log_filters_and_pages(console_app: Flask, signed_in: Any) -> None:
    officer, _ = signed_in("officer")
    with console_app.extensions["xiaoyou"].db.session() as session:
        for n in range(25):
            at = datetime(2026, 3, 1 + n, 2, 0, tzinfo=UTC)  # 10:00 Beijing time
            actor = "staff:zhou" if n % 2 else "cli:root"
            session.add(AuditEntry(at=at, actor=actor, action="databank.reveal", person_id=n, detail={"n": n}))

    def rows(**query: str) -> list[str]:
        response = officer.get("/admin/audit", query_string=query)
        assert response.status_code == 200
        return [line for line in text(response).splitlines() if "databank.reveal</td>" in line]

    assert len(rows(actor="staff:zhou")) == 10  # the first page of 12
    assert len(rows(actor="staff:zhou", since="2026-03-20")) == 3  # days 20, 22, 24 (n = 19, 21, 23)
    assert len(rows(person="4")) == 1 and "2026-03-05 10:00:00" in rows(person="4")[0]
    assert len(rows(action="databank.", since="2026-03-10", until="2026-03-12")) == 3
    assert rows(action="nothing.like.this") == []
    first = text(officer.get("/admin/audit", query_string={"action": "databank."}))
    assert "2026-03-25 10:00:00" in first and "2026-03-15 10:00:00" not in first  # newest first, 10 a page
    link = re.search(r'href="([^"]+)" id="audit-older"', first).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    second = text(officer.get(link))
    assert "before=" in link and "action=databank." in link  # the filter carries over
    assert "2026-03-15 10:00:00" in second and "2026-03-16 10:00:00" not in second
    assert "← 最新记录" in second


def test_the_settings_page_masks_every_secret(console_app: Flask, console_settings: Settings, signed_in: Any) -> None:
    admin, _ = signed_in("admin")
    page = text(admin.get("/admin/settings"))
    assert "admin.session_idle_seconds" in page and "privacy.encryption_keys" in page
    for secret in (ENCRYPTION_KEYS, HMAC_KEYS, console_settings.wechat.aes_key, console_settings.wechat.token):
        assert secret not in page and secret[3:20] not in page


def test_the_cli_creates_the_first_admin_and_resets_a_second_factor(
    console_app: Flask, console_settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": console_settings.database_url,
        "REDIS_URL": redis_url,
        "XIAOYOU__PRIVACY__ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "XIAOYOU__PRIVACY__HMAC_KEYS": HMAC_KEYS,
        "XIAOYOU_ADMIN_PASSWORD": "the first admin's password",
    }
    runner = CliRunner()
    made = runner.invoke(main, ["staff", "create-admin", "Wang", "--name", "王老师"], env=env, catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert "admin wang created" in made.output and "authenticator" in made.output
    again = runner.invoke(main, ["staff", "create-admin", "wang"], env=env)
    assert again.exit_code == 1 and "conflict" in again.output
    prompted = runner.invoke(
        main,
        ["staff", "create-admin", "zhao"],
        env={**env, "XIAOYOU_ADMIN_PASSWORD": ""},
        input="another long password\nanother long password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    client = console_app.test_client()
    first = post(client, "/admin/login", {"username": "wang", "password": "the first admin's password"})
    assert first.headers["Location"] == "/admin/login/enrol"
    reset = runner.invoke(main, ["staff", "reset-totp", "wang"], env=env, catch_exceptions=False)
    assert reset.exit_code == 0 and "reset" in reset.output
    assert client.get("/admin/login/enrol").headers["Location"] == "/admin/login?notice=step"  # its session ended
    missing = runner.invoke(main, ["staff", "reset-totp", "nobody"], env=env)
    assert missing.exit_code == 1 and "not_found" in missing.output
    assert ("cli:" in _entries(console_app)[0][0]) and ("staff.totp_reset" in [a for _, a in _entries(console_app)])
