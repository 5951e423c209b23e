"""WeChat errcodes → our error types. The one place that knows what a Tencent errcode means.

Docs: https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
"""

from __future__ import annotations

from core.errors import (
    CustomerServiceQuotaUsed,
    CustomerServiceWindowClosed,
    InvalidLoginCode,
    InvalidOpenId,
    NoSubscribeConsent,
    NotSubscribed,
    WeChatAPIError,
    WeChatQuotaExhausted,
    WeChatRateLimited,
)

# The access token is wrong, invalid or expired: refresh once and retry once.
INVALID_TOKEN = frozenset({40001, 40014, 42001})
SYSTEM_BUSY = -1

_BY_CODE: dict[int, type[WeChatAPIError]] = {
    45009: WeChatQuotaExhausted,
    45011: WeChatRateLimited,
    45015: CustomerServiceWindowClosed,
    45047: CustomerServiceQuotaUsed,
    40003: InvalidOpenId,
    43004: NotSubscribed,
    43101: NoSubscribeConsent,
    45066: WeChatRateLimited,  # the same clientmsgid again within a minute: the first send was accepted
    40029: InvalidLoginCode,
    40163: InvalidLoginCode,
}


def map_error(errcode: int, errmsg: str = "", data: dict[str, object] | None = None) -> WeChatAPIError:
    return _BY_CODE.get(errcode, WeChatAPIError)(errcode, errmsg, data)
