"""``make chat``: a terminal that plays WeChat. Each line is signed, encrypted and posted to the webhook; each
reply is signature-checked, decrypted and printed. Commands send events instead of text.
"""

from __future__ import annotations

import itertools
import time

import click
import requests

from core.settings import Settings
from emulator.wire import Account

HELP = """Type a message and press Enter. Commands:
  /subscribe [scene]    follow the account (optionally through a QR scene)
  /unsubscribe          unfollow
  /click KEY            click a menu item
  /location LAT LNG     share a location
  /user OPENID          chat as another user
  /quit                 leave"""


def _fields(line: str, openid: str, msg_ids: itertools.count[int]) -> dict[str, str | int | float] | None:
    base: dict[str, str | int | float] = {
        "ToUserName": "gh_xiaoyou",
        "FromUserName": openid,
        "CreateTime": int(time.time()),
    }
    if not line.startswith("/"):
        return {**base, "MsgType": "text", "Content": line, "MsgId": next(msg_ids)}
    command, *args = line.split()
    if command == "/subscribe":
        key = f"qrscene_{args[0]}" if args else ""
        return {**base, "MsgType": "event", "Event": "subscribe", "EventKey": key}
    if command == "/unsubscribe":
        return {**base, "MsgType": "event", "Event": "unsubscribe"}
    if command == "/click" and len(args) == 1:
        return {**base, "MsgType": "event", "Event": "CLICK", "EventKey": args[0]}
    if command == "/location" and len(args) == 2:
        return {
            **base,
            "MsgType": "location",
            "Location_X": args[0],
            "Location_Y": args[1],
            "Scale": 15,
            "Label": "",
            "MsgId": next(msg_ids),
        }
    return None


def _print_reply(fields: dict[str, str]) -> None:
    if not fields:
        click.secho("  (no reply: answered `success`)", dim=True)
    elif fields.get("MsgType") == "text":
        for line in fields.get("Content", "").splitlines():
            click.secho(f"  bot> {line}", fg="green")
    else:
        click.secho(f"  bot> [{fields.get('MsgType')}] {fields}", fg="green")


class EmulatorLink:
    """Keeps the local WeChat emulator informed of what this chat does, so that the messages the bot sends later
    (customer-service messages) are accepted there, and shows them when they arrive."""

    def __init__(self, http: requests.Session, url: str, openid: str) -> None:
        self.http, self.url, self.openid, self.shown = http, url, openid, 0
        if not self._known():  # a new user follows; one who unfollowed in an earlier chat stays unfollowed
            self._post("/_emulator/users", {"users": [{"openid": openid}]})

    def _known(self) -> bool:
        try:
            return self.http.get(f"{self.url}/_emulator/users/{self.openid}", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def _post(self, path: str, body: dict[str, object]) -> None:
        try:
            self.http.post(self.url + path, json=body, timeout=3)
        except requests.RequestException:
            click.secho(f"  (emulator at {self.url} not reachable: later messages will not show)", dim=True)

    def interacted(self, fields: dict[str, str | int | float]) -> None:
        event = str(fields.get("Event")) if fields.get("MsgType") == "event" else ""
        if event in ("subscribe", "unsubscribe"):
            # WeChat's follower list must agree with the bot, or the next follower sync undoes the (un)follow.
            body = {"subscribed": event == "subscribe", "EventKey": str(fields.get("EventKey", ""))}
            self._post(f"/_emulator/users/{self.openid}/subscription", body)
        if event not in ("", "subscribe", "CLICK"):
            return
        kind = {"subscribe": "subscribe", "CLICK": "click"}.get(event, "message")
        self._post(f"/_emulator/users/{self.openid}/interact", {"kind": kind})

    def print_new_messages(self) -> None:
        try:
            found = (
                self.http.get(
                    f"{self.url}/_emulator/deliveries", params={"openid": self.openid, "channel": "custom"}, timeout=3
                )
                .json()
                .get("deliveries", [])
            )
        except (requests.RequestException, ValueError):
            return
        for item in found[self.shown :]:
            content = item.get("message", {}).get("text", {}).get("content") or item.get("message")
            click.secho(f"  bot (message)> {content}", fg="cyan")
        self.shown = len(found)


def chat_loop(settings: Settings, url: str, openid: str, emulator: str | None) -> int:
    account = Account(settings.wechat.appid, settings.wechat.token, settings.wechat.aes_key)
    mode = settings.wechat.message_mode
    msg_ids = itertools.count(int(time.time() * 1000))
    http = requests.Session()
    link = EmulatorLink(http, emulator, openid) if emulator else None
    click.echo(f"Chatting with {url} as {openid} ({mode} mode). /help for commands.")
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return 0
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return 0
        if line == "/help":
            click.echo(HELP)
            continue
        if line.startswith("/user "):
            openid = line.split(maxsplit=1)[1]
            link = EmulatorLink(http, emulator, openid) if emulator else None
            click.echo(f"  now chatting as {openid}")
            continue
        fields = _fields(line, openid, msg_ids)
        if fields is None:
            click.echo(HELP)
            continue
        if link:
            link.interacted(fields)
        push = account.build_push(fields, mode=mode)
        try:
            response = http.post(url, params=push.query, data=push.body, timeout=6)
        except requests.RequestException as exc:
            click.secho(f"  cannot reach the webhook ({exc.__class__.__name__}); is `make run` running?", fg="red")
            continue
        if response.status_code != 200:
            click.secho(f"  HTTP {response.status_code}: {response.text.strip()}", fg="red")
            continue
        try:
            _print_reply(account.read_reply(response.content, encrypted=mode != "plaintext"))
        except ValueError as exc:
            click.secho(f"  the reply is not valid for WeChat: {exc}", fg="red")
        if link:
            link.print_new_messages()
