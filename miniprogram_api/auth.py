"""Who is calling: a mini-program user (session token) or a desk's scanner (scanner credential), both as Bearer.

Identity comes only from the server side: the session in Redis or the scanner row. Nothing a client writes in a
body or query (an openid, a user id) is ever read as identity.
"""

from __future__ import annotations

from flask import request

from miniprogram_api.context import runtime
from services import mp_sessions
from services.mp_sessions import MpUser


def bearer() -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def current_user() -> MpUser:
    """The session's user; raises ``Unauthenticated``."""
    rt = runtime()
    return mp_sessions.authenticate(rt.redis, rt.settings.miniprogram_api, bearer())


def client_ip() -> str:
    return request.remote_addr or "-"
