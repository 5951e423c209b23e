"""wechatpy clients for the official account, configured from settings and sharing one token cache in Redis.

wechatpy hard-codes api.weixin.qq.com for the token endpoint; the subclass below sends every call, the token fetch
included, to ``wechat.api_base_url`` (the local emulator in development and tests). TLS verification is left on.
Doc: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html
"""

from __future__ import annotations

from typing import Any

import redis
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from core.errors import WeChatAPIError
from core.settings import WeChatSettings


class OfficialAccountClient(WeChatClient):
    def __init__(self, settings: WeChatSettings, cache: redis.Redis) -> None:
        super().__init__(
            settings.appid,
            settings.secret,
            session=RedisStorage(cache, prefix="xy:wechatpy"),
            timeout=settings.request_timeout_seconds,
        )
        self.api_root = settings.api_base_url
        self.API_BASE_URL = f"{settings.api_base_url}/cgi-bin/"

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=f"{self.api_root}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class WeChatMessenger:
    """:class:`services.ports.Messenger` over the official account's customer-service message API."""

    def __init__(self, client: OfficialAccountClient) -> None:
        self.client = client

    def send_customer_message(self, openid: str, payload: dict[str, Any]) -> None:
        try:
            if payload["msgtype"] == "text":
                self.client.message.send_text(openid, payload["content"])
            elif payload["msgtype"] == "news":
                self.client.message.send_articles(openid, payload["articles"])
            else:
                raise ValueError(f"unsupported customer message type {payload['msgtype']!r}")
        except WeChatClientException as exc:
            raise WeChatAPIError(int(exc.errcode or -1), str(exc.errmsg or "")) from exc
