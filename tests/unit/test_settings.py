"""Configuration: YAML defaults, environment overrides, precise errors, production rules, masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings
from tests.conftest import AES_KEY


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("DATABASE_URL", "REDIS_URL", "XIAOYOU_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XIAOYOU__VAR_DIR", str(tmp_path))


def test_defaults_come_from_config_yaml() -> None:
    s = load_settings()
    assert s.wechat.message_mode == "safe"
    assert s.webhook.max_body_bytes == 65536
    assert s.wechat.max_clock_skew_seconds == 300
    assert (s.events.checkin_opens_before_hours, s.events.checkin_closes_after_hours) == (6, 6)
    assert s.database_url.endswith("xiaoyou.db")
    assert s.uses_embedded_redis


def test_environment_overrides_any_key_by_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XIAOYOU__WECHAT__MESSAGE_MODE", "compatible")
    monkeypatch.setenv("XIAOYOU__WEBHOOK__REPLY_DEADLINE_SECONDS", "2.5")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/alumni")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    s = load_settings()
    assert s.wechat.message_mode == "compatible"
    assert s.webhook.reply_deadline_seconds == 2.5
    assert s.database_url == "postgresql://app@db/alumni"
    assert s.redis.url == "redis://cache:6379/2"


def test_another_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "site.yaml"
    other.write_text("wechat:\n  max_clock_skew_seconds: 0\n")
    monkeypatch.setenv("XIAOYOU_CONFIG", str(other))
    s = load_settings()
    assert s.wechat.max_clock_skew_seconds == 0
    assert s.webhook.max_body_bytes == 65536  # everything else keeps its default


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("XIAOYOU__WECHAT__MESSAGE_MODE", "aes", "wechat.message_mode: Input should be 'safe', 'compatible' or"),
        ("XIAOYOU__WEBHOOK__MAX_BODY_BYTES", "lots", "webhook.max_body_bytes: Input should be a valid integer"),
        ("XIAOYOU__WECHAT__MAX_CLOCK_SKEW_SECONDS", "-5", "wechat.max_clock_skew_seconds: Input should be greater"),
        ("XIAOYOU__WECHAT__AES_KEY", "tooshort", "wechat.aes_key: must be 43 base64 characters"),
        ("XIAOYOU__WECHAT__TOKEN", "has space", "wechat.token: must be 3 to 32 letters or digits"),
        ("XIAOYOU__WECHAT__API_BASE_URL", "ftp://x", "wechat.api_base_url: must be an http(s) URL"),
        ("XIAOYOU__WEBHOOK__REPLY_DEADLINE_SECONDS", "6", "webhook.reply_deadline_seconds: Input should be less"),
        ("XIAOYOU__SCHEDULE__CARD_EXPIRE", "hourly", "schedule.card_expire: must be a crontab line"),
        ("XIAOYOU__SCHEDULE__CARD_PURGE", "35 27 * * *", "schedule.card_purge: must be a crontab line"),
        ("XIAOYOU__SCHEDULE__FOLLOWERS_SYNC", "5 19 * * 1", "schedule.followers_sync: name the weekday (mon"),
        (
            "XIAOYOU__EVENTS__CHECKIN_OPENS_BEFORE_HOURS",
            "0",
            "events.checkin_opens_before_hours: Input should be greater than or equal to 1 (got '0')",
        ),
        (
            "XIAOYOU__EVENTS__CHECKIN_CLOSES_AFTER_HOURS",
            "49",
            "events.checkin_closes_after_hours: Input should be less than or equal to 48 (got '49')",
        ),
        ("XIAOYOU__EVENTS__CHECKIN_CLOSES_AFTER_HOURS", "6h", "events.checkin_closes_after_hours: Input should be a "),
    ],
)
def test_a_wrong_value_names_the_key_and_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert expected in str(info.value)


def test_a_secret_is_never_echoed_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XIAOYOU__WECHAT__AES_KEY", "secret-value-that-is-wrong")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "secret-value-that-is-wrong" not in str(info.value)


def test_an_unknown_key_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "typo.yaml"
    other.write_text("wechat:\n  tokne: abc\n")
    monkeypatch.setenv("XIAOYOU_CONFIG", str(other))
    with pytest.raises(ConfigError, match=r"wechat.tokne: unknown key"):
        load_settings()


def test_production_requires_credentials_and_refuses_plaintext() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environment="production")
    missing = [line.strip() for line in str(info.value).splitlines()[1:]]
    assert missing == [  # every missing key at once, so one deploy attempt shows them all
        f"{key}: required in production"
        for key in ("wechat.appid", "wechat.secret", "wechat.token", "wechat.aes_key", "database.url", "redis.url",
                    "privacy.encryption_keys", "privacy.hmac_keys", "card.code_keys", "admin.secret_key")
    ]  # fmt: skip
    full = {
        "environment": "production",
        "database": {"url": "postgresql://u:pw@db/x"},
        "redis": {"url": "redis://r:6379/0"},
        "wechat": {"appid": "wx1", "secret": "s", "token": "tok123", "aes_key": AES_KEY, "message_mode": "plaintext"},
        "privacy": {"encryption_keys": "k1:" + "A" * 43 + "=", "hmac_keys": "h1:" + "B" * 43 + "="},
        "card": {"code_keys": "c1:" + "C" * 43 + "="},
        "admin": {"secret_key": "s" * 40},
    }
    with pytest.raises(ConfigError, match="plaintext is refused in production"):
        load_settings(**full)
    full["wechat"]["message_mode"] = "safe"  # type: ignore[index]
    assert load_settings(**full).environment == "production"


def test_development_generates_credentials_once(tmp_path: Path) -> None:
    first = load_settings()
    second = load_settings()
    assert first.wechat.token == second.wechat.token and len(first.wechat.aes_key) == 43
    stored = json.loads((tmp_path / "dev-credentials.json").read_text())
    assert stored["wechat"]["token"] == first.wechat.token
    assert (tmp_path / "dev-credentials.json").stat().st_mode & 0o077 == 0


def test_masked_settings_hide_secrets_and_url_passwords() -> None:
    s = load_settings(
        database={"url": "postgresql://app:hunter2@db/alumni"},
        wechat={"secret": "abcdefghijklmnop", "token": "tok123456789"},
    )
    masked = s.masked()
    assert "hunter2" not in json.dumps(masked)
    assert masked["database"]["url"] == "postgresql://app:****@db/alumni"
    assert masked["wechat"]["secret"] == "****op"
    assert "abcdefghijklmnop" not in json.dumps(masked)


def test_new_key_prints_keys_that_every_keyed_setting_accepts(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.commands import main

    runner = CliRunner()
    first, second = (runner.invoke(main, ["config", "new-key", kid]).output.strip() for kid in ("k2", "k1"))
    assert first.startswith("k2:") and first != second
    rotated = f"{first},{second}"  # the new key first, the old one kept for reading
    settings = load_settings(
        environment="test",
        var_dir=tmp_path,
        privacy={"encryption_keys": rotated, "hmac_keys": rotated},
        card={"code_keys": rotated},
    )
    assert settings.card.code_keys == rotated
    refused = runner.invoke(main, ["config", "new-key", "not a kid"])
    assert refused.exit_code == 2 and "1 to 8 letters or digits" in refused.output
