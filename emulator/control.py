"""Control endpoints under ``/_emulator/``: how tests and tools set up the world and look at what happened.

These are not WeChat's and answer like an ordinary JSON API (HTTP 4xx with ``{"error": ...}``). They create
followers and mini-program users, open customer-service windows, mint login and phone codes, grant subscribe
consents, move the clock, change limits, list deliveries, pushes and call counts, and make the emulator push a user
message or event to the webhook the way WeChat would.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.common import get_state
from emulator.png import code_png
from emulator.pusher import Fields, push_to_webhook
from emulator.state import EmulatorState, Follower, Media, MiniUser, OneTimeCode, prune_before

logger = logging.getLogger(__name__)

bp = Blueprint("emulator_control", __name__, url_prefix="/_emulator")

INTERACTIONS = ("message", "click", "subscribe", "scan")
# Events that open the short customer-service window: subscribe, scan, and the menu clicks WeChat lists
# ("点击推事件、扫码推事件、扫码推事件且弹出“消息接收中”提示框").
EVENT_INTERACTIONS = {
    "subscribe": "subscribe",
    "SCAN": "scan",
    "CLICK": "click",
    "scancode_push": "click",
    "scancode_waitmsg": "click",
}
HEADER_FIELDS = ("openid", "ToUserName", "FromUserName", "CreateTime", "MsgType")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@bp.errorhandler(ControlError)
def _control_error(exc: ControlError) -> tuple[Response, int]:
    return jsonify(error=exc.message), exc.status


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise ControlError("expected a JSON object")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{key} must be a non-empty string")
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _text(body, key)


# --- followers and users ---


def _new_follower(state: EmulatorState, item: Any) -> Follower:
    if not isinstance(item, dict):
        raise ControlError("each user must be an object")
    openid = _text(item, "openid")
    tagids = item.get("tagids", [])
    if not isinstance(tagids, list) or any(t not in state.tags for t in tagids):
        raise ControlError("tagids must list existing tag ids")
    try:
        return Follower(
            openid=openid,
            unionid=_optional_text(item, "unionid"),
            subscribed=item.get("subscribe", True) is not False,
            subscribe_time=int(item.get("subscribe_time", state.now())),
            subscribe_scene=str(item.get("subscribe_scene", "ADD_SCENE_OTHERS")),
            qr_scene=int(item.get("qr_scene", 0)),
            qr_scene_str=str(item.get("qr_scene_str", "")),
            nickname=str(item.get("nickname", "")),
            language=str(item.get("language", "zh_CN")),
            tagids=list(tagids),
        )
    except (TypeError, ValueError) as exc:
        raise ControlError(f"bad user {openid}: {exc}") from exc


@bp.post("/users")
def create_users() -> dict[str, Any]:
    """``{"users": [{openid, unionid?, subscribe_scene?, nickname?, ...}]}`` or ``{"generate": {count, prefix}}``."""
    state = get_state()
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, (list, dict)):
        raise ControlError('expected {"users": [...]} or {"generate": {...}}')
    items = body if isinstance(body, list) else body.get("users", [])
    generate = body.get("generate") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ControlError("users must be a list")
    with state.lock:
        followers = [_new_follower(state, item) for item in items]
        if isinstance(generate, dict):
            count, prefix = generate.get("count"), str(generate.get("prefix", "oEmu"))
            if not isinstance(count, int) or count < 0 or len(prefix) > 20:
                raise ControlError("generate needs a count and a prefix of at most 20 characters")
            now = int(state.now())
            for n in range(count):
                openid = f"{prefix}{n:0{28 - len(prefix)}d}"  # real openids are 28 characters
                unionid = f"u{openid[1:]}" if generate.get("unionid", True) else None
                followers.append(Follower(openid=openid, unionid=unionid, subscribed=True, subscribe_time=now))
        for follower in followers:
            state.add_follower(follower)
        return {"created": len(followers), "total": state.subscribed_count}


@bp.get("/users/<openid>")
def get_user(openid: str) -> dict[str, Any]:
    state = get_state()
    with state.lock:
        follower = state.followers.get(openid)
        if follower is None:
            raise ControlError("no such follower", 404)
        window = state.cs_windows.get(openid)
        return {
            "openid": follower.openid,
            "unionid": follower.unionid,
            "subscribed": follower.subscribed,
            "nickname": follower.nickname,
            "tagids": follower.tagids,
            "mass_this_month": state.mass_count(openid),
            "cs_window": vars(window) if window else None,
        }


@bp.post("/users/<openid>/interact")
def interact(openid: str) -> dict[str, Any]:
    state = get_state()
    kind = _text(_body(), "kind")
    if kind not in INTERACTIONS:
        raise ControlError(f"kind must be one of {', '.join(INTERACTIONS)}")
    with state.lock:
        if openid not in state.followers:
            raise ControlError("no such follower", 404)
        state.record_interaction(openid, kind)
        return {"openid": openid, "kind": kind, "at": state.now()}


# What a user can send as a media message: its default content type and a stand-in content when none is given.
USER_MEDIA = {"image": "image/jpeg", "voice": "audio/amr"}


@bp.post("/users/<openid>/media")
def user_media(openid: str) -> dict[str, Any]:
    """A follower sends an image or voice: ``{"type": "image" | "voice", "content_base64"?, "content_type"?,
    "push"?: bool}``. WeChat keeps the file as temporary media (``media/get`` serves it for 3 days, then 40007);
    the answer has its ``media_id`` and the message ``fields`` a push carries, and with ``push`` the emulator pushes
    the message to the webhook too (its result under ``push``)."""
    state = get_state()
    body = _body()
    kind = _text(body, "type")
    if kind not in USER_MEDIA:
        raise ControlError(f"type must be one of {', '.join(USER_MEDIA)}")
    encoded = body.get("content_base64")
    try:
        content = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
    except (binascii.Error, ValueError) as exc:
        raise ControlError("content_base64 is not base64") from exc
    with state.lock:
        cfg = state.config
        if openid not in state.followers or not state.followers[openid].subscribed:
            raise ControlError("only followers can message the account: push a subscribe event first")
        content_type = _optional_text(body, "content_type") or USER_MEDIA[kind]
        if content is None and kind == "image":  # a stand-in: a small PNG
            content, content_type = code_png({"openid": openid, "n": str(len(state.media))}), "image/png"
        elif content is None:  # a stand-in: an AMR header and silence
            content = b"#!AMR\n" + bytes(32)
        media = Media(
            media_id=secrets.token_urlsafe(48),
            type=kind,
            content=content,
            content_type=content_type,
            created_at=state.now(),
        )
        state.media[media.media_id] = media
        fields: Fields = {
            "ToUserName": cfg.oa_original_id,
            "FromUserName": openid,
            "CreateTime": int(state.now()),
            "MsgType": kind,
            "MediaId": media.media_id,
            "MsgId": state.next_msg_id(),
        }
        if kind == "image":
            fields["PicUrl"] = f"http://mmbiz.qpic.cn/emulator/{media.media_id[:16]}/0"
        else:
            fields["Format"] = "amr"
        pushing = bool(body.get("push"))
        if pushing:
            if not cfg.webhook_url:
                raise ControlError("no webhook_url configured", 409)
            state.record_interaction(openid, "message")
    result: dict[str, Any] = {"media_id": media.media_id, "fields": fields}
    if pushing:
        pushed = push_to_webhook(cfg, fields)
        with state.lock:
            state.push_log.append({"at": state.now(), "fields": fields, **pushed.as_dict()})
            if pushed.reply:
                state.deliver("reply", cfg.oa_appid, openid, dict(pushed.reply))
        result["push"] = pushed.as_dict()
    return result


@bp.post("/users/<openid>/subscription")
def subscription(openid: str) -> dict[str, Any]:
    """``{"subscribed": false}``: the user unfollowed (in a client that pushes the event itself, such as
    ``make chat``); ``{"subscribed": true, "EventKey": "qrscene_..."}`` follows (again), as a subscribe push would."""
    state = get_state()
    body = _body()
    subscribed = body.get("subscribed")
    if not isinstance(subscribed, bool):
        raise ControlError("subscribed must be a boolean")
    with state.lock:
        if subscribed:
            _subscribe(state, openid, str(body.get("EventKey", "")))
        elif openid not in state.followers:
            raise ControlError("no such follower", 404)
        else:
            state.set_subscribed(openid, False)
        return {"openid": openid, "subscribed": state.followers[openid].subscribed}


@bp.post("/login_codes")
def login_code() -> dict[str, Any]:
    """A fresh ``wx.login`` code for a mini-program user (created on first use)."""
    state = get_state()
    body = _body()
    openid = _text(body, "openid")
    unionid = _optional_text(body, "unionid")
    with state.lock:
        user = state.mini_users.setdefault(openid, MiniUser(openid, unionid))
        if unionid:
            user.unionid = unionid
        code = OneTimeCode(secrets.token_hex(16), state.now(), {"openid": openid, "unionid": user.unionid})
        prune_before(state.login_codes, code.issued_at - state.config.login_code_ttl_seconds, lambda c: c.issued_at)
        state.login_codes[code.code] = code
        return {"code": code.code, "expires_in": state.config.login_code_ttl_seconds}


@bp.post("/phone_codes")
def phone_code() -> dict[str, Any]:
    state = get_state()
    body = _body()
    phone = _text(body, "phone")
    country = str(body.get("country_code", "86"))
    with state.lock:
        code = OneTimeCode(secrets.token_hex(32), state.now(), {"phone": phone, "country_code": country})
        prune_before(state.phone_codes, code.issued_at - state.config.phone_code_ttl_seconds, lambda c: c.issued_at)
        state.phone_codes[code.code] = code
        return {"code": code.code, "expires_in": state.config.phone_code_ttl_seconds}


@bp.post("/faults")
def faults() -> dict[str, Any]:
    """``{"path": "/cgi-bin/user/get", "errcode": -1, "count": 2}``: the next ``count`` calls to ``path`` fail so
    (WeChat answers -1, "system busy", now and then)."""
    state = get_state()
    body = _body()
    path, errcode, count = _text(body, "path"), body.get("errcode", -1), body.get("count", 1)
    if not isinstance(errcode, int) or not isinstance(count, int) or count < 0:
        raise ControlError("errcode and count must be integers")
    with state.lock:
        state.faults[path] = [errcode, count]
    return {"path": path, "errcode": errcode, "count": count}


@bp.post("/delays")
def delays() -> dict[str, Any]:
    """``{"path": "/cgi-bin/user/info/batchget", "seconds": 3, "count": 1}``: the next ``count`` calls to ``path`` are
    answered ``seconds`` late (WeChat slow to answer, as it is now and then)."""
    state = get_state()
    body = _body()
    path, seconds, count = _text(body, "path"), body.get("seconds"), body.get("count", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 60:
        raise ControlError("seconds must be a number from 0 to 60")
    if not isinstance(count, int) or count < 0:
        raise ControlError("count must be a non-negative integer")
    with state.lock:
        state.delays[path] = [float(seconds), count]
    return {"path": path, "seconds": seconds, "count": count}


@bp.post("/consents")
def consents() -> dict[str, Any]:
    """The user tapped "allow" on ``wx.requestSubscribeMessage``: ``count`` more one-time sends of that template."""
    state = get_state()
    body = _body()
    openid, template_id = _text(body, "openid"), _text(body, "template_id")
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ControlError("count must be a positive integer")
    with state.lock:
        state.mini_users.setdefault(openid, MiniUser(openid, None))
        state.consents[(openid, template_id)] += count
        return {"openid": openid, "template_id": template_id, "remaining": state.consents[(openid, template_id)]}


# --- what happened ---


@bp.get("/deliveries")
def deliveries() -> dict[str, Any]:
    state = get_state()
    openid, channel = request.args.get("openid"), request.args.get("channel")
    with state.lock:
        found = [
            d
            for d in state.deliveries
            if (not openid or d["openid"] == openid) and (not channel or d["channel"] == channel)
        ]
        return {"deliveries": found, "delivered": dict(state.delivered), "kept": state.config.deliveries_kept}


@bp.get("/calls")
def calls() -> dict[str, int]:
    state = get_state()
    with state.lock:
        return dict(state.calls)


@bp.get("/pushes")
def pushes() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        return {"pushes": list(state.push_log)}


# --- clock, config, reset ---


def _clock(state: EmulatorState) -> dict[str, Any]:
    return {"now": state.now(), "offset": state.clock_offset, "frozen": state.frozen_at is not None}


@bp.get("/clock")
def clock() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        return _clock(state)


@bp.post("/clock")
def set_clock() -> dict[str, Any]:
    """``{"frozen": true}`` stops the clock (only ``/clock/advance`` moves it); ``false`` lets it run again."""
    state = get_state()
    frozen = _body().get("frozen")
    if not isinstance(frozen, bool):
        raise ControlError("frozen must be a boolean")
    with state.lock:
        state.freeze(frozen)
        return _clock(state)


@bp.post("/clock/advance")
def advance_clock() -> dict[str, Any]:
    state = get_state()
    seconds = _body().get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ControlError("seconds must be a non-negative number")
    with state.lock:
        state.advance(float(seconds))
        return _clock(state)


@bp.post("/reset")
def reset() -> dict[str, str]:
    get_state().reset()
    return {"status": "reset"}


@bp.get("/config")
def get_config() -> dict[str, Any]:
    state = get_state()
    with state.lock:
        return state.config.as_dict()


@bp.put("/config")
def put_config() -> dict[str, Any]:
    state = get_state()
    body = _body()
    with state.lock:
        try:
            state.config = state.config.updated(body)
        except ValueError as exc:
            raise ControlError(str(exc)) from exc
        return state.config.as_dict()


# --- pushes to the webhook ---


def _field(value: Any) -> str | int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return str(value)


def _subscribe(state: EmulatorState, openid: str, event_key: str) -> None:
    """A subscribe event creates or re-subscribes the follower; ``qrscene_`` keys mean "via a parametric QR code"."""
    follower = state.followers.get(openid)
    if follower is None:
        follower = Follower(openid=openid, unionid=None, subscribed=True, subscribe_time=int(state.now()))
        state.add_follower(follower)
    else:
        state.set_subscribed(openid, True)
    if event_key.startswith("qrscene_"):
        scene = event_key[len("qrscene_") :]
        follower.subscribe_scene = "ADD_SCENE_QR_CODE"
        if scene.isdigit():
            follower.qr_scene, follower.qr_scene_str = int(scene), ""
        else:
            follower.qr_scene, follower.qr_scene_str = 0, scene


@bp.post("/push")
def push() -> dict[str, Any]:
    """Act as WeChat: push ``{openid, MsgType, Content | Event, EventKey, ...}`` to the webhook; return its reply."""
    state = get_state()
    body = _body()
    openid, msg_type = _text(body, "openid"), _text(body, "MsgType")
    with state.lock:
        cfg = state.config
        if not cfg.webhook_url:
            raise ControlError("no webhook_url configured", 409)
        event = str(body.get("Event", "")) if msg_type == "event" else ""
        if event == "subscribe":
            _subscribe(state, openid, str(body.get("EventKey", "")))
        elif openid not in state.followers or not state.followers[openid].subscribed:
            raise ControlError("only followers can message the account: push a subscribe event first")
        elif event == "unsubscribe":
            state.set_subscribed(openid, False)
        kind = "message" if msg_type != "event" else EVENT_INTERACTIONS.get(event)
        if kind is not None:
            state.record_interaction(openid, kind)
        fields: Fields = {
            "ToUserName": cfg.oa_original_id,
            "FromUserName": openid,
            "CreateTime": _field(body.get("CreateTime", int(state.now()))),
            "MsgType": msg_type,
        }
        fields.update({k: _field(v) for k, v in body.items() if k not in HEADER_FIELDS})
        if msg_type != "event" and "MsgId" not in fields:
            fields["MsgId"] = state.next_msg_id()
    result = push_to_webhook(cfg, fields)
    with state.lock:
        state.push_log.append({"at": state.now(), "fields": fields, **result.as_dict()})
        if result.reply:
            state.deliver("reply", cfg.oa_appid, openid, dict(result.reply))
    if result.error:
        logger.info("push %s: %s", msg_type, result.error)
    return {**result.as_dict(), "fields": fields}
