"""Signing in and out: the password, the second factor (or its enrolment, with the recovery codes shown once),
logout and logout everywhere.

A right password opens a short ``pending`` session that reaches only these pages; the second factor replaces it by
a full session under a new token. Each view calls one service (``services.staff``) and renders its answer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from admin.blueprint import bp
from admin.context import client_ip, keyring, runtime
from admin.guard import (
    clear_session_cookie,
    current_staff,
    require,
    session_token,
    set_session_cookie,
    signed_in,
)
from core import i18n, texts
from core.errors import LoginFailed, LoginLocked
from services import staff as staff_service
from services.staff import accounts, sessions, totp
from services.staff import login as login_service
from services.staff.sessions import StaffSession

T = texts.CONSOLE
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
Page = Response | str | tuple[str, int]
NOTICES = {
    "expired": "session_expired",
    "out": "logged_out",
    "all": "logged_out_everywhere",
    "step": "second_step_expired",
}


def _pending() -> StaffSession | None:
    rt = runtime()
    found = sessions.load(rt.redis, rt.settings.admin, session_token())
    return found if found is not None and found.stage == sessions.PENDING else None


def _grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an authenticator by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _restart() -> Response:
    response = redirect(url_for("admin.login", notice="step"))
    clear_session_cookie(response)
    return response


@bp.get("/login")
def login() -> Page:
    if signed_in() is not None:
        return redirect(url_for("admin.home"))
    notice = NOTICES.get(request.args.get("notice", ""))
    if request.args.get("expired"):
        notice = "session_expired"
    return render_template("admin/login.html", notice=T[notice] if notice else None, error=None, username="")


@bp.post("/login")
def login_submit() -> Page:
    rt = runtime()
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    failure: LoginFailed | LoginLocked | None = None
    with rt.db.session(write=True) as session:  # committed even on failure: a lockout is audited
        try:
            account = staff_service.authenticate(
                session, rt.redis, rt.settings.admin, username=username, password=password, ip=client_ip()
            )
            account_id, enrolled = account.id, account.totp_confirmed_at is not None
        except (LoginFailed, LoginLocked) as exc:
            failure = exc
    if failure is not None:
        page = render_template("admin/login.html", notice=None, error=failure.user_message, username=username)
        return page, failure.status
    token = sessions.start(rt.redis, rt.settings.admin, account_id, stage="pending")
    response = redirect(url_for("admin.second_step" if enrolled else "admin.enrol"))
    set_session_cookie(response, token)
    return response


@bp.get("/login/code")
def second_step() -> Page:
    pending = _pending()
    if pending is None:
        return _restart()
    with runtime().db.session() as session:
        account = accounts.get_account(session, pending.account_id)
        enrolled = account.totp_confirmed_at is not None
    if not enrolled:
        return redirect(url_for("admin.enrol"))
    return render_template("admin/code.html", error=None)


@bp.post("/login/code")
def second_step_submit() -> Page:
    pending = _pending()
    if pending is None:
        return _restart()
    rt = runtime()
    failure: LoginFailed | LoginLocked | None = None
    with rt.db.session(write=True) as session:
        try:
            method = login_service.second_factor(
                session,
                rt.redis,
                rt.settings.admin,
                keyring(),
                account_id=pending.account_id,
                code=request.form.get("code", ""),
                ip=client_ip(),
            )
        except (LoginFailed, LoginLocked) as exc:
            failure = exc
    if failure is not None:
        return render_template("admin/code.html", error=failure.user_message), failure.status
    response = redirect(url_for("admin.home", recovered=1) if method == "recovery" else url_for("admin.home"))
    set_session_cookie(response, sessions.promote(rt.redis, rt.settings.admin, pending))
    return response


@bp.get("/login/enrol")
def enrol() -> Page:
    pending = _pending()
    if pending is None:
        return _restart()
    with runtime().db.session(write=True) as session:
        account = accounts.get_account(session, pending.account_id)
        if account.totp_confirmed_at is not None:
            return redirect(url_for("admin.second_step"))
        secret = totp.enrolment_secret(session, keyring(), account.id)
    return render_template("admin/enrol.html", secret=_grouped(secret), error=None)


@bp.get("/login/enrol/qr.svg")
def enrol_qr() -> Response:
    pending = _pending()
    if pending is None:
        return Response(status=404)
    with runtime().db.session(write=True) as session:
        account = accounts.get_account(session, pending.account_id)
        if account.totp_confirmed_at is not None:
            return Response(status=404)
        secret = totp.enrolment_secret(session, keyring(), account.id)
        uri = totp.provisioning_uri(secret, account.username)
    return Response(totp.qr_svg(uri), mimetype="image/svg+xml")


@bp.post("/login/enrol")
def enrol_submit() -> Page:
    pending = _pending()
    if pending is None:
        return _restart()
    rt = runtime()
    failure: LoginFailed | LoginLocked | None = None
    codes: list[str] = []
    with rt.db.session(write=True) as session:
        try:
            codes = login_service.enrol(
                session,
                rt.redis,
                rt.settings.admin,
                keyring(),
                account_id=pending.account_id,
                code=request.form.get("code", ""),
                ip=client_ip(),
            )
        except (LoginFailed, LoginLocked) as exc:
            failure = exc
            secret = totp.enrolment_secret(session, keyring(), pending.account_id)
    if failure is not None:
        page = render_template("admin/enrol.html", secret=_grouped(secret), error=failure.user_message)
        return page, failure.status
    response = make_response(render_template("admin/recovery_codes.html", codes=codes))
    set_session_cookie(response, sessions.promote(rt.redis, rt.settings.admin, pending))
    return response


def _same_host_path(referrer: str | None) -> str:
    """The path (with its query) of a Referer on this console's own host, else ''."""
    if not referrer:
        return ""
    parts = urlsplit(referrer)
    if parts.netloc != request.host:
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.get("/language/<tag>")
def language(tag: str) -> Response:
    """The console's language switch, a plain link: a preference remembered in a cookie for the console's paths
    (no credential, so no CSRF token is needed), then back to the console page it was chosen on (``next``, else the
    Referer of this host; never elsewhere)."""
    chosen = i18n.normalise(tag)
    if chosen is None:
        abort(400, description=T["language_unknown"])
    target = request.args.get("next") or _same_host_path(request.referrer)
    if not target.startswith("/admin") or target.startswith("//"):  # never an open redirect
        target = url_for("admin.home")
    response = redirect(target)
    response.set_cookie(
        i18n.COOKIE,
        chosen,
        max_age=LANGUAGE_COOKIE_SECONDS,
        path="/admin",
        secure=runtime().settings.admin_cookie_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.post("/logout")
def logout() -> Response:
    rt = runtime()
    sessions.end(rt.redis, rt.settings.admin, session_token())
    response = redirect(url_for("admin.login", notice="out"))
    clear_session_cookie(response)
    return response


@bp.post("/logout-everywhere")
@require("console.home")
def logout_everywhere() -> Response:
    rt = runtime()
    with rt.db.session(write=True) as session:
        accounts.logout_everywhere(session, rt.redis, current_staff())
    response = redirect(url_for("admin.login", notice="all"))
    clear_session_cookie(response)
    return response
