"""``make chat``: a terminal that plays WeChat. Each line is signed, encrypted and posted to the webhook; each
reply is signature-checked, decrypted and printed. Commands send events instead of text.

What goes on the wire lives in ``emulator/follower.py``, which the console's chat simulator shares; this module only
reads lines and prints.
"""

from __future__ import annotations

from collections.abc import Callable

import click
import requests

from core.settings import Settings
from emulator import follower
from emulator.follower import Answer, EmulatorLink, Fields, TestFollower
from emulator.wire import Account

HELP = """Type a message and press Enter. Commands:
  /subscribe [scene]    follow the account (optionally through a QR scene)
  /unsubscribe          unfollow
  /click KEY            click a menu item
  /scan SCENE           scan a parametric QR code (as a follower)
  /location LAT LNG     share a location
  /user OPENID          chat as another user
  /quit                 leave"""


def _fields(line: str, chat: TestFollower) -> Fields | None:
    """The push a line stands for: a text message, or the event a /command names; None for an unknown command."""
    if not line.startswith("/"):
        return chat.say(line)
    command, *args = line.split()
    openid = chat.openid
    builders: dict[tuple[str, int], Callable[[], Fields]] = {
        ("/subscribe", 0): lambda: follower.subscribe(openid),
        ("/subscribe", 1): lambda: follower.subscribe(openid, args[0]),
        ("/unsubscribe", 0): lambda: follower.unsubscribe(openid),
        ("/click", 1): lambda: follower.click(openid, args[0]),
        ("/scan", 1): lambda: follower.scan(openid, args[0]),
        ("/location", 2): lambda: follower.location(openid, args[0], args[1], chat.msg_ids()),
    }
    build = builders.get((command, len(args)))
    return build() if build else None


def _print_answer(answer: Answer) -> None:
    if answer.problem is not None:
        prefix = f"HTTP {answer.status}: " if answer.status != 200 else ""
        click.secho(f"  {prefix}{answer.problem}", fg="red")
    elif not answer.reply:
        click.secho("  (no reply: answered `success`)", dim=True)
    else:
        for line in answer.text.splitlines():
            click.secho(f"  bot> {line}", fg="green")


class _Later:
    """The emulator's side of one chat user: keeps it told, prints the messages the bot sends later."""

    def __init__(self, http: requests.Session, url: str, openid: str) -> None:
        self.link = EmulatorLink(http, url, openid)
        self.link.ensure_follower()
        self.last_id = 0
        self._warn()

    def _warn(self) -> None:
        if self.link.problems:
            click.secho(f"  ({self.link.problems[-1]}: later messages will not show)", dim=True)
            self.link.problems.clear()

    def interacted(self, fields: Fields) -> None:
        self.link.interacted(fields)
        self._warn()

    def print_new_messages(self) -> None:
        for message in self.link.messages_after(self.last_id):
            click.secho(f"  bot (message)> {message.text}", fg="cyan")
            self.last_id = message.id
        self.link.problems.clear()  # a silent miss here: the next line tries again


def chat_loop(settings: Settings, url: str, openid: str, emulator: str | None) -> int:
    account = Account(settings.wechat.appid, settings.wechat.token, settings.wechat.aes_key)
    mode = settings.wechat.message_mode
    http = requests.Session()
    chat = TestFollower(account, openid, mode, follower.http_transport(http, url))
    later = _Later(http, emulator, openid) if emulator else None
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
            chat.openid = line.split(maxsplit=1)[1]
            later = _Later(http, emulator, chat.openid) if emulator else None
            click.echo(f"  now chatting as {chat.openid}")
            continue
        fields = _fields(line, chat)
        if fields is None:
            click.echo(HELP)
            continue
        if later:
            later.interacted(fields)
        try:
            answer = chat.send(fields)
        except requests.RequestException as exc:
            click.secho(f"  cannot reach the webhook ({exc.__class__.__name__}); is `make run` running?", fg="red")
            continue
        _print_answer(answer)
        if later:
            later.print_new_messages()
