"""The mini-program's server-side API: login, phone number, content safety, mini-program codes, subscribe messages.

The ``session_key`` returned by login is handed to the caller for server-side use only: it is never logged
(``Session.__repr__`` hides it) and must never reach a client. Docs:
https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html,
…/user-info/phone-number/getPhoneNumber.html, …/sec-center/sec-check/msgSecCheck.html,
…/qrcode-link/qr-code/getUnlimitedQRCode.html, …/mp-message-management/subscribe-message/sendMessage.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import ValidationFailed, WeChatAPIError, WeChatQuotaExhausted
from wechat.client import GatewayClient
from wechat.limits import RateLimiter

WXACODE_SCENE_MAX = 32
# getwxacodeunlimit accepts these characters in a scene.
WXACODE_SCENE_CHARS = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]*$")


@dataclass(frozen=True)
class Session:
    openid: str
    unionid: str | None
    session_key: str = field(repr=False)


@dataclass(frozen=True)
class PhoneNumber:
    phone: str  # with the country code for numbers outside China
    pure: str
    country_code: str


@dataclass(frozen=True)
class SafetyVerdict:
    suggest: Literal["pass", "review", "risky"]
    label: int


class MiniProgram:
    def __init__(self, client: GatewayClient, limits: RateLimiter) -> None:
        self.client = client
        self.limits = limits

    def _call(self, family: str, method: str, endpoint: str, **kwargs: Any) -> Any:
        self.limits.acquire(family)
        try:
            return self.client._request(method, endpoint, **kwargs)
        except WeChatQuotaExhausted:
            self.limits.pause(family)
            raise

    def code_to_session(self, code: str) -> Session:
        """Exchange a ``wx.login`` code (single use, 5 minutes) for the user's identity. 40029/40163 →
        :class:`core.errors.InvalidLoginCode`."""
        if not code or len(code) > 128:
            raise ValidationFailed("a wx.login code is required")
        params = {
            "appid": self.client.appid,
            "secret": self.client.secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        result = self._call(
            "code2session",
            "get",
            f"{self.client.base_url}/sns/jscode2session",
            params=params,
            needs_token=False,
            idempotent=False,
        )
        return Session(str(result["openid"]), result.get("unionid") or None, str(result["session_key"]))

    def phone_number(self, code: str) -> PhoneNumber:
        """The phone number behind a ``getPhoneNumber`` code (single use, 5 minutes). Not in wechatpy 1.8.18."""
        result = self.client._request(
            "post", f"{self.client.base_url}/wxa/business/getuserphonenumber", data={"code": code}
        )
        info = result["phone_info"]
        return PhoneNumber(str(info["phoneNumber"]), str(info["purePhoneNumber"]), str(info["countryCode"]))

    def check_text(self, content: str, openid: str, scene: int = 2) -> SafetyVerdict:
        """msgSecCheck v2 for user text shown to others (scene 1 profile, 2 comment, 3 forum, 4 social log)."""
        body = {"content": content, "version": 2, "scene": scene, "openid": openid}
        result = self._call(
            "msg_sec_check", "post", f"{self.client.base_url}/wxa/msg_sec_check", data=body, idempotent=True
        )
        verdict = result.get("result") or {}
        return SafetyVerdict(verdict.get("suggest", "review"), int(verdict.get("label", 0)))

    def wxacode(self, scene: str, page: str = "", width: int = 430) -> bytes:
        """A mini-program code (PNG) for ``page`` carrying ``scene``: an opaque handle of at most 32 characters,
        never personal data (anyone who scans it can read it)."""
        if not 1 <= len(scene) <= WXACODE_SCENE_MAX or not WXACODE_SCENE_CHARS.match(scene):
            raise ValidationFailed(f"a mini-program code scene is 1 to {WXACODE_SCENE_MAX} URL-safe characters")
        body: dict[str, Any] = {"scene": scene, "width": width}
        if page:
            body["page"] = page
        result = self._call(
            "wxacode", "post", f"{self.client.base_url}/wxa/getwxacodeunlimit", data=body, idempotent=True
        )
        content = getattr(result, "content", None)
        if not isinstance(content, bytes) or not content.startswith(b"\x89PNG"):
            raise WeChatAPIError(-1, "getwxacodeunlimit did not return a PNG")
        return content

    def send_subscribe_message(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> None:
        """A one-time subscribe message; 43101 (no consent left) → :class:`core.errors.NoSubscribeConsent`."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if page:
            body["page"] = page
        self._call("subscribe", "post", "message/subscribe/send", data=body)
