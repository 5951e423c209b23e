"""Helpers for tests that need the emulator: run it on a free port, drive its controls, talk to the bot as a
follower (:class:`ChatUser`), point wechatpy at it.

``RunningEmulator.start()`` serves a fresh emulator with werkzeug on 127.0.0.1 (port 0) in a daemon thread, the way
test suites use it, and wraps the ``/_emulator/`` controls. ``EmulatorWeChatClient`` is wechatpy's client with every
URL redirected to the emulator. ``FakeWebhook`` is a minimal official-account webhook that checks each push's
signatures on its own (with ``emulator.wire``), decrypts and records it, and answers like an account would; the
emulator's tests use it to check what the emulator pushes. Nothing here is used by the emulator itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeET
import requests
from flask import Flask, Response, request
from wechatpy import WeChatClient
from werkzeug.serving import BaseWSGIServer, make_server

from emulator.app import create_app, stop_app
from emulator.config import EmulatorConfig
from emulator.wire import Account, message_xml, sha1_signature


@dataclass
class Served:
    """A WSGI app served on 127.0.0.1 in a background thread."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: Flask) -> Served:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return Served(f"http://127.0.0.1:{server.server_port}", server, thread)


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until ``predicate()`` is truthy or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def openid(n: int, prefix: str = "oTest") -> str:
    """A 28-character openid, the length WeChat issues (wechatpy's mass preview checks it)."""
    return f"{prefix}{n:0{28 - len(prefix)}d}"


class RunningEmulator:
    """An emulator served over HTTP, with shortcuts for raw WeChat calls and the ``/_emulator/`` controls."""

    def __init__(self, app: Flask, served: Served, config: EmulatorConfig) -> None:
        self.app = app
        self.served = served
        self.url = served.url
        self.config = config

    @classmethod
    def start(cls, config: EmulatorConfig | None = None) -> RunningEmulator:
        config = config or EmulatorConfig()
        app = create_app(config)
        return cls(app, serve(app), config)

    def stop(self) -> None:
        self.served.stop()
        stop_app(self.app)

    # --- WeChat API, raw ---

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = requests.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def post(self, path: str, body: Any, **params: Any) -> dict[str, Any]:
        response = requests.post(self.url + path, params=params, json=body, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def token(self, kind: str = "oa") -> str:
        """A fresh access token from ``/cgi-bin/token`` for the official account (``oa``) or mini-program (``mp``)."""
        cfg = self.config
        appid, secret = (cfg.oa_appid, cfg.oa_secret) if kind == "oa" else (cfg.mp_appid, cfg.mp_secret)
        result = self.get("/cgi-bin/token", grant_type="client_credential", appid=appid, secret=secret)
        token: str = result["access_token"]
        return token

    # --- controls ---

    def control(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = requests.request(method, f"{self.url}/_emulator{path}", json=body, timeout=30)
        if response.status_code != expect:
            raise AssertionError(f"{method} /_emulator{path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def configure(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.control("PUT", "/config", changes)
        return result

    def add_followers(self, *openids: str, **fields: Any) -> None:
        self.control("POST", "/users", {"users": [{"openid": o, **fields} for o in openids]})

    def interact(self, openid: str, kind: str) -> None:
        self.control("POST", f"/users/{openid}/interact", {"kind": kind})

    def advance(self, seconds: float) -> None:
        self.control("POST", "/clock/advance", {"seconds": seconds})

    def freeze_clock(self, frozen: bool = True) -> None:
        self.control("POST", "/clock", {"frozen": frozen})

    def deliveries(self, openid: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("openid", openid), ("channel", channel)) if v}
        response = requests.get(f"{self.url}/_emulator/deliveries", params=params, timeout=10)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["deliveries"]
        return found

    def user_media(self, openid: str, kind: str = "image", *, push: bool = False, **fields: Any) -> dict[str, Any]:
        """The follower sends an image or voice (``/_emulator/users/<openid>/media``): its ``media_id`` and
        ``fields``; with ``push``, the emulator also pushes it to the webhook."""
        result: dict[str, Any] = self.control("POST", f"/users/{openid}/media", {"type": kind, "push": push, **fields})
        return result

    def calls(self) -> dict[str, int]:
        result: dict[str, int] = self.control("GET", "/calls")
        return result

    def login_code(self, openid: str, unionid: str | None = None) -> str:
        body: dict[str, str] = {"openid": openid}
        if unionid:
            body["unionid"] = unionid
        code: str = self.control("POST", "/login_codes", body)["code"]
        return code


@dataclass
class ChatUser:
    """A follower of the account talking to the bot as WeChat would: each push goes through the emulator's
    ``/push`` (signed and encrypted to the real webhook), and the answer is the decrypted passive reply."""

    emulator: RunningEmulator
    openid: str

    def push(self, **fields: Any) -> dict[str, Any]:
        """The reply's fields (``{}`` for ``success``)."""
        reply: dict[str, Any] = self.emulator.control("POST", "/push", {"openid": self.openid, **fields})["reply"]
        return reply or {}

    def answer(self, **fields: Any) -> str:
        """The reply's text (``""`` for ``success`` or a reply without text)."""
        return str(self.push(**fields).get("Content", ""))

    def say(self, text: str) -> str:
        return self.answer(MsgType="text", Content=text)

    def click(self, key: str) -> str:
        return self.answer(MsgType="event", Event="CLICK", EventKey=key)

    def scan(self, scene: str, at: int | None = None) -> str:
        """Scan a parametric QR code while following."""
        return self.answer(MsgType="event", Event="SCAN", EventKey=scene, CreateTime=at or int(time.time()))

    def follow(self, scene: str | None = None) -> str:
        """Follow the account, through a parametric QR code when ``scene`` is given."""
        return self.answer(MsgType="event", Event="subscribe", EventKey=f"qrscene_{scene}" if scene else "")

    def share(self, lat: float, lng: float, label: str = "") -> str:
        return self.answer(MsgType="location", Location_X=str(lat), Location_Y=str(lng), Scale=15, Label=label)

    def send_image(self) -> str:
        """A picture, as WeChat sends one: its media is held by the emulator, so the bot can download it."""
        media = self.emulator.user_media(self.openid, "image")
        return self.answer(MsgType="image", PicUrl="http://example.invalid/a.jpg", MediaId=media["media_id"])

    def received(self, channel: str = "custom") -> list[dict[str, Any]]:
        """The messages the account sent this user later (customer-service messages by default)."""
        return [d["message"] for d in self.emulator.deliveries(self.openid, channel)]

    def texts_received(self) -> list[str]:
        return [m["text"]["content"] for m in self.received() if m["msgtype"] == "text"]


class EmulatorWeChatClient(WeChatClient):  # type: ignore[misc,unused-ignore]  # wechatpy has no type hints
    """wechatpy's client talking to the emulator at ``base_url``.

    wechatpy 1.8.18 builds API URLs from ``API_BASE_URL`` (the mini-program API from ``wxa.API_BASE_URL``) but
    fetches tokens from a hard-coded https://api.weixin.qq.com/cgi-bin/token, so that method is redirected too.
    """

    def __init__(self, base_url: str, appid: str, secret: str, **kwargs: Any) -> None:
        super().__init__(appid, secret, **kwargs)
        self.API_BASE_URL = base_url + "/cgi-bin/"
        self.wxa.API_BASE_URL = base_url + "/"

    def fetch_access_token(self) -> dict[str, Any]:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        result: dict[str, Any] = self._fetch_access_token(url=self.API_BASE_URL + "token", params=params)
        return result


@dataclass
class FakeWebhook:
    """A minimal safe-mode webhook: what it received, and how it should answer.

    Text messages get an encrypted ``echo: <Content>`` reply; everything else gets ``success``. The first
    ``stall_count`` requests wait ``stall_seconds`` before answering, to provoke WeChat's retries.
    """

    account: Account
    url: str = ""
    pushes: list[dict[str, str]] = field(default_factory=list)
    bad_signatures: int = 0
    requests_seen: int = 0
    stall_seconds: float = 0.0
    stall_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    served: Served | None = None

    @classmethod
    def start(cls, account: Account) -> FakeWebhook:
        hook = cls(account)
        hook.served = serve(hook.app())
        hook.url = hook.served.url + "/wechat"
        return hook

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()

    def events(self, name: str) -> list[dict[str, str]]:
        with self.lock:
            return [p for p in self.pushes if p.get("Event") == name]

    def app(self) -> Flask:
        app = Flask("fake_webhook")
        app.add_url_rule("/wechat", "wechat", self._receive, methods=["POST"])
        return app

    def _receive(self) -> Response:
        account = self.account
        query = request.args
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        envelope = SafeET.fromstring(request.get_data())
        encrypted = envelope.findtext("Encrypt") or ""
        plain_ok = sha1_signature(account.token, timestamp, nonce) == query.get("signature")
        msg_ok = sha1_signature(account.token, timestamp, nonce, encrypted) == query.get("msg_signature")
        with self.lock:
            self.requests_seen += 1
            stall = self.requests_seen <= self.stall_count
            if not (plain_ok and msg_ok):
                self.bad_signatures += 1
        if not (plain_ok and msg_ok):
            return Response("bad signature", status=403)
        fields = {child.tag: child.text or "" for child in SafeET.fromstring(account.decrypt(encrypted))}
        if stall:
            time.sleep(self.stall_seconds)
        with self.lock:
            self.pushes.append(fields)
        if fields.get("MsgType") != "text":
            return Response("success")
        reply: dict[str, str | int | float] = {
            "ToUserName": fields["FromUserName"],
            "FromUserName": fields["ToUserName"],
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": "echo: " + fields.get("Content", ""),
        }
        return Response(self._encrypted(reply), mimetype="application/xml")

    def _encrypted(self, fields: dict[str, str | int | float]) -> str:
        encrypted = self.account.encrypt(message_xml(fields))
        timestamp, nonce = str(int(time.time())), "20240611"
        signature = sha1_signature(self.account.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
