"""Signing in and staying signed in: password, lockout (per account and per address, one message), the second
factor (enrolment, replay, recovery codes), session lifetimes, logout everywhere, and the audit entries."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import redis_keys
from models import AuditEntry
from services.staff import totp
from tests.admin.conftest import PASSWORD, Member, post, sign_in, text

LOCKED = "登录失败次数过多"
WRONG = "用户名或密码错误。"


def _actions(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["xiaoyou"].db.session() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _password(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    return post(client, "/admin/login", {"username": username, "password": password})


def _login(client: FlaskClient, member: Member, code: str) -> Any:
    first = _password(client, member.username)
    assert first.status_code == 302 and first.headers["Location"] == "/admin/login/code", text(first)
    return post(client, "/admin/login/code", {"code": code}, page="/admin/login/code")


def test_password_then_code_signs_in_and_is_audited(console_app: Flask, make_member: Any) -> None:
    member = make_member("officer")
    client = console_app.test_client()
    assert client.get("/admin/login/code").headers["Location"] == "/admin/login?notice=step"  # no password yet
    done = _login(client, member, member.code())
    assert done.status_code == 302 and done.headers["Location"] == "/admin/"
    home = client.get("/admin/")
    assert home.status_code == 200 and f"测试{member.username}" in text(home)
    assert (f"staff:{member.username}", "staff.login") in _actions(console_app)


def test_the_session_cookie_is_httponly_samesite_and_scoped_to_the_console(console_app: Flask, make_member: Any):
    member = make_member("viewer")
    response = _password(console_app.test_client(), member.username)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("xy_console="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # the test environment serves http; production forces it (test_settings)


def test_pending_session_reaches_no_page(console_app: Flask, make_member: Any) -> None:
    member = make_member("admin")
    client = console_app.test_client()
    _password(client, member.username)
    assert client.get("/admin/").headers["Location"] == "/admin/login?expired=1"


def test_no_such_user_and_wrong_password_get_the_same_answer(console_app: Flask, make_member: Any) -> None:
    member = make_member("viewer")
    unknown = _password(console_app.test_client(), "nobody", "whatever-password")
    wrong = _password(console_app.test_client(), member.username, "wrong-password!")
    for response in (unknown, wrong):
        assert response.status_code == 401
        assert re.search(r'id="login-error">([^<]+)<', text(response)).group(1) == WRONG  # type: ignore[union-attr]


def test_an_account_is_locked_after_repeated_failures_with_the_same_message_for_unknown_users(
    console_app: Flask, make_member: Any
) -> None:
    member = make_member("viewer")
    for username in (member.username, "ghost"):
        client = console_app.test_client()
        for _ in range(3):  # admin.failures_per_account
            assert _password(client, username, "wrong-password!").status_code == 401
        locked = _password(client, username, PASSWORD)  # even the right password now waits
        assert locked.status_code == 429 and LOCKED in text(locked)
    assert ("console", "staff.login_locked") in _actions(console_app)
    # Another user from the same address is not locked (3 + 3 + 2 failures < failures_per_ip = 8).
    other = make_member("viewer")
    assert _password(console_app.test_client(), other.username).status_code == 302


def test_an_address_is_locked_after_repeated_failures_across_usernames(console_app: Flask, make_member: Any) -> None:
    member = make_member("viewer")
    attacker = console_app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for n in range(8):  # admin.failures_per_ip, two tries per username so no username locks
        assert _password(attacker, f"guess{n // 2}", "wrong-password!").status_code == 401
    locked = _password(attacker, member.username)
    assert locked.status_code == 429 and LOCKED in text(locked)
    assert _password(console_app.test_client(), member.username).status_code == 302  # another address


def test_wrong_codes_count_towards_the_lockout(console_app: Flask, make_member: Any) -> None:
    member = make_member("viewer")
    client = console_app.test_client()
    _password(client, member.username)
    for _ in range(3):
        wrong = post(client, "/admin/login/code", {"code": "000000"}, page="/admin/login/code")
        assert wrong.status_code in (401, 429)
    refused = post(client, "/admin/login/code", {"code": member.code()}, page="/admin/login/code")
    assert refused.status_code == 429 and LOCKED in text(refused)


def test_a_code_cannot_be_replayed_within_its_window(console_app: Flask, make_member: Any) -> None:
    member = make_member("viewer")
    code = member.code()
    assert _login(console_app.test_client(), member, code).headers["Location"] == "/admin/"
    replay = _login(console_app.test_client(), member, code)
    assert replay.status_code == 401 and "验证码错误或已使用" in text(replay)
    # The next step's code is still good (valid_window=1), once.
    assert _login(console_app.test_client(), member, member.code(1)).headers["Location"] == "/admin/"


def test_first_login_enrols_and_shows_recovery_codes_once_each_usable_once(
    console_app: Flask, make_member: Any, keyring: Any
) -> None:
    member = make_member("admin", enrolled=False)
    client = console_app.test_client()
    first = _password(client, member.username)
    assert first.headers["Location"] == "/admin/login/enrol"
    page = text(client.get("/admin/login/enrol"))
    assert 'src="/admin/login/enrol/qr.svg"' in page
    qr = client.get("/admin/login/enrol/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    rt = console_app.extensions["xiaoyou"]
    with rt.db.session() as session:
        secret = totp.enrolment_secret(session, keyring, member.id)
    assert secret.replace(" ", "")[:4] in page.replace(" ", "")
    member.secret = secret
    wrong = post(client, "/admin/login/enrol", {"code": "123456"}, page="/admin/login/enrol")
    assert wrong.status_code == 401 and "验证码错误" in text(wrong)
    enrolled = post(client, "/admin/login/enrol", {"code": member.code()}, page="/admin/login/enrol")
    assert enrolled.status_code == 200
    codes = re.findall(r"<code>([A-Z0-9-]{19})</code>", text(enrolled))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/admin/").status_code == 200  # signed in
    assert client.get("/admin/login/enrol").headers["Location"] == "/admin/login?notice=step"  # not again
    actions = _actions(console_app)
    assert (f"staff:{member.username}", "staff.totp_enrolled") in actions
    assert (f"staff:{member.username}", "staff.login") in actions

    # A recovery code signs in once, and the home page says how many are left.
    used = _login(console_app.test_client(), member, codes[3].lower().replace("-", " "))
    assert used.headers["Location"] == "/admin/?recovered=1"
    again = _login(console_app.test_client(), member, codes[3])
    assert again.status_code == 401
    with_notice = console_app.test_client()
    followed = _login(with_notice, member, codes[4])
    assert "还剩 8 个" in text(with_notice.get(followed.headers["Location"]))
    assert (f"staff:{member.username}", "staff.recovery_code_used") in _actions(console_app)


def test_a_session_expires_when_idle(console_app: Flask, make_member: Any, rds: redis.Redis) -> None:
    member = make_member("viewer")
    client = console_app.test_client()
    sign_in(console_app, client, member)
    key = next(k for k in rds.scan_iter(redis_keys.staff_session("*")))
    rds.expire(key, 5)
    assert client.get("/admin/").status_code == 200
    assert 1790 <= rds.ttl(key) <= 1800  # each use renews the idle timeout (admin.session_idle_seconds)
    rds.pexpire(key, 50)  # an idle half hour, compressed
    time.sleep(0.2)
    expired = client.get("/admin/")
    assert expired.status_code == 302 and expired.headers["Location"] == "/admin/login?expired=1"


def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    console_app: Flask, make_member: Any, rds: redis.Redis
) -> None:
    member = make_member("viewer")
    client = console_app.test_client()
    sign_in(console_app, client, member)
    key = next(k for k in rds.scan_iter(redis_keys.staff_session("*")))
    record = json.loads(rds.get(key))  # type: ignore[arg-type]
    assert client.get("/admin/").status_code == 200
    record["created_at"] -= 12 * 3600 + 1  # admin.session_absolute_seconds ago
    rds.set(key, json.dumps(record), keepttl=True)
    assert client.get("/admin/").headers["Location"] == "/admin/login?expired=1"
    assert rds.exists(key) == 0


def test_a_session_near_its_absolute_end_is_not_renewed_past_it(
    console_app: Flask, make_member: Any, rds: redis.Redis
) -> None:
    member = make_member("viewer")
    client = console_app.test_client()
    sign_in(console_app, client, member)
    key = next(k for k in rds.scan_iter(redis_keys.staff_session("*")))
    record = json.loads(rds.get(key))  # type: ignore[arg-type]
    record["created_at"] -= 12 * 3600 - 100
    rds.set(key, json.dumps(record), keepttl=True)
    assert client.get("/admin/").status_code == 200
    assert rds.ttl(key) <= 100


def test_logout_ends_this_session_and_logout_everywhere_ends_all(console_app: Flask, make_member: Any) -> None:
    member = make_member("viewer")
    laptop, tablet, phone = (console_app.test_client() for _ in range(3))
    for client in (laptop, tablet, phone):
        sign_in(console_app, client, member)
    out = post(phone, "/admin/logout", page="/admin/")
    assert out.headers["Location"] == "/admin/login?notice=out"
    assert phone.get("/admin/").status_code == 302 and laptop.get("/admin/").status_code == 200
    everywhere = post(laptop, "/admin/logout-everywhere", page="/admin/")
    assert everywhere.headers["Location"] == "/admin/login?notice=all"
    assert laptop.get("/admin/").status_code == 302 and tablet.get("/admin/").status_code == 302
    assert (f"staff:{member.username}", "staff.logout_everywhere") in _actions(console_app)


def test_behind_a_trusted_proxy_each_client_address_is_locked_on_its_own(
    make_app: Any, console_settings: Any, make_member: Any
) -> None:
    """http.trusted_proxies = 1: the proxy's X-Forwarded-For names the client, so one client's failures do not
    lock out everyone else behind the same proxy."""
    app: Flask = make_app(
        console_settings.model_copy(update={"http": console_settings.http.model_copy(update={"trusted_proxies": 1})})
    )
    member = make_member("viewer")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = app.test_client()
    attacker.environ_base.update(proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    for n in range(8):
        assert _password(attacker, f"guess{n // 2}", "wrong-password!").status_code == 401
    assert _password(attacker, member.username).status_code == 429
    colleague = app.test_client()
    colleague.environ_base.update(proxy, HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert _password(colleague, member.username).status_code == 302


def test_without_a_trusted_proxy_a_forged_forwarded_for_does_not_escape_the_lockout(
    console_app: Flask, make_member: Any
) -> None:
    member = make_member("viewer")
    attacker = console_app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for n in range(8):
        attacker.environ_base["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{n}"  # a fresh "client" every try
        assert _password(attacker, f"guess{n // 2}", "wrong-password!").status_code == 401
    assert _password(attacker, member.username).status_code == 429
