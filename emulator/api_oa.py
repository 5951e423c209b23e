"""Official-account management APIs: followers, tags, the menu, parametric QR codes and temporary media.

- Users (https://developers.weixin.qq.com/doc/offiaccount/User_Management/Getting_a_User_List.html): 10,000 openids
  a page; like WeChat, the last page still carries a ``next_openid`` and the page after it has ``count`` 0 and no
  ``data``. Batch info takes at most 100 users. Nicknames and avatars are not returned (WeChat stopped in 2021).
- Tags (https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html): 100 tags per
  account (45056), 20 per user (45059), 50 openids per batch call (40032); a failing batch changes nothing. Deleting
  a tag untags its fans; the system tags (0, 1, 2) cannot be deleted (45058), nor a tag with more than 100,000 fans
  (45057: untag some first).
- Menu (https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html): 1–3
  buttons with at most 5 sub-buttons each.
- QR codes (https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html):
  temporary ones default to 60 s and last at most 30 days; scene_str is 1–64 characters; permanent scene_id ≤ 100000.
- Media (https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html): kept 3 days.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, request

from emulator.common import as_int, as_str, get_state, ok, read_json, token_arg
from emulator.errors import WxError
from emulator.state import EmulatorState, Follower, Media, Tag

bp = Blueprint("emulator_oa", __name__)

SYSTEM_TAG_IDS = (0, 1, 2)
MEDIA_LIMITS = {"image": (10 * 2**20, 40009), "voice": (2 * 2**20, 40010), "video": (10 * 2**20, 40011)}
MEDIA_LIMITS["thumb"] = (64 * 2**10, 40012)
BUTTON_TYPES = {
    "click",
    "view",
    "miniprogram",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "view_limited",
    "article_id",
    "article_view_limited",
}


# --- users ---


def _page(state: EmulatorState, next_openid: str | None, include: Any) -> tuple[list[str], str]:
    """One page of followers after ``next_openid`` (in subscription order) for which ``include`` holds."""
    start = 0
    if next_openid:
        if next_openid not in state.follower_pos:
            raise WxError(40003)
        start = state.follower_pos[next_openid] + 1
    size = state.config.user_list_page
    page: list[str] = []
    order = state.follower_order
    for index in range(start, len(order)):
        follower = state.followers[order[index]]
        if follower.subscribed and include(follower):
            page.append(follower.openid)
            if len(page) >= size:
                break
    return page, (page[-1] if page else "")


def _page_body(page: list[str], next_openid: str, **extra: int) -> dict[str, Any]:
    body: dict[str, Any] = {**extra, "count": len(page), "next_openid": next_openid}
    if page:
        body["data"] = {"openid": page}
    return body


@bp.get("/cgi-bin/user/get")
def user_get() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa")
        page, last = _page(state, request.args.get("next_openid"), lambda f: True)
        return _page_body(page, last, total=state.subscribed_count)


def _user_info(follower: Follower) -> dict[str, Any]:
    if not follower.subscribed:
        # "值为0时，代表此用户没有关注该公众号，拉取不到其余信息"
        info: dict[str, Any] = {"subscribe": 0, "openid": follower.openid}
    else:
        info = {
            "subscribe": 1,
            "openid": follower.openid,
            "language": follower.language,
            "subscribe_time": follower.subscribe_time,
            "remark": follower.remark,
            "groupid": 0,
            "tagid_list": list(follower.tagids),
            "subscribe_scene": follower.subscribe_scene,
            "qr_scene": follower.qr_scene,
            "qr_scene_str": follower.qr_scene_str,
        }
    if follower.unionid:
        info["unionid"] = follower.unionid
    return info


@bp.get("/cgi-bin/user/info")
def user_info() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa")
        return _user_info(state.follower(request.args.get("openid")))


@bp.post("/cgi-bin/user/info/batchget")
def user_info_batchget() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        users = body.get("user_list")
        if not isinstance(users, list):
            raise WxError(47001)
        if not 1 <= len(users) <= state.config.user_batch_max:
            raise WxError(40032)
        infos = []
        for item in users:
            openid = as_str(item.get("openid")) if isinstance(item, dict) else None
            infos.append(_user_info(state.follower(openid)))
        return {"user_info_list": infos}


# --- tags ---


def _tag_payload(body: dict[str, Any]) -> dict[str, Any]:
    tag = body.get("tag")
    if not isinstance(tag, dict):
        raise WxError(47001)
    return tag


def _check_tag_name(state: EmulatorState, name: Any, except_id: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise WxError(45157)
    if len(name.encode()) > state.config.tag_name_max_bytes:
        raise WxError(45158)
    if any(t.name == name and t.id != except_id for t in state.tags.values()):
        raise WxError(45157)
    return name


def _existing_tag(state: EmulatorState, value: Any) -> Tag:
    tag_id = as_int(value)
    if tag_id is None or tag_id not in state.tags:
        raise WxError(45159)
    return state.tags[tag_id]


def _editable_tag(state: EmulatorState, payload: dict[str, Any]) -> Tag:
    """The tag a rename or delete names; the system tags (0, 1, 2) cannot be changed (45058)."""
    if as_int(payload.get("id")) in SYSTEM_TAG_IDS:
        raise WxError(45058)
    return _existing_tag(state, payload.get("id"))


@bp.post("/cgi-bin/tags/create")
def tags_create() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        name = _check_tag_name(state, _tag_payload(body).get("name"))
        if len(state.tags) >= state.config.tags_max:
            raise WxError(45056)
        tag = Tag(state.next_tag_id, name)
        state.next_tag_id += 1
        state.tags[tag.id] = tag
        return {"tag": {"id": tag.id, "name": tag.name}}


@bp.get("/cgi-bin/tags/get")
def tags_get() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa")
        counts: dict[int, int] = {}
        for follower in state.followers.values():
            for tag_id in follower.tagids:
                counts[tag_id] = counts.get(tag_id, 0) + 1
        return {"tags": [{"id": t.id, "name": t.name, "count": counts.get(t.id, 0)} for t in state.tags.values()]}


@bp.post("/cgi-bin/tags/update")
def tags_update() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        payload = _tag_payload(body)
        tag = _editable_tag(state, payload)
        tag.name = _check_tag_name(state, payload.get("name"), except_id=tag.id)
        return ok()


@bp.post("/cgi-bin/tags/delete")
def tags_delete() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        payload = _tag_payload(body)
        tag = _editable_tag(state, payload)
        members = [f for f in state.followers.values() if tag.id in f.tagids]
        if len(members) > state.config.tag_delete_max_fans:
            raise WxError(45057)  # untag fans first, until the tag has at most this many
        del state.tags[tag.id]
        for follower in members:
            follower.tagids.remove(tag.id)
        return ok()


def _batch_targets(state: EmulatorState, body: dict[str, Any]) -> tuple[Tag, list[Follower]]:
    openids = body.get("openid_list")
    if not isinstance(openids, list):
        raise WxError(47001)
    if not 1 <= len(openids) <= state.config.tag_batch_max:
        raise WxError(40032)
    tag = _existing_tag(state, body.get("tagid"))
    followers = [state.subscribed_follower(o if isinstance(o, str) else None) for o in openids]
    return tag, followers


@bp.post("/cgi-bin/tags/members/batchtagging")
def tags_batchtagging() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        tag, followers = _batch_targets(state, body)
        limit = state.config.tags_per_user
        # Check every user before changing any: a rejected call leaves all tags as they were.
        if any(tag.id not in f.tagids and len(f.tagids) >= limit for f in followers):
            raise WxError(45059)
        for follower in followers:
            if tag.id not in follower.tagids:
                follower.tagids.append(tag.id)
        return ok()


@bp.post("/cgi-bin/tags/members/batchuntagging")
def tags_batchuntagging() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        tag, followers = _batch_targets(state, body)
        for follower in followers:
            if tag.id in follower.tagids:
                follower.tagids.remove(tag.id)
        return ok()


@bp.post("/cgi-bin/tags/getidlist")
def tags_getidlist() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        follower = state.follower(as_str(body.get("openid")))
        return {"tagid_list": list(follower.tagids)}


@bp.post("/cgi-bin/user/tag/get")
def user_tag_get() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        tag = _existing_tag(state, body.get("tagid"))
        page, last = _page(state, as_str(body.get("next_openid")), lambda f: tag.id in f.tagids)
        return _page_body(page, last)


# --- menu ---


def _check_button(button: Any, top_level: bool) -> None:
    if not isinstance(button, dict):
        raise WxError(47001)
    name = button.get("name")
    # Names: 16 bytes for a top-level button, 60 for a sub-button.
    if not isinstance(name, str) or not name or len(name.encode()) > (16 if top_level else 60):
        raise WxError(40018)
    subs = button.get("sub_button")
    if top_level and isinstance(subs, list) and subs:
        if len(subs) > 5:
            raise WxError(40023)
        for sub in subs:
            _check_button(sub, top_level=False)
        return
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise WxError(40017)
    if kind == "click" or kind.startswith(("scancode", "pic_")) or kind == "location_select":
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode()) > 128:
            raise WxError(40019)
    if kind in ("view", "miniprogram"):
        url = button.get("url")
        if not isinstance(url, str) or not url or len(url.encode()) > 1024:
            raise WxError(40020)
    if kind == "miniprogram" and not (as_str(button.get("appid")) and as_str(button.get("pagepath"))):
        raise WxError(47001)


@bp.post("/cgi-bin/menu/create")
def menu_create() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        state.authorize(token_arg(), "oa")
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise WxError(40016)
        for button in buttons:
            _check_button(button, top_level=True)
        state.menu = {"button": buttons}
        return ok()


@bp.get("/cgi-bin/menu/get")
def menu_get() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa")
        if state.menu is None:
            raise WxError(46003)
        return {"menu": state.menu}


@bp.get("/cgi-bin/get_current_selfmenu_info")
def selfmenu_info() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa")
        if state.menu is None:
            return {"is_menu_open": 0}
        # This API nests sub-buttons one level deeper than menu/create takes them: {"sub_button": {"list": [...]}}.
        buttons = []
        for button in state.menu["button"]:
            subs = button.get("sub_button")
            if isinstance(subs, list) and subs:
                buttons.append({"name": button["name"], "sub_button": {"list": subs}})
            else:
                buttons.append(button)
        return {"is_menu_open": 1, "selfmenu_info": {"button": buttons}}


@bp.get("/cgi-bin/menu/delete")
def menu_delete() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa")
        state.menu = None
        return ok()


# --- QR codes ---


@bp.post("/cgi-bin/qrcode/create")
def qrcode_create() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        cfg = state.config
        state.authorize(token_arg(), "oa")
        action = body.get("action_name")
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            raise WxError(40097)
        info = body.get("action_info")
        scene = info.get("scene") if isinstance(info, dict) else None
        if not isinstance(scene, dict):
            raise WxError(40053)
        permanent = action.startswith("QR_LIMIT")
        if action.endswith("STR_SCENE"):
            scene_str = scene.get("scene_str")
            if not isinstance(scene_str, str) or not 1 <= len(scene_str) <= cfg.qr_scene_str_max:
                raise WxError(40097)
            stored: dict[str, Any] = {"scene_str": scene_str}
        else:
            scene_id = as_int(scene.get("scene_id"))
            top = cfg.qr_limit_scene_id_max if permanent else 2**32 - 1
            if scene_id is None or not 1 <= scene_id <= top:
                raise WxError(40097)
            stored = {"scene_id": scene_id}
        ticket = "gQ" + secrets.token_urlsafe(72)
        result: dict[str, Any] = {"ticket": ticket, "url": "http://weixin.qq.com/q/" + secrets.token_urlsafe(16)}
        if not permanent:
            expire = as_int(body.get("expire_seconds")) or cfg.qr_default_expire_seconds
            result["expire_seconds"] = max(1, min(expire, cfg.qr_max_expire_seconds))
        state.qr_tickets[ticket] = {"action_name": action, **stored, **result, "created_at": state.now()}
        return result


# --- temporary media ---


@bp.post("/cgi-bin/media/upload")
def media_upload() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa", "mp")
        kind = request.args.get("type", "")
        if kind not in MEDIA_LIMITS:
            raise WxError(40004)
        upload = request.files.get("media")
        if upload is None:
            raise WxError(41005)
        content = upload.read()
        if not content:
            raise WxError(41005)
        limit, errcode = MEDIA_LIMITS[kind]
        if len(content) > limit:
            raise WxError(errcode)
        media = Media(
            media_id=secrets.token_urlsafe(48),
            type=kind,
            content=content,
            content_type=upload.mimetype or "application/octet-stream",
            created_at=state.now(),
        )
        state.media[media.media_id] = media
        id_field = "thumb_media_id" if kind == "thumb" else "media_id"
        return {"type": kind, id_field: media.media_id, "created_at": int(media.created_at)}


@bp.get("/cgi-bin/media/get")
def media_get() -> Response | dict[str, Any]:
    state = get_state()
    with state.lock:
        state.authorize(token_arg(), "oa", "mp")
        media = state.media.get(request.args.get("media_id", ""))
        if media is None or state.now() - media.created_at > state.config.media_ttl_seconds:
            raise WxError(40007)
        return Response(media.content, mimetype=media.content_type)
