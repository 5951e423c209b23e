"""Logging setup and the per-request log context (request id, hashed openid, MsgId).

No personal data goes into a log line: an openid is logged only as :func:`hash_openid`, and message contents never.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
openid_hash_var: ContextVar[str] = ContextVar("openid_hash", default="-")
msg_id_var: ContextVar[str] = ContextVar("msg_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s user=%(openid_hash)s msg=%(msg_id)s] %(message)s"


def hash_openid(openid: str) -> str:
    """A short, stable pseudonym for an openid, good enough to follow one user through the logs."""
    return hashlib.sha256(openid.encode()).hexdigest()[:12] if openid else "-"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.openid_hash = openid_hash_var.get()
        record.msg_id = msg_id_var.get()
        return True


def configure(level: str = "INFO") -> None:
    """Install one stderr handler on the root logger; calling it again only changes the level."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(h, "_xiaoyou", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ContextFilter())
    handler._xiaoyou = True  # type: ignore[attr-defined]
    root.addHandler(handler)
