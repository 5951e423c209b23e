"""The console's error pages: a missing or wrong CSRF token (400), a role without the right (403), a domain error
with its status, any other HTTP error. Each is an HTML page with the right status, never a stack trace."""

from __future__ import annotations

from flask import render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from admin.blueprint import bp
from core import texts
from core.errors import XiaoyouError

T = texts.CONSOLE


def _page(message: str, status: int) -> tuple[str, int]:
    return render_template("admin/error.html", message=message, status=status), status


@bp.errorhandler(CSRFError)
def _csrf(_exc: CSRFError) -> tuple[str, int]:
    return _page(T["error_400"], 400)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    return _page(T.get(f"error_{status}", T["error_other"]), status)


@bp.errorhandler(XiaoyouError)
def _domain(exc: XiaoyouError) -> tuple[str, int]:
    return _page(exc.user_message, exc.status)
