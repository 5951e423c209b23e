"""Every limit and identity the emulator plays by, as one typed dataclass with WeChat's documented defaults.

The defaults are the figures WeChat documents for its quotas and limits; tests shrink them to reach a limit in a
handful of calls. The emulator never hard-codes a limit anywhere else: handlers read them
from the live config, which ``PUT /_emulator/config`` can change at run time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

MODES = ("safe", "compatible", "plaintext")


@dataclass
class EmulatorConfig:
    # --- accounts: one official account (公众号) and one mini-program (小程序) ---
    oa_appid: str = "wx_emulator_oa"
    oa_secret: str = "emulator-oa-secret"
    # The account's original id (gh_...): WeChat puts it in ToUserName of every push.
    oa_original_id: str = "gh_emulator_oa"
    mp_appid: str = "wx_emulator_mp"
    mp_secret: str = "emulator-mp-secret"

    # --- the official account's webhook, as configured on WeChat's side ---
    webhook_url: str = ""
    token: str = "emulator-token"
    # 43 characters of base64, like the EncodingAESKey the console generates.
    aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    mode: str = "safe"
    # https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html :
    # no answer in 5 s → WeChat drops the connection and retries, three times in all.
    push_timeout_seconds: float = 5.0
    push_retries: int = 2
    # Push TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH after a send.
    push_job_events: bool = True

    # --- access token: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html ---
    token_lifetime_seconds: int = 7200
    token_overlap_seconds: int = 300
    token_fetches_per_day: int = 2000
    # https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
    stable_token_per_minute: int = 10000
    stable_token_per_day: int = 500000
    stable_force_refresh_per_day: int = 20
    stable_force_refresh_interval_seconds: int = 30

    # --- customer-service messages: 5 within 48 h of a user message; 3 within 1 min of a click/subscribe/scan ---
    # https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
    cs_message_window_seconds: int = 48 * 3600
    cs_messages_per_user_message: int = 5
    cs_event_window_seconds: int = 60
    cs_messages_per_event: int = 3
    # A text's content: about 2,048 bytes of UTF-8, like a passive reply (45002 "content size out of limit" above).
    cs_text_max_bytes: int = 2048

    # --- template messages: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
    template_per_day: int = 100000
    template_dedupe_seconds: int = 600
    # Template ids the account owns; empty accepts any id.
    template_ids: tuple[str, ...] = ()

    # --- mass send (群发): https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html
    mass_calls_per_day: int = 100
    mass_calls_per_minute: int = 60
    mass_per_user_per_month: int = 4
    mass_dedupe_seconds: int = 24 * 3600
    # A repeat of a clientmsgid sooner than this gets 45066 ("retry too fast") rather than 45065.
    mass_dedupe_retry_seconds: int = 60
    mass_clientmsgid_max_bytes: int = 64
    # "如不填，则后台默认以群发范围和群发内容的摘要值做为clientmsgid": without a clientmsgid, the same content to
    # the same audience within 24 h is a duplicate too.
    mass_default_clientmsgid: bool = True
    mass_preview_per_day: int = 100
    mass_openids_min: int = 2
    mass_openids_max: int = 10000

    # --- tags and users: https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html
    tags_max: int = 100
    tags_per_user: int = 20
    tag_batch_max: int = 50
    tag_name_max_bytes: int = 30
    tag_delete_max_fans: int = 100_000  # tags/delete answers 45057 above this many fans
    user_list_page: int = 10000
    user_batch_max: int = 100

    # --- QR codes: https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
    qr_default_expire_seconds: int = 60
    qr_max_expire_seconds: int = 2592000
    qr_scene_str_max: int = 64
    qr_limit_scene_id_max: int = 100000

    # --- emulator bookkeeping: deliveries kept for /_emulator/deliveries (older ones are dropped, still counted) ---
    deliveries_kept: int = 200000

    # --- media: temporary material lives 3 days ---
    media_ttl_seconds: int = 3 * 24 * 3600

    # --- mini-program ---
    # https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
    login_code_ttl_seconds: int = 300
    jscode2session_per_user_per_minute: int = 100
    # https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-info/phone-number/getPhoneNumber.html
    phone_code_ttl_seconds: int = 300
    # https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/qr-code/getUnlimitedQRCode.html
    wxacode_per_minute: int = 5000
    wxacode_scene_max: int = 32
    # Published pages; empty means every page exists (check_path cannot fail).
    mp_pages: tuple[str, ...] = ()
    # https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/sec-center/sec-check/msgSecCheck.html
    msg_sec_check_per_minute: int = 4000
    risky_words: tuple[str, ...] = ("赌博", "博彩", "代开发票", "emulator-risky")
    review_words: tuple[str, ...] = ("emulator-review",)

    def updated(self, changes: dict[str, Any]) -> EmulatorConfig:
        """A copy with ``changes`` applied; raises ``ValueError`` naming the first unknown or mistyped key."""
        names = {f.name for f in dataclasses.fields(self)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown config key {key!r}")
            clean[key] = _coerce(key, getattr(self, key), value)
        new = dataclasses.replace(self, **clean)
        new.validate()
        return new

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if len(self.aes_key) != 43:
            raise ValueError("aes_key must be 43 characters (an EncodingAESKey)")

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _coerce(key: str, current: Any, value: Any) -> Any:
    """Check ``value`` against the type of the current value (the dataclass holds only simple types)."""
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be a boolean")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be a number")
        return float(value)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        return value
    if isinstance(current, tuple):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{key} must be a list of strings")
        return tuple(value)
    raise ValueError(f"{key} cannot be changed")
