"""Mini-program APIs: wx.login codes, phone codes, mini-program codes, text content safety."""

from __future__ import annotations

import requests

from emulator.png import read_text_chunks
from emulator.testing import RunningEmulator

MINI_USER = "oMini000000000000000000000001"


def code2session(emulator: RunningEmulator, code: str, secret: str | None = None) -> dict[str, object]:
    cfg = emulator.config
    return emulator.get(
        "/sns/jscode2session",
        appid=cfg.mp_appid,
        secret=secret or cfg.mp_secret,
        js_code=code,
        grant_type="authorization_code",
    )


def test_login_code_is_single_use_and_short_lived(emulator: RunningEmulator) -> None:
    code = emulator.login_code(MINI_USER, unionid="uAlumnus1")
    session = code2session(emulator, code)
    assert session["openid"] == MINI_USER and session["unionid"] == "uAlumnus1"
    assert isinstance(session["session_key"], str) and len(session["session_key"]) == 24
    assert "errcode" not in session

    assert code2session(emulator, code)["errcode"] == 40163  # used
    assert code2session(emulator, "never-issued")["errcode"] == 40029
    stale = emulator.login_code(MINI_USER)
    emulator.advance(301)
    assert code2session(emulator, stale)["errcode"] == 40029  # older than 5 minutes

    fresh = emulator.login_code(MINI_USER)
    assert code2session(emulator, fresh, secret="wrong")["errcode"] == 40125
    cfg = emulator.config
    as_oa = emulator.get(
        "/sns/jscode2session", appid=cfg.oa_appid, secret=cfg.oa_secret, js_code=fresh, grant_type="authorization_code"
    )
    assert as_oa["errcode"] == 40013
    assert code2session(emulator, fresh)["openid"] == MINI_USER  # the failed calls did not use it up


def test_code2session_limited_per_user_per_minute(emulator: RunningEmulator) -> None:
    emulator.configure(jscode2session_per_user_per_minute=2)
    results = [code2session(emulator, emulator.login_code(MINI_USER)) for _ in range(3)]
    assert ["errcode" in r for r in results] == [False, False, True]
    assert results[2]["errcode"] == 45011
    assert "openid" in code2session(emulator, emulator.login_code("oMini000000000000000000000002"))
    emulator.advance(60)
    assert "openid" in code2session(emulator, emulator.login_code(MINI_USER))


def test_phone_code_single_use(emulator: RunningEmulator) -> None:
    token = emulator.token("mp")
    code = emulator.control("POST", "/phone_codes", {"phone": "13800138000"})["code"]
    url = "/wxa/business/getuserphonenumber"
    info = emulator.post(url, {"code": code}, access_token=token)["phone_info"]
    assert info["phoneNumber"] == info["purePhoneNumber"] == "13800138000"
    assert info["countryCode"] == "86" and info["watermark"]["appid"] == emulator.config.mp_appid
    assert emulator.post(url, {"code": code}, access_token=token)["errcode"] == 40029

    hk = emulator.control("POST", "/phone_codes", {"phone": "61234567", "country_code": "852"})["code"]
    assert emulator.post(url, {"code": hk}, access_token=token)["phone_info"]["phoneNumber"] == "+85261234567"
    late = emulator.control("POST", "/phone_codes", {"phone": "13800138000"})["code"]
    emulator.advance(301)
    assert emulator.post(url, {"code": late}, access_token=token)["errcode"] == 40029


def test_wxacode_unlimit_returns_a_png_and_checks_scene(emulator: RunningEmulator) -> None:
    token = emulator.token("mp")
    url = f"{emulator.url}/wxa/getwxacodeunlimit"
    response = requests.post(
        url, params={"access_token": token}, json={"scene": "c=AbC123", "page": "pages/card/i"}, timeout=10
    )
    assert response.headers["Content-Type"] == "image/png"
    assert read_text_chunks(response.content) == {"scene": "c=AbC123", "page": "pages/card/i", "env_version": "release"}

    def errcode(body: dict[str, object]) -> int:
        result: int = emulator.post("/wxa/getwxacodeunlimit", body, access_token=token)["errcode"]
        return result

    assert errcode({"scene": "x" * 33}) == 40169
    assert errcode({"scene": "身份证"}) == 40169
    assert errcode({"scene": "ok", "page": "/pages/card/i"}) == 41030
    emulator.configure(mp_pages=["pages/card/i"], wxacode_per_minute=1)
    assert errcode({"scene": "ok", "page": "pages/missing"}) == 45009  # the minute's single call was used above
    emulator.advance(60)
    assert errcode({"scene": "ok", "page": "pages/missing"}) == 41030


def test_msg_sec_check(emulator: RunningEmulator) -> None:
    token = emulator.token("mp")
    url = "/wxa/msg_sec_check"
    base = {"version": 2, "scene": 2, "openid": MINI_USER}
    passed = emulator.post(url, {**base, "content": "see you at the reunion"}, access_token=token)
    assert passed["errcode"] == 0 and passed["result"] == {"suggest": "pass", "label": 100}
    risky = emulator.post(url, {**base, "content": "网上赌博"}, access_token=token)
    assert risky["result"]["suggest"] == "risky" and risky["detail"][0]["keyword"] == "赌博"
    review = emulator.post(url, {**base, "content": "emulator-review me"}, access_token=token)
    assert review["result"]["suggest"] == "review"
    assert emulator.post(url, {"version": 2, "scene": 2, "content": "x"}, access_token=token)["errcode"] == 40003
    assert emulator.post(url, {"content": "网上赌博"}, access_token=token)["errcode"] == 87014  # version 1
    emulator.configure(risky_words=["reunion"])
    again = emulator.post(url, {**base, "content": "see you at the reunion"}, access_token=token)
    assert again["result"]["suggest"] == "risky"
