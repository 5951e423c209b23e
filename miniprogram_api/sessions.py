"""``/auth``: a ``wx.login`` code becomes a session token; logout ends it (``services/mp_sessions.py``)."""

from __future__ import annotations

from flask import Blueprint, Response

from miniprogram_api import schemas as s
from miniprogram_api.auth import bearer, client_ip, current_user
from miniprogram_api.context import gateway, runtime
from miniprogram_api.spec import API
from services import mp_sessions

bp = Blueprint("sessions", __name__)


@API.route(bp, "POST", "/auth/login", summary="Log in with a wx.login code", body=s.LoginRequest,
           response=s.TokenResponse, errors=(401, 429, 502, 503),
           notes={401: "invalid_login_code: the wx.login code is wrong, expired or already used"})  # fmt: skip
def login(body: s.LoginRequest) -> s.TokenResponse:
    rt = runtime()
    settings = rt.settings.miniprogram_api
    token = mp_sessions.login(rt.redis, gateway().miniprogram, settings, code=body.code, ip=client_ip())
    return s.TokenResponse(token=token, expires_in=settings.session_idle_seconds)


@API.route(bp, "POST", "/auth/logout", summary="End this session", status=204, auth="session")
def logout() -> Response:
    current_user()
    mp_sessions.logout(runtime().redis, bearer())
    return Response(status=204)
