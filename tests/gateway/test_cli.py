"""The operator commands that talk to WeChat, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.settings import PROJECT_ROOT
from emulator.testing import RunningEmulator
from models import Follower
from tests.conftest import AES_KEY, APPID, TOKEN


def cli(
    emulator: RunningEmulator, settings: Any, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYOU")} | {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path),
        "XIAOYOU__WECHAT__APPID": APPID,
        "XIAOYOU__WECHAT__SECRET": "test-secret",
        "XIAOYOU__WECHAT__TOKEN": TOKEN,
        "XIAOYOU__WECHAT__AES_KEY": AES_KEY,
        "XIAOYOU__WECHAT__API_BASE_URL": emulator.url,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis.url,
    }
    command = [sys.executable, "-m", "cli", *args]
    return subprocess.run(
        command, check=False, cwd=PROJECT_ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_push_menu_sends_the_configured_menu(emulator: RunningEmulator, settings: Any, tmp_path: Path) -> None:
    result = cli(emulator, settings, tmp_path, "wechat", "push-menu")
    assert result.returncode == 0, result.stderr
    assert "menu pushed: 校友卡, 班级群, 更多" in result.stdout
    menu = emulator.get("/cgi-bin/menu/get", access_token=emulator.token())
    assert [b.get("key") for b in menu["menu"]["button"]] == ["CARD", "CLASS_JOIN", None]  # 更多 holds 提问, 帮助


def test_sync_followers_command(emulator: RunningEmulator, settings: Any, tmp_path: Path) -> None:
    emulator.control("POST", "/users", {"generate": {"count": 230, "prefix": "oCli"}})
    result = cli(emulator, settings, tmp_path, "wechat", "sync-followers")
    assert result.returncode == 0, result.stderr
    assert "synced 230 followers in 3 batches" in result.stdout


def test_a_wechat_error_is_a_clear_message_not_a_traceback(settings: Any, tmp_path: Path) -> None:
    down = RunningEmulator.start()
    down.stop()  # nothing listens there any more
    result = cli(down, settings, tmp_path, "wechat", "sync-followers")
    assert result.returncode == 1
    assert "sync stopped (run again to resume)" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_wechat_is_not_called_a_refusal(settings: Any, tmp_path: Path) -> None:
    down = RunningEmulator.start()
    down.stop()  # a closed port: WeChat never answered, so it refused nothing
    for command in (("wechat", "push-menu"), ("wechat", "sync-followers")):
        result = cli(down, settings, tmp_path, *command)
        assert result.returncode == 1
        assert f"WeChat could not be reached at {down.url}" in result.stderr, result.stderr
        assert "refused" not in result.stderr
        assert "Traceback" not in result.stderr


def test_chat_unsubscribe_tells_wechat_so_a_sync_does_not_revive_the_follower(
    emulator: RunningEmulator, gateway_settings: Any, make_app: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    server = live_server(make_app(gateway_settings()))
    openid = "o_chat_leaver"

    def chat(*lines: str) -> subprocess.CompletedProcess[str]:
        args = ("chat", "--url", f"{server.url}/wechat", "--user", openid, "--emulator", emulator.url)
        done = cli(emulator, settings, tmp_path, *args, stdin="\n".join([*lines, "/quit", ""]))
        assert done.returncode == 0, done.stderr
        return done

    assert "欢迎" in chat("/subscribe", "/unsubscribe").stdout
    assert emulator.control("GET", f"/users/{openid}")["subscribed"] is False
    chat()  # chatting again as the same user follows nobody: only /subscribe does
    assert emulator.control("GET", f"/users/{openid}")["subscribed"] is False

    synced = cli(emulator, settings, tmp_path, "wechat", "sync-followers")
    assert synced.returncode == 0, synced.stderr
    db = Database(settings.database_url)
    with db.session() as session:
        follower = session.scalars(select(Follower).where(Follower.openid == openid)).one()
        assert follower.subscribed is False
    db.dispose()

    chat("/subscribe")
    assert emulator.control("GET", f"/users/{openid}")["subscribed"] is True
