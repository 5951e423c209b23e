"""What a view needs from its process: the runtime (settings, database, Redis), the WeChat gateway and the keyring.

The composition root (``app.py``) puts them in the app's extensions; views reach them only through these accessors,
so a view never builds one and a test app gets its own.
"""

from __future__ import annotations

from flask import current_app

from core.app import runtime
from services.databank.keys import Keyring
from wechat.gateway import current_gateway as gateway  # shared with the console (admin/context.py)

_KEYRING = "xiaoyou.keyring"


def keyring() -> Keyring:
    """The databank's keys, read from the settings once per app."""
    ring: Keyring | None = current_app.extensions.get(_KEYRING)
    if ring is None:
        ring = current_app.extensions[_KEYRING] = Keyring.from_settings(runtime().settings.privacy)
    return ring


__all__ = ["gateway", "keyring", "runtime"]
