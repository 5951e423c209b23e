"""The WeRoBot references: WeRoBot's own echo webhook, and the same with its default SQLite session.

The only widely used Python peer of this webhook. Both run in safe mode (WeRoBot decrypts the push and encrypts the
reply with its own ``MessageCrypt``) and answer as ``bench/reference.py`` does: the text itself, or
``event:<name>`` for an event, so the load generator checks them the same way. The session variant is WeRoBot with
``enable_session`` on its default storage (``werobot.session.sqlitestorage.SQLiteStorage``: one SQLite connection
shared by every thread of the worker), in a file of the benchmark's working directory; its handler counts the user's
pushes in the session, so every push reads and writes it, the least a stateful handler does.

Served by gunicorn as ``bench.werobot_reference:echo_app()`` or ``bench.werobot_reference:session_app()``, with the
account read from the same ``XIAOYOU__WECHAT__*`` variables as the app. ``GET /healthz`` answers 200 (WeRoBot's
own view would refuse an unsigned request), everything else goes to WeRoBot's Bottle app. When WeRoBot's session
raises (SQLite's "database is locked" under concurrent writers), WeRoBot logs it and answers an empty body: the
benchmark counts those as failed pushes of the reference, not of the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werobot import WeRoBot

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _echo(message: Any) -> str:
    kind = str(getattr(message, "type", ""))
    if kind.endswith("_event"):
        return f"event:{kind.removesuffix('_event')}"
    return str(getattr(message, "content", ""))


def _robot(session_file: Path | None) -> WeRoBot:
    config: dict[str, Any] = {
        "token": os.environ["XIAOYOU__WECHAT__TOKEN"],
        "app_id": os.environ["XIAOYOU__WECHAT__APPID"],
        "encoding_aes_key": os.environ["XIAOYOU__WECHAT__AES_KEY"],
    }
    if session_file is None:  # SESSION_STORAGE False: no session (None would mean the default file, in the cwd)
        return WeRoBot(SESSION_STORAGE=False, **config)
    from werobot.session.sqlitestorage import SQLiteStorage

    return WeRoBot(session_storage=SQLiteStorage(str(session_file)), **config)


def _serve(robot: WeRoBot) -> Wsgi:
    inner: Wsgi = robot.wsgi

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return inner(environ, start_response)

    return app


def echo_app() -> Wsgi:
    robot = _robot(None)

    @robot.handler
    def echo(message: Any) -> str:
        return _echo(message)

    return _serve(robot)


def session_app() -> Wsgi:
    # One file per worker process would hide the contention WeRoBot's users meet; it is one file, as by default.
    robot = _robot(Path(os.environ["XIAOYOU__VAR_DIR"]) / "werobot_session.sqlite3")

    @robot.handler
    def echo(message: Any, session: dict[str, Any]) -> str:
        session["pushes"] = int(session.get("pushes", 0)) + 1
        return _echo(message)

    return _serve(robot)
