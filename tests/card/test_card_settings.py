"""The card's settings: the QR signing key is generated once in development, required in production, and masked."""

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
    "admin": {"secret_key": "s" * 40},
}


pytestmark = pytest.mark.usefixtures("config_env_only")


def test_production_refuses_to_start_without_the_code_key() -> None:
    with pytest.raises(ConfigError, match=r"card\.code_keys: required in production"):
        load_settings(**PRODUCTION)
    settings = load_settings(**PRODUCTION, card={"code_keys": KEY})
    assert settings.card.code_keys == KEY
    assert settings.masked()["card"]["code_keys"].startswith("****")


def test_development_generates_the_code_key_once(tmp_path: Path) -> None:
    first, second = load_settings(), load_settings()
    assert first.card.code_keys and first.card.code_keys == second.card.code_keys
    stored = json.loads((tmp_path / "dev-card-keys.json").read_text())
    assert stored["card"]["code_keys"] == first.card.code_keys
    assert (tmp_path / "dev-card-keys.json").stat().st_mode & 0o077 == 0


def test_bad_card_values_are_named() -> None:
    with pytest.raises(ConfigError, match=r"card\.code_keys"):
        load_settings(card={"code_keys": "nonsense"})
    with pytest.raises(ConfigError, match=r"default_tier must be one of card\.tiers"):
        load_settings(card={"tiers": ["gold"], "default_tier": "standard"})
