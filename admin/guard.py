"""Who is signed in, and the one decorator that lets a view run: ``require(permission)``.

The session cookie holds a random token (``services.staff.sessions`` keeps its hash in Redis). ``require`` loads the
session and the account on every request (so disabling an account, or a changed role, takes effect at once), sends
a caller without a session to the login page (saying so when a session expired), and asks the role policy
(``services.staff.policy``) whether the account's roles hold the view's permission: a refusal is a 403 page. Views
never compare role names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response

from admin.context import runtime
from services import staff as staff_service
from services.staff import sessions
from services.staff.accounts import Staff

COOKIE = "xy_console"
COOKIE_PATH = "/admin"

F = TypeVar("F", bound=Callable[..., Any])
# Every guarded view → its permission: the route matrix test reads this, so no view escapes the table.
PERMISSION_OF: dict[Callable[..., Any], str] = {}


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        secure=runtime().settings.admin_cookie_secure,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=runtime().settings.admin_cookie_secure, httponly=True)


def session_token() -> str | None:
    return request.cookies.get(COOKIE)


def signed_in() -> Staff | None:
    """The signed-in staff member (a full session of an enabled account), once per request."""
    if "staff" not in g:
        rt = runtime()
        found = sessions.load(rt.redis, rt.settings.admin, session_token())
        current = None
        if found is not None and found.stage == sessions.FULL:
            with rt.db.session() as session:
                current = staff_service.staff_by_id(session, found.account_id)
        g.staff = current
    staff: Staff | None = g.staff
    return staff


def current_staff() -> Staff:
    """The signed-in staff member, inside a view that ``require`` guards."""
    staff = signed_in()
    assert staff is not None, "current_staff() outside a guarded view"
    return staff


def to_login() -> Response:
    """Redirect to the login page; with a stale cookie, the page says the session expired."""
    expired = session_token() is not None
    response = redirect(url_for("admin.login", expired=1) if expired else url_for("admin.login"))
    if expired:
        clear_session_cookie(response)
    return response


def require(permission: str) -> Callable[[F], F]:
    """Run the view only for a signed-in account whose roles hold ``permission`` (else: login, or 403)."""
    if permission not in staff_service.PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}: add it to services/staff/policy.py")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            staff = signed_in()
            if staff is None:
                return to_login()
            staff_service.check(staff.roles, permission)  # Forbidden → the 403 page
            return view(*args, **kwargs)

        PERMISSION_OF[guarded] = permission
        return guarded  # type: ignore[return-value]

    return decorate
