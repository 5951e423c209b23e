"""Who may reach what: every console route against every role (from the permission table), the login redirect,
CSRF, the security headers and the error pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from admin.guard import PERMISSION_OF
from models import StaffAccount
from services.staff import ROLES, allows
from services.staff.policy import PERMISSIONS
from tests.admin.conftest import post, sign_in, text

# Console endpoints that need no signed-in account: the login steps, logout, and static files.
PUBLIC = {
    "admin.login",
    "admin.login_submit",
    "admin.second_step",
    "admin.second_step_submit",
    "admin.enrol",
    "admin.enrol_qr",
    "admin.enrol_submit",
    "admin.logout",
    "admin.language",
    "admin.static",
}


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every console route."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule.endpoint, method, rule.rule))
    return found


def _url(rule: str, target_id: int) -> str:
    """The rule with every id in it (account, application, card, scanner, ...) set to ``target_id``: an allowed
    role gets the page or a 404, never a 403 or a 500."""
    return re.sub(r"<int:\w+>", str(target_id), rule)


def test_every_console_route_is_either_public_or_guarded_by_a_known_permission(console_app: Flask) -> None:
    guarded = 0
    for endpoint, _method, _rule in _routes(console_app):
        permission = PERMISSION_OF.get(console_app.view_functions[endpoint])
        if permission is None:
            assert endpoint in PUBLIC, f"{endpoint} has no require(permission)"
        else:
            assert permission in PERMISSIONS
            guarded += 1
    assert guarded >= 8


@pytest.mark.parametrize("role", ROLES)
def test_every_route_against_every_role(console_app: Flask, make_member: Any, role: str) -> None:
    target = make_member("viewer")  # what the account actions act on
    member = make_member(role)
    for endpoint, method, rule in _routes(console_app):
        permission = PERMISSION_OF.get(console_app.view_functions[endpoint])
        if permission is None:
            continue
        client = console_app.test_client()
        sign_in(console_app, client, member)  # a fresh session each time: logout-everywhere ends it
        url = _url(rule, target.id)
        response = post(client, url, page="/admin/") if method == "POST" else client.get(url)
        allowed = allows([role], permission)
        if allowed:
            assert response.status_code not in (403, 500), (role, method, url, response.status_code)
            assert "/admin/login" not in response.headers.get("Location", "") or endpoint == "admin.logout_everywhere"
        else:
            assert response.status_code == 403, (role, method, url, response.status_code)
            assert "您的角色没有访问此页面的权限" in text(response)


def test_without_a_session_every_guarded_route_redirects_to_the_login(console_app: Flask, make_member: Any) -> None:
    target = make_member("viewer")
    client = console_app.test_client()
    for endpoint, method, rule in _routes(console_app):
        if PERMISSION_OF.get(console_app.view_functions[endpoint]) is None:
            continue
        url = _url(rule, target.id)
        response = post(client, url) if method == "POST" else client.get(url)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"] == "/admin/login"


def test_the_home_page_lists_only_what_the_role_reaches(signed_in: Any) -> None:
    admin, _ = signed_in("admin")
    page = text(admin.get("/admin/"))
    assert all(link in page for link in ('href="/admin/staff"', 'href="/admin/audit"', 'href="/admin/settings"'))
    officer, _ = signed_in("officer")
    page = text(officer.get("/admin/"))
    assert 'href="/admin/audit"' in page and 'href="/admin/staff"' not in page
    viewer, _ = signed_in("viewer")
    page = text(viewer.get("/admin/"))
    assert "/admin/audit" not in page and "/admin/staff" not in page and 'href="/admin/cards/review"' in page
    assert 'href="/admin/cards/scanners"' not in page
    broadcaster, _ = signed_in("broadcaster")  # no page of its own yet (broadcasts come later): the dashboard
    assert 'id="dashboard-tiles"' in text(broadcaster.get("/admin/"))
    liaison, _ = signed_in("class_liaison")  # no dashboard: their home links the class-group pages
    page = text(liaison.get("/admin/"))
    assert 'href="/admin/classes"' in page and "/admin/alumni" not in page and "/admin/audit" not in page


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(console_app: Flask, signed_in: Any) -> None:
    client, _ = signed_in("admin")
    form = {
        "username": "newbie",
        "display_name": "新人",
        "password": "x" * 14,
        "password_again": "x" * 14,
        "roles": "viewer",
    }
    missing = client.post("/admin/staff", data=form)
    wrong = client.post("/admin/staff", data={**form, "csrf_token": "forged"})
    login = console_app.test_client().post("/admin/login", data={"username": "a", "password": "b"})
    for response in (missing, wrong, login):
        assert response.status_code == 400
        assert "请求无效或表单已过期" in text(response)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(StaffAccount).where(StaffAccount.username == "newbie")) == 0
        )
    assert post(client, "/admin/staff", form, page="/admin/staff").status_code == 302


def test_every_console_response_carries_the_security_headers(console_app: Flask, signed_in: Any) -> None:
    admin, _ = signed_in("admin")
    viewer, _ = signed_in("viewer")
    anonymous = console_app.test_client()
    responses = [
        admin.get("/admin/"),
        admin.get("/admin/staff"),
        viewer.get("/admin/staff"),  # 403
        anonymous.get("/admin/login"),
        anonymous.get("/admin/"),  # 302
        anonymous.get("/admin/static/admin.css"),
        anonymous.get("/admin/no-such-page"),  # 404
    ]
    for response in responses:
        response.close()
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert "X-Frame-Options" not in anonymous.get("/healthz").headers  # the console's headers stay in the console


def test_htmx_is_vendored_with_its_licence_and_served_by_the_console(console_app: Flask) -> None:
    client = console_app.test_client()
    script = client.get("/admin/static/vendor/htmx.min.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert b"htmx" in script.data[:200]
    script.close()
    licence = client.get("/admin/static/vendor/htmx.LICENSE")
    assert b"Zero-Clause BSD" in licence.data
    licence.close()
    assert 'src="/admin/static/vendor/htmx.min.js"' in text(client.get("/admin/login"))


def test_a_page_never_carries_inline_script(console_app: Flask, signed_in: Any) -> None:
    admin, _ = signed_in("admin")
    for url in ("/admin/", "/admin/staff", "/admin/audit", "/admin/settings", "/admin/login"):
        page = text(admin.get(url))
        assert "<script>" not in page and " on" + "click=" not in page and "style=" not in page


def test_unknown_accounts_and_pages_get_an_error_page_not_a_500(signed_in: Any) -> None:
    admin, _ = signed_in("admin")
    missing = post(admin, "/admin/staff/999999/disable", page="/admin/staff")
    assert missing.status_code == 404 and "没有找到相关内容" in text(missing)
    assert admin.get("/admin/staff/1/disable").status_code == 405
    bad_filter = admin.get("/admin/audit", query_string={"person": "abc", "since": "2026-13-45"})
    assert bad_filter.status_code == 400 and "查询条件有误" in text(bad_filter)


def test_a_stale_session_cookie_is_sent_to_the_login_page_with_a_message(console_app: Flask, make_member: Any) -> None:
    client = console_app.test_client()
    client.set_cookie("xy_console", "not-a-session", path="/admin")
    response = client.get("/admin/staff")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login?expired=1"
    assert "登录已过期，请重新登录" in text(client.get(response.headers["Location"]))


def test_a_disabled_account_loses_its_sessions_at_once(console_app: Flask, signed_in: Any, make_member: Any) -> None:
    admin, _ = signed_in("admin")
    other = console_app.test_client()
    member = make_member("officer")
    sign_in(console_app, other, member)
    assert other.get("/admin/audit").status_code == 200
    assert post(admin, f"/admin/staff/{member.id}/disable", page="/admin/staff").status_code == 302
    assert other.get("/admin/audit").status_code == 302
