"""What an operator relies on: health, metrics, request ids, log lines without personal data, the CLI, the jobs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.runtime import Runtime
from core.settings import PROJECT_ROOT
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, wait_for
from jobs import JOBS, JobContext, deliver_outbox, purge_inbound_log
from models import InboundMessage, OutboundMessage, utcnow
from services import outbox
from tests.conftest import AES_KEY, APPID, TOKEN, WeChatUser


def test_healthz_reports_database_and_redis(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_says_which_dependency_is_down(settings_factory: Any, make_app: Any) -> None:
    app = make_app(settings_factory(redis={"url": "redis://127.0.0.1:9/0"}))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "ok"
    assert response.json["redis"].startswith("error: ")


def test_metrics_count_latency_dedupe_hits_and_rejections(user: WeChatUser, client: FlaskClient) -> None:
    def sample(text: str, name: str, **labels: str) -> float:
        for line in text.splitlines():
            if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = client.get("/metrics").get_data(as_text=True)
    fields = user.fields(MsgType="text", Content="帮助", MsgId=777001)
    user.reply(fields)
    user.reply(fields)
    user.push(fields, signature="bad")
    after = client.get("/metrics").get_data(as_text=True)
    assert sample(after, "xiaoyou_webhook_latency_seconds_count", outcome="handled") == (
        sample(before, "xiaoyou_webhook_latency_seconds_count", outcome="handled") + 1
    )
    assert sample(after, "xiaoyou_webhook_dedupe_hits_total", layer="redis") == (
        sample(before, "xiaoyou_webhook_dedupe_hits_total", layer="redis") + 1
    )
    assert sample(after, "xiaoyou_webhook_rejected_total", code="bad_signature") == (
        sample(before, "xiaoyou_webhook_rejected_total", code="bad_signature") + 1
    )
    assert "xiaoyou_webhook_handler_errors_total" in after


def test_request_id_is_echoed_or_made(client: FlaskClient) -> None:
    assert client.get("/healthz", headers={"X-Request-Id": "abc123"}).headers["X-Request-Id"] == "abc123"
    made = client.get("/healthz", headers={"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert made != "<script>" and len(made) == 16


def test_log_lines_carry_ids_but_no_personal_data(user: WeChatUser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user.say("提问")
    user.say("我的手机号是13800138000，请回电")
    user.push(user.fields(MsgType="text", Content="x", MsgId=1), signature="forged")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert user.openid not in text
    assert "13800138000" not in text
    assert any(getattr(r, "request_id", "-") != "-" for r in caplog.records)


def test_unknown_routes_and_methods_answer_json_not_html(client: FlaskClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and (missing.json or {})["error"]["code"] == "not_found"
    wrong = client.put("/wechat")
    assert wrong.status_code == 405 and (wrong.json or {})["error"]["code"] == "method_not_allowed"


# --- the command line ----------------------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYOU")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        check=False,
        cwd=PROJECT_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    result = run_cli(
        "config",
        "show",
        env={
            "XIAOYOU__VAR_DIR": str(tmp_path),
            "XIAOYOU__WECHAT__SECRET": "topsecretvalue99",
            "DATABASE_URL": "postgresql://app:pa55word@db/x",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "topsecretvalue99" not in result.stdout and "pa55word" not in result.stdout
    assert "secret: '****99'" in result.stdout
    assert "message_mode: safe" in result.stdout


def test_config_check_names_the_wrong_key(tmp_path: Path) -> None:
    result = run_cli(
        "config", "check", env={"XIAOYOU__VAR_DIR": str(tmp_path), "XIAOYOU__WEBHOOK__MAX_BODY_BYTES": "huge"}
    )
    assert result.returncode == 1
    assert "webhook.max_body_bytes: Input should be a valid integer" in result.stderr


# --- jobs --------------------------------------------------------------------------------------------------------


def test_outbox_job_retries_after_a_network_failure(settings_factory: Any, make_app: Any) -> None:
    emulator = RunningEmulator.start(
        EmulatorConfig(oa_appid=APPID, oa_secret="test-secret", token=TOKEN, aes_key=AES_KEY)
    )
    try:
        openid = "o_retry_user_00000000000001"
        emulator.add_followers(openid)
        emulator.interact(openid, "message")
        down = make_app(settings_factory(outbox={"retry_interval_seconds": 1}))
        rt_down: Runtime = down.extensions["xiaoyou"]
        down.extensions["xiaoyou.gateway"]().official.record_interaction(openid, "message")  # the user wrote to us
        with rt_down.db.session() as s:
            (row_id,) = outbox.enqueue(s, "test:retry", openid, [{"msgtype": "text", "content": "稍后送达"}])
        assert deliver_outbox(JobContext(rt_down)) == {"pending": 1}  # api_base_url is a closed port
        with rt_down.db.session() as s:
            s.execute(
                OutboundMessage.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1))  # type: ignore[attr-defined]
            )
        up = make_app(settings_factory(wechat={"api_base_url": emulator.url}))
        assert deliver_outbox(JobContext(up.extensions["xiaoyou"])) == {"sent": 1}
        assert deliver_outbox(JobContext(up.extensions["xiaoyou"])) == {}
        assert [d["message"]["text"]["content"] for d in emulator.deliveries(openid, "custom")] == ["稍后送达"]
        with rt_down.db.session() as s:
            row = s.get(OutboundMessage, row_id)
            assert row is not None and row.status == "sent" and row.attempts == 2
    finally:
        emulator.stop()


def test_purge_removes_only_rows_past_retention(app: Any) -> None:
    rt: Runtime = app.extensions["xiaoyou"]
    with rt.db.session() as s:
        s.add(InboundMessage(dedupe_key="old", openid="o", msg_type="text", received_at=utcnow() - timedelta(days=31)))
        s.add(InboundMessage(dedupe_key="new", openid="o", msg_type="text", received_at=utcnow() - timedelta(days=1)))
    assert purge_inbound_log(JobContext(rt)) == 1
    with rt.db.session() as s:
        assert s.scalars(select(InboundMessage.dedupe_key)).all() == ["new"]
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_only_one_scheduler_runs_the_jobs(settings: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYOU")} | {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis.url,
        "XIAOYOU__WECHAT__API_BASE_URL": "http://127.0.0.1:9",
    }

    logs: dict[int, list[str]] = {}
    readers: list[threading.Thread] = []

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs"], cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        lines = logs[proc.pid] = []
        readers.append(threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True))
        readers[-1].start()
        return proc

    def said(proc: subprocess.Popen[str], text: str) -> bool:
        return any(text in line for line in list(logs[proc.pid]))

    first = start()
    assert wait_for(lambda: said(first, "scheduler leading"), timeout=30)  # however slow the machine starts it
    second = start()
    assert wait_for(lambda: said(second, "standing by"), timeout=30)
    for proc in (second, first):
        proc.send_signal(signal.SIGTERM)
    for proc in (second, first):
        proc.wait(timeout=20)
    for reader in readers:
        reader.join(5)
    for proc in (second, first):
        if proc.stderr is not None:
            proc.stderr.close()
    first_err, second_err = "".join(logs[first.pid]), "".join(logs[second.pid])
    assert first.returncode == 0 and second.returncode == 0, first_err + second_err
    assert f"scheduler leading with jobs: {', '.join(spec.id for spec in JOBS)}" in first_err
    assert "standing by" in second_err and "leading" not in second_err


def test_job_times_come_from_the_schedule_settings(settings_factory: Any) -> None:
    settings = settings_factory(schedule={"followers_sync": "30 18 * * mon", "card_scans_flush_seconds": 30})
    triggers = {spec.id: spec.trigger(settings) for spec in JOBS}
    monday = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday
    assert triggers["followers.sync"].get_next_fire_time(None, monday) == datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
    assert triggers["card.scans.flush"].interval == timedelta(seconds=30)
    defaults = {spec.id: spec.trigger(settings_factory()) for spec in JOBS}  # config.yaml: 03:17 UTC
    assert defaults["inbound.purge"].get_next_fire_time(None, monday) == datetime(2026, 12, 7, 3, 17, tzinfo=UTC)
