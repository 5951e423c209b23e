"""Followers and tags: list paging, user info, tag limits, batch tagging."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.testing import RunningEmulator, openid


def pages(emulator: RunningEmulator, token: str) -> list[dict[str, Any]]:
    """Every user/get page, following next_openid until a page comes back empty."""
    found, next_openid = [], ""
    while True:
        page = emulator.get("/cgi-bin/user/get", access_token=token, next_openid=next_openid)
        found.append(page)
        if page["count"] == 0:
            return found
        next_openid = page["next_openid"]


def test_user_list_pages_like_wechat(emulator: RunningEmulator) -> None:
    emulator.configure(user_list_page=3)
    users = [openid(n) for n in range(7)]
    emulator.add_followers(*users[:4])
    emulator.add_followers(openid(99), subscribe=False)
    emulator.add_followers(*users[4:])
    token = emulator.token()
    got = pages(emulator, token)
    assert [p["count"] for p in got] == [3, 3, 1, 0]
    assert {p["total"] for p in got} == {7}
    assert [o for p in got[:-1] for o in p["data"]["openid"]] == users
    # As in WeChat, the last page still names a next_openid; the page after it has no data and an empty one.
    assert got[2]["next_openid"] == users[-1]
    assert "data" not in got[3] and got[3]["next_openid"] == ""
    assert emulator.get("/cgi-bin/user/get", access_token=token, next_openid="oUnknown")["errcode"] == 40003


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(0, 23), page_size=st.integers(1, 8))
def test_user_list_paging_returns_every_follower_once(emulator: RunningEmulator, count: int, page_size: int) -> None:
    emulator.control("POST", "/reset")
    emulator.configure(user_list_page=page_size)
    emulator.control("POST", "/users", {"generate": {"count": count, "prefix": "oGen"}})
    got = pages(emulator, emulator.token())
    listed = [o for p in got for o in p.get("data", {}).get("openid", [])]
    assert listed == [openid(n, "oGen") for n in range(count)]
    assert all(p["count"] <= page_size for p in got)


def test_user_info_and_batchget(emulator: RunningEmulator) -> None:
    emulator.add_followers(
        openid(1), unionid="uAlumnus1", subscribe_scene="ADD_SCENE_QR_CODE", qr_scene_str="class-2010", nickname="Li"
    )
    emulator.add_followers(openid(2), subscribe=False)
    token = emulator.token()
    info = emulator.get("/cgi-bin/user/info", access_token=token, openid=openid(1), lang="zh_CN")
    assert info["subscribe"] == 1 and info["unionid"] == "uAlumnus1"
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE" and info["qr_scene_str"] == "class-2010"
    assert info["tagid_list"] == [] and info["language"] == "zh_CN" and isinstance(info["subscribe_time"], int)
    assert "nickname" not in info  # WeChat stopped returning nicknames in 2021

    batch = {"user_list": [{"openid": openid(1), "lang": "zh_CN"}, {"openid": openid(2)}]}
    infos = emulator.post("/cgi-bin/user/info/batchget", batch, access_token=token)["user_info_list"]
    assert [(i["openid"], i["subscribe"]) for i in infos] == [(openid(1), 1), (openid(2), 0)]
    assert set(infos[1]) == {"subscribe", "openid"}

    too_many = {"user_list": [{"openid": openid(1)}] * 101}
    assert emulator.post("/cgi-bin/user/info/batchget", too_many, access_token=token)["errcode"] == 40032
    unknown = {"user_list": [{"openid": "oNobody"}]}
    assert emulator.post("/cgi-bin/user/info/batchget", unknown, access_token=token)["errcode"] == 40003


def create_tag(emulator: RunningEmulator, token: str, name: str) -> dict[str, Any]:
    return emulator.post("/cgi-bin/tags/create", {"tag": {"name": name}}, access_token=token)


def test_account_tag_limit_45056(emulator: RunningEmulator) -> None:
    emulator.configure(tags_max=3)
    token = emulator.token()
    ids = [create_tag(emulator, token, f"Class of {2000 + n}")["tag"]["id"] for n in range(3)]
    assert ids == [100, 101, 102]
    assert create_tag(emulator, token, "one too many")["errcode"] == 45056
    tags = emulator.get("/cgi-bin/tags/get", access_token=token)["tags"]
    assert [t["name"] for t in tags] == ["Class of 2000", "Class of 2001", "Class of 2002"]

    deleted = emulator.post("/cgi-bin/tags/delete", {"tag": {"id": 100}}, access_token=token)
    assert deleted["errcode"] == 0
    assert "tag" in create_tag(emulator, token, "room again")
    emulator.configure(tags_max=10)
    assert create_tag(emulator, token, "Class of 2001")["errcode"] == 45157  # duplicate name
    assert create_tag(emulator, token, "x" * 31)["errcode"] == 45158


def test_system_tags_cannot_be_renamed_or_deleted_45058(emulator: RunningEmulator) -> None:
    token = emulator.token()
    tag_id = create_tag(emulator, token, "Class of 1999")["tag"]["id"]
    for system_id in (0, 1, 2):
        rename = {"tag": {"id": system_id, "name": "mine now"}}
        assert emulator.post("/cgi-bin/tags/update", rename, access_token=token)["errcode"] == 45058
        assert emulator.post("/cgi-bin/tags/delete", {"tag": {"id": system_id}}, access_token=token)["errcode"] == 45058
    assert emulator.post("/cgi-bin/tags/delete", {"tag": {"id": 999}}, access_token=token)["errcode"] == 45159
    renamed = emulator.post("/cgi-bin/tags/update", {"tag": {"id": tag_id, "name": "1999 届"}}, access_token=token)
    assert renamed["errcode"] == 0
    assert [t["name"] for t in emulator.get("/cgi-bin/tags/get", access_token=token)["tags"]] == ["1999 届"]


def test_batch_tagging_limits_and_atomicity(emulator: RunningEmulator) -> None:
    emulator.configure(tags_per_user=2)
    busy, fresh = openid(1), openid(2)
    emulator.add_followers(busy, fresh)
    token = emulator.token()
    t1, t2, t3 = (create_tag(emulator, token, name)["tag"]["id"] for name in ("a", "b", "c"))
    tagging = "/cgi-bin/tags/members/batchtagging"
    assert emulator.post(tagging, {"openid_list": [busy], "tagid": t1}, access_token=token)["errcode"] == 0
    assert emulator.post(tagging, {"openid_list": [busy], "tagid": t2}, access_token=token)["errcode"] == 0
    third = emulator.post(tagging, {"openid_list": [fresh, busy], "tagid": t3}, access_token=token)
    assert third["errcode"] == 45059
    # Nothing changed for anyone in the rejected call.
    idlist = emulator.post("/cgi-bin/tags/getidlist", {"openid": fresh}, access_token=token)
    assert idlist["tagid_list"] == []

    emulator.control("POST", "/users", {"generate": {"count": 51, "prefix": "oMany"}})
    many = [openid(n, "oMany") for n in range(51)]
    assert emulator.post(tagging, {"openid_list": many, "tagid": t3}, access_token=token)["errcode"] == 40032
    assert emulator.post(tagging, {"openid_list": many[:50], "tagid": t3}, access_token=token)["errcode"] == 0
    assert emulator.post(tagging, {"openid_list": [fresh], "tagid": 999}, access_token=token)["errcode"] == 45159


def test_users_of_a_tag_and_untagging(emulator: RunningEmulator) -> None:
    users = [openid(n) for n in range(3)]
    emulator.add_followers(*users)
    token = emulator.token()
    tag = create_tag(emulator, token, "Beijing chapter")["tag"]["id"]
    emulator.post("/cgi-bin/tags/members/batchtagging", {"openid_list": users, "tagid": tag}, access_token=token)
    untag = {"openid_list": [users[1]], "tagid": tag}
    assert emulator.post("/cgi-bin/tags/members/batchuntagging", untag, access_token=token)["errcode"] == 0
    members = emulator.post("/cgi-bin/user/tag/get", {"tagid": tag, "next_openid": ""}, access_token=token)
    assert members["count"] == 2 and members["data"]["openid"] == [users[0], users[2]]
    counts = {t["id"]: t["count"] for t in emulator.get("/cgi-bin/tags/get", access_token=token)["tags"]}
    assert counts[tag] == 2
