"""The staff console at ``/admin``: server-rendered pages (Jinja, a little vendored htmx, no build step).

``init_app`` is what the composition root calls: it signs the CSRF cookie with ``admin.secret_key``, turns on
Flask-WTF's CSRF check for the console's own POSTs only, registers the blueprint, and puts the security headers on
every ``/admin`` response (a strict Content-Security-Policy that forbids inline script, no framing, no caching).
Modules: ``guard`` (who is signed in; ``require(permission)``), ``auth`` (login, second factor, logout), ``pages``
(home, staff, audit log, settings), ``dashboard`` (the charts and counts that are the home page of the roles holding
``dashboard.view``, called by ``pages.home``), ``alumni`` (search, a person and data-subject requests, duplicates
and merges), ``imports`` (roster uploads run by the scheduler, their progress, error reports and rollback), ``cards``
(review queue, cards list, scanners), ``wechat`` (the official account's menu and the chat simulator), ``classes``
(class groups: coverage, a cohort, its roster, contact-change reports, vouching; liaison-scoped), ``associations``
(the association tree, one association's requests, members and branch admins; branch-admin scoped), ``inquiries``
(the help desk: inbox, an inquiry and its steps, logging a call, the report, linking one's WeChat), ``knowledge``
(the help desk's knowledge base: entries, .xlsx import and export, testing a question), ``segments`` (broadcast
segments: their filters and reach per channel), ``errors`` (the error pages).
"""

from __future__ import annotations

import secrets

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from jinja2 import StrictUndefined

from admin import (  # noqa: F401 - their views attach themselves to the blueprint
    alumni,
    associations,
    auth,
    broadcasts,
    cards,
    classes,
    errors,
    event_checkin,
    events,
    imports,
    inquiries,
    knowledge,
    outreach,
    pages,
    segments,
    wechat,
)
from admin.blueprint import bp, csrf
from core.settings import Settings

PREFIX = "/admin"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


def _security_headers(response: Response) -> Response:
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        chosen = response.headers.get("Cache-Control", "")
        response.headers.update(HEADERS)
        # A view's own no-store (a download's "private, no-store") is at least as strict: it is kept.
        if "no-store" in (part.strip() for part in chosen.split(",")):
            response.headers["Cache-Control"] = chosen
    return response


class _ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, which only the console uses (its CSRF token, cookie path ``/admin``): every
    other request (a webhook push, a mini-program call) gets the null session without a cookie being looked for or
    a session built, work the webhook did on every push for nothing (bench/RESULTS.md, issue 17)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            return super().open_session(app, request)
        return None  # Flask then uses make_null_session(): readable, and never saved


def init_app(app: Flask, settings: Settings) -> None:
    # Empty only in tests: production refuses to start without it and development generates one (var/).
    app.secret_key = settings.admin.secret_key or secrets.token_urlsafe(48)
    app.config.update(
        # Flask's own (signed) session cookie carries only the console's CSRF token.
        SESSION_COOKIE_NAME="xy_console_csrf",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.admin_cookie_secure,
        WTF_CSRF_CHECK_DEFAULT=False,  # the blueprint checks its own POSTs; the webhook and the API are not forms
        WTF_CSRF_TIME_LIMIT=settings.admin.session_absolute_seconds,
    )
    app.session_interface = _ConsoleSessions()
    app.jinja_env.undefined = StrictUndefined  # a misspelt T.key fails the tests instead of rendering nothing
    csrf.init_app(app)
    app.register_blueprint(bp)
    app.after_request(_security_headers)
