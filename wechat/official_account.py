"""The official account's API, as the product needs it: typed calls, each behind its limits.

Every quota-bearing call takes its family's token (``wechat/limits.py``) first; a 45009 pauses the family until
WeChat's daily reset; customer-service messages are sent only inside the user's window. Results are small typed
records, never raw dicts. Docs: https://developers.weixin.qq.com/doc/offiaccount/ (Message_Management,
User_Management, Custom_Menus, Account_Management/Generating_a_Parametric_QR_Code, Asset_Management).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from core.errors import ValidationFailed, WeChatAPIError, WeChatQuotaExhausted
from wechat.client import GatewayClient
from wechat.limits import CustomerServiceTracker, HashWrite, RateLimiter

TAG_BATCH = 50  # openids per batch-tagging call
INFO_BATCH = 100  # openids per batch user-info call
SCENE_MAX = 64  # characters in a string QR scene
MEDIA_ID_MAX = 128  # characters in a media_id (WeChat's are 64; the transcript keeps up to 128)
MASS_ALREADY_SENT = 45065  # the clientmsgid was used within 24 h; the answer carries the first send's msg_id


@dataclass(frozen=True)
class FollowerPage:
    total: int
    openids: list[str]
    next_openid: str  # "" on the last page


@dataclass(frozen=True)
class FollowerInfo:
    openid: str
    subscribed: bool
    unionid: str | None
    subscribe_time: int | None
    subscribe_scene: str | None
    qr_scene: str | None
    tag_ids: list[int]
    language: str | None = None  # the user's WeChat language: zh_CN, zh_TW, en ...


@dataclass(frozen=True)
class TagInfo:
    id: int
    name: str
    count: int  # fans carrying the tag


@dataclass(frozen=True)
class MassSent:
    msg_id: int
    msg_data_id: int | None


@dataclass(frozen=True)
class QRCode:
    ticket: str
    url: str
    expire_seconds: int | None


class OfficialAccount:
    def __init__(self, client: GatewayClient, limits: RateLimiter, cs: CustomerServiceTracker) -> None:
        self.client = client
        self.limits = limits
        self.cs = cs

    def _call(self, family: str, method: str, endpoint: str, *, cost: int = 1, wait: float = 0.0, **kwargs: Any) -> Any:
        return self._limited(family, lambda: self.client._request(method, endpoint, **kwargs), cost=cost, wait=wait)

    def _limited(self, family: str, call: Callable[[], Any], *, cost: int = 1, wait: float = 0.0) -> Any:
        """``call`` (a request, or one of wechatpy's API methods) after taking ``cost`` of the family's tokens."""
        self.limits.acquire(family, cost=cost, wait_seconds=wait)
        try:
            return call()
        except WeChatQuotaExhausted:
            self.limits.pause(family)
            raise

    # --- customer-service messages ------------------------------------------------------------------------------

    def record_interaction(self, openid: str, kind: str) -> None:
        self.cs.record(openid, kind)

    def interaction(self, openid: str, kind: str) -> HashWrite:
        return self.cs.interaction(openid, kind)

    def send_customer_message(self, openid: str, payload: dict[str, Any]) -> None:
        """``payload`` is a message body without ``touser``: text, news, image or miniprogrampage."""
        msgtype = payload.get("msgtype")
        body: dict[str, Any] = {"touser": openid, "msgtype": msgtype}
        if msgtype == "text":
            body["text"] = {"content": payload["content"]}
        elif msgtype == "news":
            articles = [
                {
                    "title": a["title"],
                    "description": a.get("description", ""),
                    "url": a.get("url", ""),
                    "picurl": a.get("image") or a.get("picurl", ""),
                }
                for a in payload["articles"]
            ]
            body["news"] = {"articles": articles[:1]}  # WeChat shows one article per customer-service news message
        elif msgtype == "image":
            body["image"] = {"media_id": payload["media_id"]}
        elif msgtype == "miniprogrampage":
            body["miniprogrampage"] = {k: payload[k] for k in ("title", "appid", "pagepath", "thumb_media_id")}
        else:
            raise ValidationFailed(f"unsupported customer-service message type {msgtype!r}")
        self.cs.take(openid)  # raises 45015/45047 without calling WeChat when the window says no
        self._call("custom", "post", "message/custom/send", data=body)

    # --- template and mass messages ---------------------------------------------------------------------------

    def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, Any],
        *,
        client_msg_id: str,
        url: str | None = None,
        miniprogram: dict[str, str] | None = None,
    ) -> int:
        """A template message; a repeat with the same ``client_msg_id`` within 10 minutes is a no-op at WeChat."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": data,
            "client_msg_id": client_msg_id,
        }
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = miniprogram
        result = self._call("template", "post", "message/template/send", data=body, idempotent=True)
        return int(result["msgid"])

    def mass_send(
        self,
        content: dict[str, Any],
        *,
        clientmsgid: str,
        tag_id: int | None = None,
        to_all: bool = False,
        openids: Sequence[str] | None = None,
    ) -> MassSent:
        """A mass message (``content`` like ``{"msgtype": "text", "text": {"content": …}}``) to a tag, to all,
        or to 2–10,000 openids. ``clientmsgid`` makes a repeat within 24 h a no-op at WeChat."""
        body: dict[str, Any] = {**content, "clientmsgid": clientmsgid, "send_ignore_reprint": 0}
        if openids is not None:
            body["touser"] = list(openids)
            endpoint = "message/mass/send"
        elif to_all or tag_id is not None:
            body["filter"] = {"is_to_all": to_all} | ({} if to_all else {"tag_id": tag_id})
            endpoint = "message/mass/sendall"
        else:
            raise ValidationFailed("mass_send needs a tag, to_all, or openids")
        try:
            result = self._call("mass", "post", endpoint, data=body, idempotent=True)
        except WeChatAPIError as exc:
            if exc.errcode != MASS_ALREADY_SENT:
                raise
            result = exc.data  # sent before under this clientmsgid: WeChat answers with that send's msg_id
        data_id = result.get("msg_data_id")
        return MassSent(int(result["msg_id"]), int(data_id) if data_id is not None else None)

    def mass_preview(self, content: dict[str, Any], openid: str) -> int:
        result = self._call("mass", "post", "message/mass/preview", data={**content, "touser": openid})
        return int(result.get("msg_id", 0))

    # --- users and tags --------------------------------------------------------------------------------------

    def create_tag(self, name: str) -> int:
        result = self._call("tagging", "post", "tags/create", data={"tag": {"name": name}})
        return int(result["tag"]["id"])

    def tag_users(self, tag_id: int, openids: Sequence[str]) -> int:
        """Tag any number of users, 50 per call (WeChat's batch size). Returns the number of calls made."""
        calls = 0
        for start in range(0, len(openids), TAG_BATCH):
            batch = list(openids[start : start + TAG_BATCH])
            self._call(
                "tagging",
                "post",
                "tags/members/batchtagging",
                wait=60,
                data={"openid_list": batch, "tagid": tag_id},
                idempotent=True,
            )
            calls += 1
        return calls

    def list_tags(self) -> list[TagInfo]:
        """Every tag of the account (system ones too) with its fan count, through wechatpy's ``tag.get``."""
        tags = self._limited("tagging", self.client.tag.get, wait=60)
        return [TagInfo(int(t["id"]), str(t["name"]), int(t.get("count") or 0)) for t in tags or []]

    def delete_tag(self, tag_id: int) -> None:
        """Delete a tag (its fans are untagged), through wechatpy's ``tag.delete``. WeChat answers 45058 for a
        system tag, 45057 while it has more than 100,000 fans (untag some first) and 45159 for an unknown id."""
        self._limited("tagging", lambda: self.client.tag.delete(tag_id), wait=60)

    def untag_users(self, tag_id: int, openids: Sequence[str]) -> int:
        """Remove a tag from any number of users, 50 per call. Returns the number of calls made."""
        calls = 0
        for start in range(0, len(openids), TAG_BATCH):
            batch = list(openids[start : start + TAG_BATCH])
            self._limited("tagging", partial(self.client.tag.untag_user, tag_id, batch), wait=60)
            calls += 1
        return calls

    def tag_members(self, tag_id: int, next_openid: str = "") -> FollowerPage:
        """One page (up to 10,000) of the openids carrying a tag, from ``next_openid``."""
        result = self._limited("tagging", lambda: self.client.tag.get_tag_users(tag_id, next_openid or None), wait=60)
        openids = list((result.get("data") or {}).get("openid") or [])
        return FollowerPage(int(result.get("count", 0)), openids, str(result.get("next_openid") or ""))

    def follower_page(self, next_openid: str = "") -> FollowerPage:
        """One page (up to 10,000) of follower openids, from ``next_openid``."""
        params = {"next_openid": next_openid} if next_openid else {}
        result = self._call("users", "get", "user/get", params=params, wait=60)
        openids = list((result.get("data") or {}).get("openid") or [])
        return FollowerPage(int(result.get("total", 0)), openids, str(result.get("next_openid") or ""))

    def follower_infos(self, openids: Sequence[str], *, wait: float = 60) -> list[FollowerInfo]:
        """Profile of up to 100 followers in one call; waits up to ``wait`` seconds for the rate limiter. One openid
        WeChat does not know fails the whole call (40003, ``InvalidOpenId``)."""
        if len(openids) > INFO_BATCH:
            raise ValidationFailed(f"at most {INFO_BATCH} openids per batch-info call")
        body = {"user_list": [{"openid": o, "lang": "zh_CN"} for o in openids]}
        result = self._call("users", "post", "user/info/batchget", data=body, wait=wait, idempotent=True)
        return [
            FollowerInfo(
                openid=str(u["openid"]),
                subscribed=bool(u.get("subscribe")),
                unionid=u.get("unionid") or None,
                subscribe_time=int(u["subscribe_time"]) if u.get("subscribe_time") else None,
                subscribe_scene=u.get("subscribe_scene") or None,
                qr_scene=(u.get("qr_scene_str") or (str(u["qr_scene"]) if u.get("qr_scene") else None)),
                tag_ids=[int(t) for t in u.get("tagid_list") or []],
                language=str(u["language"])[:16] if u.get("language") else None,
            )
            for u in result.get("user_info_list") or []
        ]

    def iter_follower_pages(self, start: str = "") -> Iterator[FollowerPage]:
        next_openid = start
        while True:
            page = self.follower_page(next_openid)
            if not page.openids:
                return
            yield page
            if not page.next_openid:
                return
            next_openid = page.next_openid

    # --- menu, QR codes, media ---------------------------------------------------------------------------------

    def push_menu(self, menu: dict[str, Any]) -> None:
        self.client._request("post", "menu/create", data=menu, idempotent=True)

    def current_menu(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client._request("get", "menu/get")
        return result

    def create_qrcode(self, scene: str, *, permanent: bool = False, expire_seconds: int = 2592000) -> QRCode:
        """A parametric QR code with a string scene (an opaque handle: it is visible to whoever scans it)."""
        if not 1 <= len(scene) <= SCENE_MAX:
            raise ValidationFailed(f"a QR scene is 1 to {SCENE_MAX} characters")
        body: dict[str, Any] = {
            "action_name": "QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        if not permanent:
            body["expire_seconds"] = expire_seconds
        result = self.client._request("post", "qrcode/create", data=body, idempotent=True)
        expires = result.get("expire_seconds")
        return QRCode(str(result["ticket"]), str(result["url"]), int(expires) if expires else None)

    def download_media(self, media_id: str) -> tuple[bytes, str]:
        """Temporary media by media_id (an image or voice a user sent): ``(content, content_type)``, through
        wechatpy's ``WeChatMedia.download`` (GET media/get). WeChat keeps it 3 days; after that, or for an id it
        does not know, it answers 40007 (``WeChatAPIError``). A video's answer is a URL, not the file: refused."""
        if not media_id or len(media_id) > MEDIA_ID_MAX:
            raise ValidationFailed("a media_id is 1 to 128 characters")
        result = self.client.media.download(media_id)
        content = getattr(result, "content", None)
        if not isinstance(content, bytes):
            raise WeChatAPIError(-1, "media/get did not return a file (a video answers with a URL)")
        content_type = str(result.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
        return content, content_type

    def upload_media(self, kind: str, filename: str, content: bytes, content_type: str) -> str:
        """A temporary media file (3 days) for image/voice/video/thumb messages; returns its media_id."""
        result = self.client._request(
            "post", "media/upload", params={"type": kind}, files={"media": (filename, content, content_type)}
        )
        return str(result["media_id"])
