"""The console's settings: the signing key is generated once in development, required in production and masked;
the cookies' Secure flag is on in production (and cannot be turned off there), off by default elsewhere."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings

KEY = "k1:" + base64.b64encode(b"q" * 32).decode()
PRODUCTION = {
    "environment": "production",
    "database": {"url": "postgresql://u:pw@db/x"},
    "redis": {"url": "redis://r:6379/0"},
    "wechat": {"appid": "wx1", "secret": "s", "token": "tok123", "aes_key": base64.b64encode(b"a" * 32).decode()[:43]},
    "privacy": {"encryption_keys": KEY, "hmac_keys": KEY},
    "card": {"code_keys": KEY},
}
SECRET = "a-console-signing-key-of-enough-length-0123456789"


pytestmark = pytest.mark.usefixtures("config_env_only")


def test_production_requires_the_secret_key_and_secure_cookies() -> None:
    with pytest.raises(ConfigError, match=r"admin\.secret_key: required in production"):
        load_settings(**PRODUCTION)
    with pytest.raises(ConfigError, match=r"admin\.cookie_secure: false is refused in production"):
        load_settings(**PRODUCTION, admin={"secret_key": SECRET, "cookie_secure": False})
    settings = load_settings(**PRODUCTION, admin={"secret_key": SECRET})
    assert settings.admin_cookie_secure is True
    assert settings.masked()["admin"]["secret_key"] == "****" + SECRET[-2:]


def test_development_generates_the_secret_key_once_and_serves_plain_http(tmp_path: Path) -> None:
    first, second = load_settings(), load_settings()
    assert len(first.admin.secret_key) >= 32 and first.admin.secret_key == second.admin.secret_key
    stored = json.loads((tmp_path / "dev-admin-keys.json").read_text())
    assert stored["admin"]["secret_key"] == first.admin.secret_key
    assert (tmp_path / "dev-admin-keys.json").stat().st_mode & 0o077 == 0
    assert first.admin_cookie_secure is False
    assert load_settings(admin={"cookie_secure": True}).admin_cookie_secure is True


def test_bad_console_values_are_named() -> None:
    with pytest.raises(ConfigError, match=r"admin\.secret_key: must be at least 32 random characters"):
        load_settings(admin={"secret_key": "short"})
    with pytest.raises(ConfigError, match=r"session_idle_seconds must not exceed"):
        load_settings(admin={"session_idle_seconds": 7200, "session_absolute_seconds": 3600})
    with pytest.raises(ConfigError, match=r"admin\.failures_per_account"):
        load_settings(admin={"failures_per_account": 0})
