"""The custom menu, parametric QR codes, temporary media, and WeChat's method errors."""

from __future__ import annotations

from typing import Any

import requests

from emulator.testing import RunningEmulator

MENU: dict[str, Any] = {
    "button": [
        {"type": "click", "name": "校友卡", "key": "CARD"},
        {
            "name": "服务",
            "sub_button": [
                {"type": "view", "name": "官网", "url": "https://alumni.example.edu"},
                {"type": "miniprogram", "name": "小程序", "url": "https://x", "appid": "wx_mp", "pagepath": "pages/i"},
            ],
        },
    ]
}


def test_menu_create_get_delete(emulator: RunningEmulator) -> None:
    token = emulator.token()
    assert emulator.get("/cgi-bin/menu/get", access_token=token)["errcode"] == 46003
    assert emulator.post("/cgi-bin/menu/create", MENU, access_token=token)["errcode"] == 0
    assert emulator.get("/cgi-bin/menu/get", access_token=token)["menu"] == MENU
    info = emulator.get("/cgi-bin/get_current_selfmenu_info", access_token=token)
    assert info["is_menu_open"] == 1
    assert info["selfmenu_info"]["button"][1]["sub_button"]["list"] == MENU["button"][1]["sub_button"]
    assert emulator.get("/cgi-bin/menu/delete", access_token=token)["errcode"] == 0
    assert emulator.get("/cgi-bin/menu/get", access_token=token)["errcode"] == 46003


def test_menu_validation(emulator: RunningEmulator) -> None:
    token = emulator.token()
    click = {"type": "click", "name": "n", "key": "K"}
    assert emulator.post("/cgi-bin/menu/create", {"button": [click] * 4}, access_token=token)["errcode"] == 40016
    six = {"button": [{"name": "more", "sub_button": [click] * 6}]}
    assert emulator.post("/cgi-bin/menu/create", six, access_token=token)["errcode"] == 40023
    bad_type = {"button": [{"type": "teleport", "name": "n"}]}
    assert emulator.post("/cgi-bin/menu/create", bad_type, access_token=token)["errcode"] == 40017
    no_key = {"button": [{"type": "click", "name": "n"}]}
    assert emulator.post("/cgi-bin/menu/create", no_key, access_token=token)["errcode"] == 40019


def test_qrcode_create(emulator: RunningEmulator) -> None:
    token = emulator.token()
    url = "/cgi-bin/qrcode/create"

    def scene(action: str, **scene: object) -> dict[str, object]:
        return {"action_name": action, "action_info": {"scene": scene}}

    temporary = emulator.post(
        url, {**scene("QR_STR_SCENE", scene_str="invite:abc"), "expire_seconds": 3600}, access_token=token
    )
    assert temporary["expire_seconds"] == 3600 and temporary["ticket"] and temporary["url"].startswith("http")
    assert emulator.post(url, scene("QR_SCENE", scene_id=7), access_token=token)["expire_seconds"] == 60
    capped = emulator.post(url, {**scene("QR_SCENE", scene_id=7), "expire_seconds": 10**8}, access_token=token)
    assert capped["expire_seconds"] == 2592000
    permanent = emulator.post(url, scene("QR_LIMIT_STR_SCENE", scene_str="chapter-bj"), access_token=token)
    assert "ticket" in permanent and "expire_seconds" not in permanent

    assert emulator.post(url, scene("QR_STR_SCENE", scene_str="x" * 65), access_token=token)["errcode"] == 40097
    assert emulator.post(url, scene("QR_LIMIT_SCENE", scene_id=100001), access_token=token)["errcode"] == 40097
    assert emulator.post(url, scene("QR_WHATEVER", scene_id=1), access_token=token)["errcode"] == 40097


def test_media_upload_and_get(emulator: RunningEmulator) -> None:
    token = emulator.token()
    upload = f"{emulator.url}/cgi-bin/media/upload"
    files = {"media": ("card.png", b"\x89PNG fake", "image/png")}
    result = requests.post(upload, params={"access_token": token, "type": "image"}, files=files, timeout=10).json()
    assert result["type"] == "image" and isinstance(result["created_at"], int)
    got = requests.get(
        f"{emulator.url}/cgi-bin/media/get", params={"access_token": token, "media_id": result["media_id"]}, timeout=10
    )
    assert got.content == b"\x89PNG fake" and got.headers["Content-Type"] == "image/png"

    thumb = requests.post(upload, params={"access_token": token, "type": "thumb"}, files=files, timeout=10).json()
    assert "thumb_media_id" in thumb
    big = {"media": ("big.png", b"0" * (64 * 1024 + 1), "image/png")}
    too_big = requests.post(upload, params={"access_token": token, "type": "thumb"}, files=big, timeout=10).json()
    assert too_big["errcode"] == 40012
    bad = requests.post(upload, params={"access_token": token, "type": "pdf"}, files=files, timeout=10).json()
    assert bad["errcode"] == 40004
    empty = requests.post(upload, params={"access_token": token, "type": "image"}, timeout=10).json()
    assert empty["errcode"] == 41005

    emulator.advance(3 * 24 * 3600 + 1)  # temporary media lives three days
    token = emulator.token()
    gone = emulator.get("/cgi-bin/media/get", access_token=token, media_id=result["media_id"])
    assert gone["errcode"] == 40007


def test_wrong_method_and_bad_body(emulator: RunningEmulator) -> None:
    token = emulator.token()
    assert emulator.get("/cgi-bin/message/custom/send", access_token=token)["errcode"] == 43002
    response = requests.post(f"{emulator.url}/cgi-bin/user/get", params={"access_token": token}, timeout=10)
    assert response.status_code == 200 and response.json()["errcode"] == 43001
    raw = requests.post(
        f"{emulator.url}/cgi-bin/tags/create", params={"access_token": token}, data=b"{not json", timeout=10
    )
    assert raw.json()["errcode"] == 47001
    empty = requests.post(f"{emulator.url}/cgi-bin/tags/create", params={"access_token": token}, timeout=10)
    assert empty.json()["errcode"] == 44002
    assert requests.get(f"{emulator.url}/cgi-bin/no/such/api", timeout=10).status_code == 404
