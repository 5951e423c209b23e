"""Mini-program server APIs: login, phone number, unlimited mini-program codes, text content safety.

- code2Session (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html): a
  ``wx.login`` code works once within 5 minutes; unknown or expired → 40029, already used → 40163; 100 calls a
  minute per user → 45011. Takes appid and secret, no access token. A fresh session_key on every login.
- getPhoneNumber (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-info/phone-number/getPhoneNumber.html):
  a phone code works once within 5 minutes; otherwise 40029.
- getUnlimitedQRCode (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/qr-code/getUnlimitedQRCode.html):
  scene is 1–32 visible characters from ``[0-9A-Za-z!#$&'()*+,/:;=?@-._~]`` (else 40169); page has no leading ``/``
  and no query (else 41030); 5,000 a minute, answered with 45009 as that page documents. Success is image bytes,
  errors are JSON.
- msgSecCheck (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/sec-center/sec-check/msgSecCheck.html):
  version 2 needs openid and scene 1–4 and answers ``result.suggest`` pass / review / risky; version 1 answers 87014
  for risky text. The verdict comes from the configured word lists. 4,000 a minute.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from flask import Blueprint, Response, request

from emulator.common import as_int, as_str, get_state, ok, read_json, token_arg
from emulator.errors import WxError, request_id
from emulator.png import code_png
from emulator.state import MiniUser

bp = Blueprint("emulator_mp", __name__)

SCENE_CHARS = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+$")
LABEL_PASS = 100
LABEL_OTHER = 21000


@bp.get("/sns/jscode2session")
def jscode2session() -> dict[str, Any]:
    state = get_state()
    args = request.args
    with state.lock:
        cfg = state.config
        account = state.check_credentials(args.get("appid"), args.get("secret"))
        if account.kind != "mp":
            raise WxError(40013)
        if args.get("grant_type") != "authorization_code":
            raise WxError(40002)
        js_code = args.get("js_code")
        if not js_code:
            raise WxError(41008)
        code = state.login_codes.get(js_code)
        if code is None:
            raise WxError(40029)
        if code.used:
            raise WxError(40163)
        if state.now() - code.issued_at > cfg.login_code_ttl_seconds:
            raise WxError(40029)
        openid = str(code.payload["openid"])
        if not state.take_window(("jscode2session", openid), cfg.jscode2session_per_user_per_minute):
            raise WxError(45011)
        code.used = True
        user = state.mini_users.setdefault(openid, MiniUser(openid, code.payload.get("unionid")))
        user.session_key = base64.b64encode(secrets.token_bytes(16)).decode()
        result = {"openid": openid, "session_key": user.session_key}
        if user.unionid:
            result["unionid"] = user.unionid
        return result


@bp.post("/wxa/business/getuserphonenumber")
def get_user_phone_number() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        account = state.authorize(token_arg(), "mp")
        code = state.phone_codes.get(as_str(body.get("code")) or "")
        if code is None or code.used or state.now() - code.issued_at > state.config.phone_code_ttl_seconds:
            raise WxError(40029)
        code.used = True
        pure = str(code.payload["phone"])
        country = str(code.payload["country_code"])
        phone_info = {
            # "用户绑定的手机号（国外手机号会有区号）"
            "phoneNumber": pure if country == "86" else f"+{country}{pure}",
            "purePhoneNumber": pure,
            "countryCode": country,
            "watermark": {"timestamp": int(state.now()), "appid": account.appid},
        }
        return ok(phone_info=phone_info)


@bp.post("/wxa/getwxacodeunlimit")
def get_wxacode_unlimit() -> Response:
    state = get_state()
    body = read_json()
    with state.lock:
        cfg = state.config
        state.authorize(token_arg(), "mp")
        if not state.take_window(("wxacode",), cfg.wxacode_per_minute):
            raise WxError(45009)
        scene = body.get("scene")
        if not isinstance(scene, str) or len(scene) > cfg.wxacode_scene_max or not SCENE_CHARS.match(scene):
            raise WxError(40169)
        page = body.get("page", "")
        if not isinstance(page, str) or page.startswith("/") or "?" in page:
            raise WxError(41030)
        if page and body.get("check_path", True) is not False and cfg.mp_pages and page not in cfg.mp_pages:
            raise WxError(41030)
        env_version = body.get("env_version", "release")
        if env_version not in ("release", "trial", "develop"):
            raise WxError(40097)
    png = code_png({"scene": scene, "page": page, "env_version": str(env_version)})
    return Response(png, mimetype="image/png")


@bp.post("/wxa/msg_sec_check")
def msg_sec_check() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        cfg = state.config
        state.authorize(token_arg(), "mp")
        if not state.take_window(("msg_sec_check",), cfg.msg_sec_check_per_minute):
            raise WxError(45011)
        content = body.get("content")
        if not isinstance(content, str):
            raise WxError(47001)
        risky = next((w for w in cfg.risky_words if w and w in content), None)
        review = next((w for w in cfg.review_words if w and w in content), None)
        if as_int(body.get("version")) != 2:
            if risky or review:
                raise WxError(87014)
            return ok()
        if not as_str(body.get("openid")):
            raise WxError(40003)
        if as_int(body.get("scene")) not in (1, 2, 3, 4):
            raise WxError(40097)
        suggest, label, keyword = "pass", LABEL_PASS, ""
        if risky:
            suggest, label, keyword = "risky", LABEL_OTHER, risky
        elif review:
            suggest, label, keyword = "review", LABEL_OTHER, review
        detail: dict[str, Any] = {"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label}
        if keyword:
            detail["keyword"] = keyword
            detail["level"] = 90
        return ok(result={"suggest": suggest, "label": label}, detail=[detail], trace_id=request_id())
