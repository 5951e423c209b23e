"""The console's one blueprint, at ``/admin``: its templates, and its static files at ``/admin/static``.

Defined alone so that the page modules (``auth``, ``pages``) can attach their views to it without importing each other.
"""

from __future__ import annotations

from flask import Blueprint
from flask_wtf.csrf import CSRFProtect

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# CSRF protection (Flask-WTF): checked by the blueprint for its own POSTs only, so the webhook and the API, which
# authenticate otherwise, are untouched (``WTF_CSRF_CHECK_DEFAULT`` is off; see ``admin.init_app``).
csrf = CSRFProtect()


@bp.before_request
def _check_csrf() -> None:
    csrf.protect()  # a no-op for GET and HEAD; raises CSRFError (400) for a missing or wrong token
