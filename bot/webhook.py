"""``GET``/``POST /wechat``: the official account's webhook. Thin: open the push, run the pipeline, seal the reply.

Rejections (forged, stale, wrong AppId, plaintext in safe mode, malformed, too large) get a plain-text
``<code>: <detail>`` with the status from ``core.errors``, and nothing is stored. A valid push always gets XML or
``success``, whatever happens behind it.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, request

from bot import metrics
from bot.pipeline import Pipeline
from bot.protocol import PushCodec
from core import logging as xy_logging
from core.errors import BodyTooLarge, PushRejected

log = logging.getLogger(__name__)


def _reject(exc: PushRejected) -> Response:
    metrics.REJECTED.labels(exc.code).inc()
    log.warning("push rejected: %s (%s)", exc.code, exc.detail)
    return Response(f"{exc.code}: {exc.detail}\n", status=exc.status, mimetype="text/plain")


def create_blueprint(codec: PushCodec, pipeline: Pipeline) -> Blueprint:
    bp = Blueprint("wechat_webhook", __name__)

    @bp.get("/wechat")
    def verify_url() -> Response:
        try:
            return Response(codec.verify_url(request.args), mimetype="text/plain")
        except PushRejected as exc:
            return _reject(exc)

    @bp.post("/wechat")
    def receive() -> Response:
        started = time.perf_counter()
        cap = codec.max_body_bytes
        # Refuse by the declared length before reading, and never read more than the cap plus one byte.
        if (request.content_length or 0) > cap:
            return _reject(BodyTooLarge(f"body is over {cap} bytes"))
        body = request.stream.read(cap + 1)
        try:
            push = codec.open(request.args, body)
        except PushRejected as exc:
            return _reject(exc)
        xy_logging.openid_hash_var.set(xy_logging.hash_openid(push.openid))
        xy_logging.msg_id_var.set(push.dedupe_key.split(":", 2)[1] if push.dedupe_key.startswith("msg:") else "event")
        outcome = pipeline.process(push)
        payload = b"success" if outcome.reply is None else codec.seal(outcome.reply.render(push.message), push)
        metrics.WEBHOOK_LATENCY.labels(outcome.status).observe(time.perf_counter() - started)
        return Response(payload, mimetype="application/xml" if outcome.reply else "text/plain")

    return bp
