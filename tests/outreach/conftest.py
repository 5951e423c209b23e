"""Fixtures for outreach: the databank's (settings with keys, a session, roster rows) and the gateway's (the WeChat
emulator and a gateway pointed at it)."""

from tests.databank.conftest import db, db_settings, keyring, session
from tests.gateway.conftest import cache, emulator, gateway, gateway_settings

__all__ = ["cache", "db", "db_settings", "emulator", "gateway", "gateway_settings", "keyring", "session"]
