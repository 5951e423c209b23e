"""The databank's keys in settings: validated, masked, generated once in development, required in production."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings

KEY = "k1:" + "A" * 43 + "="


def test_keyrings_are_validated() -> None:
    for bad in ("nokid", "k1:notbase64!", "k1:" + "A" * 20 + "==", f"{KEY},{KEY}"):
        with pytest.raises(ConfigError, match=r"privacy\.encryption_keys"):
            load_settings(environment="test", privacy={"encryption_keys": bad})
    assert load_settings(environment="test", privacy={"encryption_keys": f"k2:{'B' * 43}=,{KEY}"})


def test_keys_are_masked_and_never_echoed() -> None:
    settings = load_settings(environment="test", privacy={"encryption_keys": KEY, "hmac_keys": KEY})
    assert "A" * 20 not in json.dumps(settings.masked())
    with pytest.raises(ConfigError) as info:
        load_settings(environment="test", privacy={"hmac_keys": "k1:" + "C" * 10})
    assert "C" * 10 not in str(info.value)


def test_development_generates_keys_once(tmp_path: Path) -> None:
    first = load_settings(environment="development", var_dir=tmp_path)
    second = load_settings(environment="development", var_dir=tmp_path)
    assert first.privacy.encryption_keys == second.privacy.encryption_keys
    assert first.privacy.encryption_keys.startswith("dev1:") and first.privacy.hmac_keys.startswith("dev1:")
    assert (tmp_path / "dev-privacy-keys.json").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"privacy.encryption_keys: required in production"):
        load_settings(
            environment="production",
            database={"url": "postgresql://db/x"},
            redis={"url": "redis://r:6379/0"},
            wechat={"appid": "wx1", "secret": "s", "token": "tok123", "aes_key": "a" * 43},
        )
