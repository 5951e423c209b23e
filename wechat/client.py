"""wechatpy clients wired to our token store, retries and error types.

wechatpy builds and parses the API calls. We take over three things it does differently from what WeChat requires:
- the access token comes from :class:`wechat.tokens.TokenStore` (shared, single-flight), and wechatpy's own
  fetch (hard-wired to api.weixin.qq.com) and its recursive retry on 40001 are switched off;
- on 40001/40014/42001 the failed token is replaced once and the call is retried once, never more;
- errcode -1 and network errors get a bounded retry with jitter; a request that may have reached WeChat is
  retried only when the call is idempotent (reads, or sends that carry an idempotency key).
Every call goes to ``wechat.api_base_url``; TLS verification is never turned off.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from core.errors import WeChatUnavailable
from wechat.errors import INVALID_TOKEN, SYSTEM_BUSY, map_error
from wechat.tokens import Fetched, TokenStore

log = logging.getLogger(__name__)
POOL_SIZE = 64  # pooled connections per host (the sender runs up to broadcasts.send_concurrency = 64 threads)


def fetch_token(http: requests.Session, base_url: str, appid: str, secret: str, *, stable: bool, timeout: float) -> Any:
    """A token fetcher for :class:`TokenStore`: classic ``/cgi-bin/token`` or ``/cgi-bin/stable_token``."""

    def fetch(force_refresh: bool) -> Fetched:
        try:
            if stable:
                body = {
                    "grant_type": "client_credential",
                    "appid": appid,
                    "secret": secret,
                    "force_refresh": force_refresh,
                }
                response = http.post(f"{base_url}/cgi-bin/stable_token", json=body, timeout=timeout)
            else:
                params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
                response = http.get(f"{base_url}/cgi-bin/token", params=params, timeout=timeout)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise WeChatUnavailable(-1, f"token fetch failed: {type(exc).__name__}") from exc
        if data.get("errcode"):
            raise map_error(int(data["errcode"]), str(data.get("errmsg", "")))
        return Fetched(str(data["access_token"]), int(data.get("expires_in", 7200)))

    return fetch


class GatewayClient(WeChatClient):
    """wechatpy's client for one account (official account or mini-program), with our token handling."""

    def __init__(
        self, appid: str, secret: str, *, base_url: str, tokens: TokenStore, timeout: float, transient_retries: int
    ) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        # wechatpy's one requests.Session serves every thread of the process (a broadcast's sender threads too):
        # keep enough pooled keep-alive connections for them, rather than requests' default of 10.
        self._http.mount("https://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE))
        self._http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE))
        self.API_BASE_URL = f"{base_url}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{base_url}/"
        self.base_url = base_url
        self.tokens = tokens
        self.transient_retries = transient_retries

    @property
    def access_token(self) -> str:
        return self.tokens.get()

    def fetch_access_token(self) -> Any:
        raise RuntimeError("tokens come from the shared TokenStore")  # wechatpy must never fetch on its own

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        needs_token = kwargs.pop("needs_token", True)
        idempotent = kwargs.pop("idempotent", method.lower() == "get")
        retries_left = self.transient_retries
        token_replaced = False
        token: str | None = self.tokens.get() if needs_token else None
        while True:
            params = dict(kwargs.get("params") or {})
            params["access_token"] = token  # None: requests leaves it out, and wechatpy does not add its own
            try:
                return super()._request(method, url_or_endpoint, **{**kwargs, "params": params})
            except WeChatClientException as exc:
                errcode = None if exc.errcode is None else int(exc.errcode)
                if errcode in INVALID_TOKEN and token is not None and not token_replaced:
                    token_replaced = True  # once: a second invalid-token answer is an error, not a loop
                    log.info("WeChat refused the access token (errcode %s): replacing it once", errcode)
                    token = self.tokens.replace_failed(token)
                    continue
                transient = errcode == SYSTEM_BUSY or (errcode is None and idempotent)
                if transient and retries_left > 0:
                    retries_left = self._backoff(retries_left)
                    continue
                if errcode is None:
                    raise WeChatUnavailable(-1, "WeChat answered with an HTTP error") from exc
                raise map_error(errcode, str(exc.errmsg or ""), _body(exc)) from exc
            except requests.ConnectionError as exc:
                # A refused connection never reached WeChat, so even a send is safe to repeat.
                reached = not _refused(exc)
                if retries_left > 0 and (idempotent or not reached):
                    retries_left = self._backoff(retries_left)
                    continue
                raise WeChatUnavailable(-1, f"network error: {type(exc).__name__}") from exc
            except requests.Timeout as exc:
                if idempotent and retries_left > 0:
                    retries_left = self._backoff(retries_left)
                    continue
                raise WeChatUnavailable(-1, "WeChat did not answer in time") from exc

    def _backoff(self, retries_left: int) -> int:
        attempt = self.transient_retries - retries_left
        time.sleep(random.uniform(0.05, 0.25) * (2**attempt))  # noqa: S311 - jitter, not cryptography
        return retries_left - 1


def _body(exc: WeChatClientException) -> dict[str, object]:
    try:
        data = exc.response.json() if exc.response is not None else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _refused(exc: requests.ConnectionError) -> bool:
    """True when the request cannot have reached WeChat (the connection was never made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "NameResolutionError" in text
