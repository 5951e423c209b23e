"""The generic Flask application: runtime wiring, request ids, health, metrics and one JSON error shape.

It knows no feature. The composition root (``app.py`` at the top of the tree) adds the edges' blueprints; only
``wsgi.py``, ``jobs/`` and ``cli/`` build an app, and nothing builds one at import time.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prom_multiprocess
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix

from core import i18n, texts
from core import logging as xy_logging
from core.errors import FieldProblem, XiaoyouError
from core.runtime import Runtime
from core.settings import Settings

log = logging.getLogger(__name__)
EXTENSION = "xiaoyou"
GATEWAY_EXTENSION = "xiaoyou.gateway"  # the process's WeChat gateway, put there by the composition root


def runtime() -> Runtime:
    """The process's runtime, from inside a request or an app context."""
    rt: Runtime = current_app.extensions[EXTENSION]
    return rt


# What the HTTP layer's own refusals say (413 is worded with the limit, below): copy, never werkzeug's English.
_HTTP_MESSAGES = {
    400: texts.ERROR_VALIDATION,
    404: texts.ERROR_NOT_FOUND,
    405: texts.ERROR_METHOD,
    415: texts.API_UNSUPPORTED_MEDIA,
    429: texts.ERROR_RATE_LIMITED,
}


def error_body(code: str, message: str, fields: Sequence[FieldProblem] = ()) -> dict[str, Any]:
    """The one JSON error shape, ``{"error": {"code", "message"}}``, and ``fields`` when an input's fields failed."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = [{"field": f.field, "problem": f.problem, "message": f.message} for f in fields]
    return {"error": error}


def http_error_message(exc: HTTPException) -> str:
    """What a refusal by the HTTP layer itself (no such address, wrong method, body too large) tells the user."""
    status = exc.code or 500
    if status == 413:
        limit = request.max_content_length
        declared = request.content_length
        if limit is None or (declared is not None and declared <= limit):
            return texts.API_TOO_LARGE_UNSTATED  # a form-parsing limit, not the body cap
        return texts.API_TOO_LARGE.format(limit=size_text(limit))
    if status >= 500:
        return texts.ERROR_INTERNAL
    return _HTTP_MESSAGES.get(status, texts.API_REQUEST_REFUSED)


def size_text(n_bytes: int) -> str:
    """A byte count as a person reads it: "6 MB", "4 KB", "1.5 MB"."""
    if n_bytes >= 1024 * 1024:
        return texts.API_SIZE_MB.format(size=round(n_bytes / (1024 * 1024), 1))
    return texts.API_SIZE_KB.format(size=round(n_bytes / 1024, 1))


def _choose_language(app: Flask) -> None:
    """Every request reads its texts in one language (core.i18n): the console's switch (a cookie), else the client's
    Accept-Language (the mini-program sends its user's), else Chinese. The webhook's pushes choose again per user,
    in the pipeline. The answer says which (Content-Language)."""

    @app.before_request
    def _language() -> None:
        accepted = request.accept_languages.best_match(i18n.ACCEPTED_TAGS)
        g.language = i18n.choose(request.cookies.get(i18n.COOKIE), accepted)
        g.language_token = i18n.activate(g.language)

    @app.after_request
    def _content_language(response: Response) -> Response:
        response.headers["Content-Language"] = "en" if g.get("language") == "en" else "zh-CN"
        return response

    @app.teardown_request
    def _language_done(_exc: BaseException | None) -> None:
        token = g.pop("language_token", None)
        if token is not None:
            i18n.deactivate(token)


def build_app(settings: Settings, rt: Runtime | None = None) -> Flask:
    xy_logging.configure(settings.logging.level)
    app = Flask("xiaoyou")
    app.extensions[EXTENSION] = rt or Runtime.build(settings)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    hops = settings.http.trusted_proxies
    if hops:  # the client's address and scheme as the trusted proxies saw them (http.trusted_proxies)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    _choose_language(app)

    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if incoming.isascii() and incoming.isalnum() and len(incoming) <= 64 else secrets.token_hex(8)
        g.request_id = rid
        g.started = time.perf_counter()
        xy_logging.request_id_var.set(rid)
        xy_logging.openid_hash_var.set("-")
        xy_logging.msg_id_var.set("-")

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = jsonify(error_body(code, http_error_message(exc)))
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # a 405 must say what is allowed (RFC 9110)
        return response, exc.code or 500

    @app.errorhandler(XiaoyouError)
    def _domain_error(exc: XiaoyouError) -> tuple[Response, int]:
        return jsonify(error_body(exc.code, exc.user_message, exc.fields)), exc.status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return jsonify(
            error_body("internal_error", "internal error; quote request id " + g.get("request_id", "-"))
        ), 500

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        rt = runtime()
        checks: dict[str, str] = {}
        try:
            with rt.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except SQLAlchemyError as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            rt.redis.ping()
            checks["redis"] = "ok"
        except RedisError as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return jsonify({"status": "ok" if healthy else "degraded", **checks}), 200 if healthy else 503

    @app.get("/metrics")
    def metrics() -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    return app
