"""What a console view needs from its process: the runtime (settings, database, Redis), the keyring, the caller's
address. The composition root puts the runtime in the app's extensions; views reach it only through here."""

from __future__ import annotations

from flask import current_app, request

from core.app import runtime
from services.databank.keys import Keyring
from wechat.gateway import current_gateway as gateway  # the process's WeChat gateway, shared with the API

_KEYRING = "xiaoyou.admin.keyring"


def keyring() -> Keyring:
    """The databank's keys (they seal TOTP secrets), read from the settings once per app."""
    ring: Keyring | None = current_app.extensions.get(_KEYRING)
    if ring is None:
        ring = current_app.extensions[_KEYRING] = Keyring.from_settings(runtime().settings.privacy)
    return ring


def client_ip() -> str:
    """The caller's address, as the WSGI server saw it (behind a proxy, configure the proxy fix there)."""
    return request.remote_addr or "-"


__all__ = ["client_ip", "gateway", "keyring", "runtime"]
