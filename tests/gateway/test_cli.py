"""The operator commands that talk to WeChat, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.settings import PROJECT_ROOT
from emulator.testing import RunningEmulator
from tests.conftest import AES_KEY, APPID, TOKEN


def cli(emulator: RunningEmulator, settings: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
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
    return subprocess.run(command, check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_push_menu_sends_the_configured_menu(emulator: RunningEmulator, settings: Any, tmp_path: Path) -> None:
    result = cli(emulator, settings, tmp_path, "wechat", "push-menu")
    assert result.returncode == 0, result.stderr
    assert "menu pushed: 提问, 帮助" in result.stdout
    menu = emulator.get("/cgi-bin/menu/get", access_token=emulator.token())
    assert [b["key"] for b in menu["menu"]["button"]] == ["ASK", "HELP"]


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
