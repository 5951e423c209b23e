"""Access tokens: ``GET /cgi-bin/token`` and ``POST /cgi-bin/stable_token``.

- getAccessToken (https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html): every
  call mints a new token; the previous one keeps working for the 5-minute overlap, then answers 40001. 2,000 fetches
  a day, then 45009.
- getStableAccessToken (https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html):
  isolated from the former. Normal mode returns the current token with its remaining lifetime, and renews it during
  its last 5 minutes (both stay valid meanwhile); force_refresh kills the current token at once, at most 20 times a
  day and 30 s apart. 10,000 calls a minute.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from emulator.common import get_state, read_json
from emulator.errors import WxError

bp = Blueprint("emulator_auth", __name__)


@bp.get("/cgi-bin/token")
def get_access_token() -> dict[str, Any]:
    state = get_state()
    args = request.args
    with state.lock:
        if args.get("grant_type") != "client_credential":
            raise WxError(40002)
        account = state.check_credentials(args.get("appid"), args.get("secret"))
        if not state.take_daily(("token", account.appid), state.config.token_fetches_per_day):
            raise WxError(45009)
        token = state.issue_token(account.appid, stable=False)
        return {"access_token": token.value, "expires_in": state.config.token_lifetime_seconds}


@bp.post("/cgi-bin/stable_token")
def get_stable_access_token() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        cfg = state.config
        if body.get("grant_type") != "client_credential":
            raise WxError(40002)
        appid, secret = body.get("appid"), body.get("secret")
        account = state.check_credentials(
            appid if isinstance(appid, str) else None, secret if isinstance(secret, str) else None
        )
        if not state.take_window(("stable_token", account.appid), cfg.stable_token_per_minute):
            raise WxError(45011)
        if not state.take_daily(("stable_token", account.appid), cfg.stable_token_per_day):
            raise WxError(45009)
        now = state.now()
        if body.get("force_refresh") is True:
            last = state.last_force_refresh.get(account.appid)
            if last is not None and now - last < cfg.stable_force_refresh_interval_seconds:
                raise WxError(45011)
            if not state.take_daily(("stable_force_refresh", account.appid), cfg.stable_force_refresh_per_day):
                raise WxError(45009)
            state.last_force_refresh[account.appid] = now
            token = state.issue_token(account.appid, stable=True, overlap=False)
        else:
            current = state.tokens.get(state.current_token.get((account.appid, True), ""))
            usable = current is not None and current.revoked_at is None
            if current is not None and usable and current.expires_at - now > cfg.token_overlap_seconds:
                token = current
            else:
                # No token yet, or it is in its last 5 minutes: renew; the old one lives out its overlap.
                token = state.issue_token(account.appid, stable=True)
        return {"access_token": token.value, "expires_in": int(token.expires_at - now)}
