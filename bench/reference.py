"""The reference webhook: the least a safe-mode official-account webhook can do, with Flask and wechatpy only.

It checks the plain signature, checks ``msg_signature`` and decrypts with wechatpy's ``WeChatCrypto``, parses with
``wechatpy.parse_message`` and answers an encrypted ``TextReply`` echoing the text (or ``event:<name>`` for an
event). No dedupe, no database, no routing, no timestamp window, no metrics: it is the floor the real webhook is
measured against, not an example to follow. Served by gunicorn as ``bench.reference:create_app()`` with the
account read from the same ``XIAOYOU__WECHAT__*`` variables the real app reads.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, Response, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature


def echo_text(message: object) -> str:
    """What the reference answers: the text itself, or ``event:<name>`` for an event (the load generator agrees)."""
    if getattr(message, "type", "") == "event":
        return f"event:{getattr(message, 'event', '')}"
    return str(getattr(message, "content", ""))


def create_app() -> Flask:
    token = os.environ["XIAOYOU__WECHAT__TOKEN"]
    appid = os.environ["XIAOYOU__WECHAT__APPID"]
    crypto = WeChatCrypto(token, os.environ["XIAOYOU__WECHAT__AES_KEY"], appid)
    app = Flask("bench_reference")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.post("/wechat")
    def receive() -> Response | tuple[str, int]:
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        try:
            check_signature(token, args.get("signature", ""), timestamp, nonce)
            xml = crypto.decrypt_message(request.get_data(), args.get("msg_signature", ""), timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException):
            return "forged\n", 403
        message = parse_message(xml)
        reply = TextReply(message=message, content=echo_text(message)).render()
        sealed = crypto.encrypt_message(reply, str(secrets.randbelow(10**10)))
        return Response(sealed, mimetype="application/xml")

    return app
