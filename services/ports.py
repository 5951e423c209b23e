"""The small interfaces services need from the outside world (implemented in ``wechat/``, or by the emulator)."""

from __future__ import annotations

from typing import Any, Protocol


class Messenger(Protocol):
    """Sends customer-service (客服) messages. Raises ``core.errors.WeChatAPIError`` on a WeChat errcode."""

    def send_customer_message(self, openid: str, payload: dict[str, Any]) -> None: ...
