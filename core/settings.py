"""Typed settings: ``config.yaml`` defaults, overridden by the environment, validated once at start.

Owns the shape of every configuration key and the rules for a valid value. It reads no other module's state.
Sources, strongest first: environment variables (``XIAOYOU__WECHAT__TOKEN`` for ``wechat.token``; ``DATABASE_URL``
and ``REDIS_URL`` for the two connection strings), then the YAML file (``XIAOYOU_CONFIG`` or ``config.yaml``).
In development, WeChat credentials left empty are generated once into ``var/dev-credentials.json`` so that
``make run`` and ``make chat`` agree without any secret in the repository; production refuses to start without them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config.yaml"
SECRET_KEYS = ("wechat.secret", "wechat.token", "wechat.aes_key", "wechat.previous_aes_key", "miniprogram.secret")


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the key and what is expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_aes_key(value: str) -> str:
    """An EncodingAESKey is 43 base64 characters that decode (with one '=' appended) to 32 bytes."""
    if value == "":
        return value
    try:
        decoded = base64.b64decode(value + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("must be 43 base64 characters (the EncodingAESKey from the WeChat console)") from exc
    if len(value) != 43 or len(decoded) != 32:
        raise ValueError("must be 43 base64 characters (the EncodingAESKey from the WeChat console)")
    return value


class DatabaseSettings(_Section):
    url: str = ""
    echo: bool = False


class RedisSettings(_Section):
    url: str = ""


class WeChatSettings(_Section):
    appid: str = ""
    secret: str = ""
    token: str = Field("", max_length=32)
    aes_key: str = ""
    previous_aes_key: str = ""
    message_mode: Literal["safe", "compatible", "plaintext"] = "safe"
    max_clock_skew_seconds: int = Field(300, ge=0)
    api_base_url: str = "https://api.weixin.qq.com"
    request_timeout_seconds: float = Field(5.0, gt=0, le=60)

    _aes = field_validator("aes_key", "previous_aes_key")(_check_aes_key)

    @field_validator("token")
    @classmethod
    def _token_chars(cls, value: str) -> str:
        # The WeChat console accepts 3-32 letters and digits for the Token.
        if value and not (3 <= len(value) <= 32 and value.isascii() and value.isalnum()):
            raise ValueError("must be 3 to 32 letters or digits, as entered in the WeChat console")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://api.weixin.qq.com")
        return value.rstrip("/")


class MiniProgramSettings(_Section):
    appid: str = ""
    secret: str = ""


class WebhookSettings(_Section):
    max_body_bytes: int = Field(65536, ge=1024, le=1048576)
    reply_deadline_seconds: float = Field(3.0, gt=0, lt=5)
    max_passive_reply_bytes: int = Field(2048, ge=64, le=2048)
    dedupe_ttl_seconds: int = Field(3600, ge=60)
    inbound_log_retention_days: int = Field(30, ge=1)


class ConversationSettings(_Section):
    timeout_seconds: int = Field(600, ge=10)
    lock_timeout_seconds: float = Field(30, gt=0, le=300)
    lock_wait_seconds: float = Field(20, gt=0, le=300)

    @model_validator(mode="after")
    def _wait_within_hold(self) -> ConversationSettings:
        if self.lock_wait_seconds > self.lock_timeout_seconds:
            raise ValueError("conversation.lock_wait_seconds must not exceed conversation.lock_timeout_seconds")
        return self


class OutboxSettings(_Section):
    retry_interval_seconds: int = Field(15, ge=1)
    max_attempts: int = Field(5, ge=1, le=50)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    """Every setting Xiaoyou reads. Build it with :func:`load_settings`, which also applies the environment."""

    model_config = SettingsConfigDict(
        env_prefix="XIAOYOU__", env_nested_delimiter="__", extra="forbid", frozen=True, case_sensitive=False
    )

    environment: Literal["development", "production", "test"] = "development"
    var_dir: Path = PROJECT_ROOT / "var"
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    wechat: WeChatSettings = WeChatSettings()
    miniprogram: MiniProgramSettings = MiniProgramSettings()
    webhook: WebhookSettings = WebhookSettings()
    conversation: ConversationSettings = ConversationSettings()
    outbox: OutboxSettings = OutboxSettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("XIAOYOU_CONFIG") or str(DEFAULT_CONFIG_FILE)
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.environment != "production":
            return self
        if self.wechat.message_mode == "plaintext":
            raise ValueError("wechat.message_mode: plaintext is refused in production; use safe")
        for key in ("wechat.appid", "wechat.secret", "wechat.token", "wechat.aes_key", "database.url", "redis.url"):
            if not self.get(key):
                raise ValueError(f"{key}: required in production")
        return self

    def get(self, dotted: str) -> Any:
        value: Any = self
        for part in dotted.split("."):
            value = getattr(value, part)
        return value

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.var_dir / 'xiaoyou.db'}"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis.url

    def masked(self) -> dict[str, Any]:
        """The effective settings as a dict, every secret (and any password in a URL) masked."""
        data = self.model_dump(mode="json")
        for key in SECRET_KEYS:
            section, name = key.split(".")
            if data[section][name]:
                data[section][name] = "****" + data[section][name][-2:] if len(data[section][name]) > 8 else "****"
        for section in ("database", "redis"):
            data[section]["url"] = _mask_url_password(data[section]["url"])
        return data


def _mask_url_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}"


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (check the spelling against config.yaml)")
        elif not key:  # a rule across keys: its message already names them
            lines.append(f"  {message}")
        elif isinstance(err.get("input"), (str, int, float)) and not any(s in key for s in _SENSITIVE):
            lines.append(f"  {key}: {message} (got {err['input']!r})")
        else:
            lines.append(f"  {key}: {message}")
    return "invalid configuration:\n" + "\n".join(lines)


_SENSITIVE = ("secret", "token", "aes_key", "url")


def _dev_credentials(var_dir: Path) -> dict[str, dict[str, str]]:
    """Random WeChat credentials for development, created once and kept in var/ so every process agrees."""
    path = var_dir / "dev-credentials.json"
    if path.exists():
        loaded: dict[str, dict[str, str]] = json.loads(path.read_text())
        return loaded
    alphabet = string.ascii_letters + string.digits
    creds = {
        "wechat": {
            "appid": "wx_emulator_oa",
            "secret": "emulator-oa-secret",
            "token": "".join(secrets.choice(alphabet) for _ in range(32)),
            "aes_key": base64.b64encode(secrets.token_bytes(32)).decode()[:43],
        },
        "miniprogram": {"appid": "wx_emulator_mp", "secret": "emulator-mp-secret"},
    }
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(creds, indent=2))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return creds


def load_settings(**overrides: Any) -> Settings:
    """Read, merge and validate the configuration; raise :class:`ConfigError` with every problem listed."""
    env_aliases = {"DATABASE_URL": ("database", "url"), "REDIS_URL": ("redis", "url")}
    for var, (section, key) in env_aliases.items():
        if os.environ.get(var) and key not in overrides.get(section, {}):
            overrides.setdefault(section, {})[key] = os.environ[var]
    try:
        settings = Settings(**overrides)
        if settings.environment == "development":
            generated = _dev_credentials(settings.var_dir)
            filled: dict[str, dict[str, str]] = {}
            for section, values in generated.items():
                current = getattr(settings, section)
                missing = {k: v for k, v in values.items() if not getattr(current, k)}
                if missing:
                    filled[section] = {**current.model_dump(), **missing}
            if filled:
                settings = settings.model_copy(
                    update={s: getattr(settings, s).model_validate(v) for s, v in filled.items()}
                )
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
    return settings
