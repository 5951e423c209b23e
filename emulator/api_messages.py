"""Outbound messages and their rules: customer-service, template, mini-program subscribe, and mass send (群发).

Each send that WeChat would deliver is recorded in ``state.deliveries`` (channel ``custom``, ``template``,
``subscribe``, ``mass`` or ``preview``), so tests assert on what users received, not on what the app meant to send.

- Customer service (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html):
  followers only (43004); only inside a window the user opened (45015): 5 messages within 48 h of a user message,
  3 within 1 minute of a menu click, subscribe or scan (45047 when used up). A news message carries one article; a
  text at most ``cs_text_max_bytes`` of UTF-8 (2,048, like a passive reply; 45002 "content size out of limit").
- Template (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html):
  followers only; 100,000 a day (45009); ``client_msg_id`` makes a repeat to the same openid within 10 minutes return
  the first msgid without a second delivery; a TEMPLATESENDJOBFINISH event follows each delivery.
- Subscribe (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html):
  each send consumes one consent the user gave for that template; none left → 43101.
- Mass (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html):
  100 API calls a day (45009) and 60 a minute (45011); each user receives at most 4 a calendar month, the rest are
  filtered; ``clientmsgid`` dedupes for 24 h: a repeat answers 45065 with the first msg_id (45066 within a minute),
  and without one the digest of audience and content stands in for it. MASSSENDJOBFINISH reports TotalCount (the
  followers targeted), FilterCount (those left after filtering, "原则上 FilterCount = SentCount + ErrorCount"),
  SentCount and ErrorCount.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, current_app

from emulator.common import EXTENSION, as_int, as_str, get_state, ok, read_json, token_arg
from emulator.errors import WxError
from emulator.pusher import EventPusher, Fields
from emulator.state import CsWindow, EmulatorState, MassJob, prune_before

bp = Blueprint("emulator_messages", __name__)

CS_MSGTYPES = (
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "mpnewsarticle",
    "msgmenu",
    "wxcard",
    "miniprogrampage",
)
MASS_MSGTYPES = ("mpnews", "text", "voice", "music", "image", "video", "mpvideo", "wxcard")
MASS_HELPER = "mphelper"  # MASSSENDJOBFINISH comes "from" the 群发助手 account


def queue_job_event(state: EmulatorState, openid: str, event: str, **extra: str | int) -> None:
    """Queue a job-finished event for the webhook, if one is configured (sent after this call answers)."""
    cfg = state.config
    if not cfg.webhook_url or not cfg.push_job_events:
        return
    fields: Fields = {
        "ToUserName": cfg.oa_original_id,
        "FromUserName": openid,
        "CreateTime": int(state.now()),
        "MsgType": "event",
        "Event": event,
        **extra,
    }
    pusher: EventPusher = current_app.extensions[f"{EXTENSION}.pusher"]
    pusher.submit(cfg, fields)


# --- customer service ---


def _check_cs_message(body: dict[str, Any], text_max_bytes: int) -> str:
    msgtype = body.get("msgtype")
    if msgtype not in CS_MSGTYPES:
        raise WxError(40008)
    payload = body.get(msgtype)
    if not isinstance(payload, dict):
        raise WxError(47001)
    if msgtype == "text" and not as_str(payload.get("content")):
        raise WxError(44004)
    if msgtype == "text" and len(str(payload.get("content")).encode()) > text_max_bytes:
        raise WxError(45002)
    if msgtype == "news":
        articles = payload.get("articles")
        if not isinstance(articles, list) or not articles:
            raise WxError(47001)
        if len(articles) > 1:  # "图文消息条数限制在1条以内"
            raise WxError(45008)
    if msgtype == "miniprogrampage" and not as_str(payload.get("pagepath")):
        raise WxError(47001)
    return str(msgtype)


def _take_cs_slot(state: EmulatorState, openid: str) -> None:
    cfg = state.config
    now = state.now()
    window = state.cs_windows.get(openid) or CsWindow()
    msg_open = window.message_at is not None and now < window.message_at + cfg.cs_message_window_seconds
    evt_open = window.event_at is not None and now < window.event_at + cfg.cs_event_window_seconds
    if not (msg_open or evt_open):
        raise WxError(45015)
    # The short event window is spent first, so it does not eat into the 48-hour allowance.
    if evt_open and window.event_used < cfg.cs_messages_per_event:
        window.event_used += 1
    elif msg_open and window.message_used < cfg.cs_messages_per_user_message:
        window.message_used += 1
    else:
        raise WxError(45047)


@bp.post("/cgi-bin/message/custom/send")
def custom_send() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        account = state.authorize(token_arg(), "oa")
        follower = state.subscribed_follower(as_str(body.get("touser")))
        msgtype = _check_cs_message(body, state.config.cs_text_max_bytes)
        _take_cs_slot(state, follower.openid)
        message = {k: v for k, v in body.items() if k != "touser"}
        state.deliver("custom", account.appid, follower.openid, message, msgtype=msgtype)
        return ok()


# --- template ---


@bp.post("/cgi-bin/message/template/send")
def template_send() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        cfg = state.config
        account = state.authorize(token_arg(), "oa")
        follower = state.subscribed_follower(as_str(body.get("touser")))
        template_id = as_str(body.get("template_id"))
        if not template_id or (cfg.template_ids and template_id not in cfg.template_ids):
            raise WxError(40037)
        data = body.get("data")
        if not isinstance(data, dict):
            raise WxError(47001)
        if not all(isinstance(v, dict) and "value" in v for v in data.values()):
            raise WxError(47003)
        client_msg_id = as_str(body.get("client_msg_id"))
        now = state.now()
        if client_msg_id:
            seen = state.template_sent.get((follower.openid, client_msg_id))
            if seen is not None and now - seen[1] < cfg.template_dedupe_seconds:
                return ok(msgid=seen[0])
        if not state.take_daily(("template", account.appid), cfg.template_per_day):
            raise WxError(45009)
        msgid = state.next_msg_id()
        if client_msg_id:
            prune_before(state.template_sent, now - cfg.template_dedupe_seconds, lambda seen: seen[1])
            state.template_sent.pop((follower.openid, client_msg_id), None)  # re-insert at the end: time order
            state.template_sent[(follower.openid, client_msg_id)] = (msgid, now)
        message = {k: v for k, v in body.items() if k != "touser"}
        state.deliver("template", account.appid, follower.openid, message, msgid=msgid)
        queue_job_event(state, follower.openid, "TEMPLATESENDJOBFINISH", MsgID=msgid, Status="success")
        return ok(msgid=msgid)


# --- mini-program subscribe message ---


@bp.post("/cgi-bin/message/subscribe/send")
def subscribe_send() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        account = state.authorize(token_arg(), "mp")
        openid = as_str(body.get("touser"))
        if not openid:
            raise WxError(40003)
        template_id = as_str(body.get("template_id"))
        if not template_id:
            raise WxError(40037)
        if not isinstance(body.get("data"), dict):
            raise WxError(47003)
        key = (openid, template_id)
        if state.consents[key] <= 0:
            raise WxError(43101)
        state.consents[key] -= 1
        msgid = state.next_msg_id()
        message = {k: v for k, v in body.items() if k != "touser"}
        state.deliver("subscribe", account.appid, openid, message, msgid=msgid)
        return ok(msgid=msgid)


# --- mass send ---


def _mass_message(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    msgtype = body.get("msgtype")
    if msgtype not in MASS_MSGTYPES:
        raise WxError(40008)
    content = body.get(msgtype)
    if content is None and msgtype == "image":
        content = body.get("images")  # the current doc's field; wechatpy still sends "image"
    if not isinstance(content, dict):
        raise WxError(47001)
    if msgtype == "text" and not as_str(content.get("content")):
        raise WxError(44004)
    return str(msgtype), content


def _dedupe_key(state: EmulatorState, body: dict[str, Any], target: Any, msgtype: str, content: Any) -> str | None:
    cfg = state.config
    clientmsgid = body.get("clientmsgid")
    if clientmsgid is not None:
        text = str(clientmsgid)
        if len(text.encode()) > cfg.mass_clientmsgid_max_bytes:
            raise WxError(45067)
        return text
    if not cfg.mass_default_clientmsgid:
        return None
    digest = json.dumps([target, msgtype, content], sort_keys=True, ensure_ascii=False)
    return "digest:" + hashlib.sha256(digest.encode()).hexdigest()


def _mass_send(body: dict[str, Any], target: Any, audience: list[str], appid: str) -> dict[str, Any]:
    """Shared tail of sendall and send: dedupe, API limits, the monthly filter, delivery, the finish event."""
    state = get_state()
    cfg = state.config
    msgtype, content = _mass_message(body)
    key = _dedupe_key(state, body, target, msgtype, content)
    now = state.now()
    if key is not None:
        previous = state.mass_by_clientmsgid.get(key)
        if previous is not None and now - previous.created_at < cfg.mass_dedupe_seconds:
            if now - previous.created_at < cfg.mass_dedupe_retry_seconds:
                raise WxError(45066)
            raise WxError(45065, msg_id=previous.msg_id)
    if not state.take_window(("mass", appid), cfg.mass_calls_per_minute):
        raise WxError(45011)
    if not state.take_daily(("mass", appid), cfg.mass_calls_per_day):
        raise WxError(45009)
    msg_id = state.next_msg_id()
    msg_data_id = state.next_msg_id() if msgtype == "mpnews" else None
    sent = 0
    message = {"msgtype": msgtype, msgtype: content}
    for openid in audience:
        if state.mass_count(openid) >= cfg.mass_per_user_per_month:
            continue  # "用户接收已超4条的过滤"
        state.mass_received[openid] += 1
        state.deliver("mass", appid, openid, message, msg_id=msg_id)
        sent += 1
    job = MassJob(msg_id, msg_data_id, key or "", now, total=len(audience), filtered=sent, sent=sent, errors=0)
    state.mass_jobs[msg_id] = job
    if key is not None:
        prune_before(state.mass_by_clientmsgid, now - cfg.mass_dedupe_seconds, lambda old: old.created_at)
        state.mass_by_clientmsgid.pop(key, None)  # re-insert at the end: time order
        state.mass_by_clientmsgid[key] = job
    queue_job_event(
        state,
        MASS_HELPER,
        "MASSSENDJOBFINISH",
        MsgID=msg_id,
        Status="send success",
        TotalCount=job.total,
        FilterCount=job.filtered,
        SentCount=job.sent,
        ErrorCount=job.errors,
    )
    result = ok("send job submission success", msg_id=msg_id)
    if msg_data_id is not None:  # "msg_data_id ... 该字段只有在群发图文消息时，才会出现"
        result["msg_data_id"] = msg_data_id
    return result


@bp.post("/cgi-bin/message/mass/sendall")
def mass_sendall() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        account = state.authorize(token_arg(), "oa")
        flt = body.get("filter")
        if not isinstance(flt, dict):
            raise WxError(47001)
        subscribed = [o for o in state.follower_order if state.followers[o].subscribed]
        if flt.get("is_to_all") is True:
            target: Any = {"is_to_all": True}
            audience = subscribed
        else:
            tag_id = as_int(flt.get("tag_id", flt.get("group_id")))
            if tag_id is None or tag_id not in state.tags:
                raise WxError(45159)
            target = {"tag_id": tag_id}
            audience = [o for o in subscribed if tag_id in state.followers[o].tagids]
        return _mass_send(body, target, audience, account.appid)


@bp.post("/cgi-bin/message/mass/send")
def mass_send() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        cfg = state.config
        account = state.authorize(token_arg(), "oa")
        touser = body.get("touser")
        if not isinstance(touser, list) or not all(isinstance(o, str) for o in touser):
            raise WxError(47001)
        if not cfg.mass_openids_min <= len(touser) <= cfg.mass_openids_max:
            raise WxError(40130)
        # TotalCount is "openid_list 中的粉丝数": openids that are not followers are not counted.
        audience = [o for o in dict.fromkeys(touser) if o in state.followers and state.followers[o].subscribed]
        return _mass_send(body, sorted(set(touser)), audience, account.appid)


@bp.post("/cgi-bin/message/mass/preview")
def mass_preview() -> dict[str, Any]:
    state = get_state()
    body = read_json()
    with state.lock:
        account = state.authorize(token_arg(), "oa")
        # Preview by WeChat ID (towxname) cannot be emulated: the emulator knows openids only.
        follower = state.subscribed_follower(as_str(body.get("touser")))
        msgtype, content = _mass_message(body)
        if not state.take_daily(("mass_preview", account.appid), state.config.mass_preview_per_day):
            raise WxError(45009)
        msg_id = state.next_msg_id()
        message = {"msgtype": msgtype, msgtype: content}
        state.deliver("preview", account.appid, follower.openid, message, msg_id=msg_id)
        return ok("preview success", msg_id=msg_id)
