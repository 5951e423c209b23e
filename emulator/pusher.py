"""Pushes from "WeChat" to the official account's webhook: user messages on demand, job events in the background.

Signing and encryption come from ``emulator.wire`` (the one implementation of what WeChat sends). WeChat's delivery
rules are played here: a 5-second deadline, then a retry of the same push, three attempts in all
(https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html); the reply
must be ``success``, empty, or a well-formed (in safe mode encrypted and signed) XML message.

Job events (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH) go through one background thread in order, because WeChat
sends them after the API call has answered; the webhook may be the very app that is waiting for that answer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from emulator.config import EmulatorConfig
from emulator.wire import Account, Mode

logger = logging.getLogger(__name__)

Fields = dict[str, str | int | float]


@dataclass
class PushResult:
    """What happened to one push: the HTTP status of the last attempt, the reply's fields, or why it failed."""

    status: int | None
    reply: dict[str, str] | None
    error: str | None
    attempts: int
    elapsed_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reply": self.reply,
            "error": self.error,
            "attempts": self.attempts,
            "elapsed_ms": self.elapsed_ms,
        }


def _mode(value: str) -> Mode:
    if value == "compatible":
        return "compatible"
    if value == "plaintext":
        return "plaintext"
    return "safe"


def push_to_webhook(config: EmulatorConfig, fields: Fields) -> PushResult:
    """POST one signed push to the webhook as WeChat does, retrying on timeout, and read the reply."""
    account = Account(appid=config.oa_appid, token=config.token, aes_key=config.aes_key)
    mode = _mode(config.mode)
    push = account.build_push(fields, mode=mode)
    started = time.monotonic()
    attempts = 0
    status: int | None = None
    error: str | None = None
    body = b""
    for _ in range(1 + max(0, config.push_retries)):
        attempts += 1
        try:
            response = requests.post(
                config.webhook_url,
                params=push.query,
                data=push.body,
                headers={"Content-Type": "text/xml"},
                timeout=config.push_timeout_seconds,
            )
        except requests.Timeout:
            # WeChat drops the connection and sends the same push again.
            error = f"no answer within {config.push_timeout_seconds:g} s"
            continue
        except requests.RequestException as exc:
            error = f"webhook unreachable: {exc.__class__.__name__}"
            break
        status, body, error = response.status_code, response.content, None
        break
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if status is None:
        return PushResult(None, None, error, attempts, elapsed_ms)
    if status != 200:
        # The user would see "该公众号暂时无法提供服务，请稍后再试".
        return PushResult(status, None, f"webhook answered HTTP {status}", attempts, elapsed_ms)
    try:
        reply = account.read_reply(body, encrypted=mode != "plaintext")
    except (ValueError, SyntaxError) as exc:  # defusedxml's ParseError is a SyntaxError
        return PushResult(status, None, f"malformed reply: {exc}", attempts, elapsed_ms)
    return PushResult(status, reply, None, attempts, elapsed_ms)


class EventPusher:
    """One daemon thread that sends queued job events to the webhook in order, recording each outcome."""

    def __init__(self, on_result: Callable[[Fields, PushResult], None]) -> None:
        self._queue: queue.Queue[tuple[EmulatorConfig, Fields] | None] = queue.Queue()
        self._on_result = on_result
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, config: EmulatorConfig, fields: Fields) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="emulator-event-pusher", daemon=True)
                self._thread.start()
        self._queue.put((config, fields))

    def stop(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            config, fields = item
            try:
                result = push_to_webhook(config, fields)
            except Exception:  # a broken push must not kill the thread that carries every later event
                logger.exception("event push failed")
                continue
            if result.error:
                logger.warning("event %s push failed: %s", fields.get("Event"), result.error)
            self._on_result(fields, result)
