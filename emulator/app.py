"""The emulator's app factory: one Flask app that answers like api.weixin.qq.com, plus ``/_emulator/`` controls.

``create_app(config)`` builds the state, the background event pusher and the routes; nothing is built at import
time. It also owns the WeChat-wide conventions: every API error is HTTP 200 with ``{"errcode", "errmsg"}``, a wrong
HTTP method is 43001/43002, and every call to a WeChat path is counted (``GET /_emulator/calls``) so tests can assert
how often the app hit an API. Call ``stop_app(app)`` to end the pusher thread when the app is done with.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from emulator import api_auth, api_messages, api_mp, api_oa, control
from emulator.common import EXTENSION
from emulator.config import EmulatorConfig
from emulator.errors import WxError
from emulator.pusher import EventPusher, Fields, PushResult
from emulator.state import EmulatorState

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_emulator"


def create_app(config: EmulatorConfig | None = None) -> Flask:
    config = config or EmulatorConfig()
    config.validate()
    app = Flask(__name__)
    if isinstance(app.json, DefaultJSONProvider):
        app.json.ensure_ascii = False  # WeChat answers UTF-8 text, not \u escapes

    state = EmulatorState(config)

    def record_event_push(fields: Fields, result: PushResult) -> None:
        with state.lock:
            state.push_log.append({"at": state.now(), "fields": fields, **result.as_dict()})

    app.extensions[EXTENSION] = state
    app.extensions[f"{EXTENSION}.pusher"] = EventPusher(record_event_push)

    for module in (api_auth, api_messages, api_oa, api_mp, control):
        app.register_blueprint(module.bp)

    @app.before_request
    def count_call() -> Response | None:
        if request.path.startswith(CONTROL_PREFIX):
            return None
        delay = 0.0
        with state.lock:
            state.calls[request.path] += 1
            slow = state.delays.get(request.path)
            if slow and slow[1] > 0:
                slow[1] -= 1
                delay = slow[0]
            fault = state.faults.get(request.path)
            if fault and fault[1] > 0:
                fault[1] -= 1
                return jsonify(WxError(fault[0]).body())
        if delay:
            time.sleep(delay)  # outside the lock: only this call is slow
        return None

    @app.errorhandler(WxError)
    def wechat_error(exc: WxError) -> tuple[Response, int]:
        logger.info("%s %s -> %s", request.method, request.path, exc.errcode)
        return jsonify(exc.body()), 200

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        if request.path.startswith(CONTROL_PREFIX):
            return jsonify(error=exc.description), status
        if isinstance(exc, MethodNotAllowed):
            allowed = exc.valid_methods or []
            return jsonify(WxError(43002 if "POST" in allowed else 43001).body()), 200
        body: dict[str, Any] = {"errcode": -1, "errmsg": f"{exc.name}: the emulator has no {request.path}"}
        if status != 404:
            body["errmsg"] = f"{exc.name}: {exc.description}"
        logger.warning("%s %s -> HTTP %s", request.method, request.path, status)
        return jsonify(body), status

    return app


def get_app_state(app: Flask) -> EmulatorState:
    """The state behind an app from ``create_app`` (for in-process tools that skip HTTP)."""
    state: EmulatorState = app.extensions[EXTENSION]
    return state


def stop_app(app: Flask) -> None:
    """End the background event pusher (after sending what it has queued)."""
    pusher: EventPusher = app.extensions[f"{EXTENSION}.pusher"]
    pusher.stop()
