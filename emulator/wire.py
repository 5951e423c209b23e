"""WeChat's side of the push protocol: build signed (and encrypted) pushes, read the replies.

This is what WeChat's servers do when they call an official account's webhook. ``make chat``, the tests, the
benchmarks and the emulator all speak to the webhook through it, so there is one implementation of "what WeChat
sends". It uses wechatpy's AES primitive (the same one the webhook uses) but computes signatures itself, so a bug in
the webhook's verification cannot hide behind a shared helper.

Doc: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from wechatpy.crypto import PrpCrypto

Mode = Literal["safe", "compatible", "plaintext"]


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    import base64

    return base64.b64decode(encoding_aes_key + "=")


def message_xml(fields: Mapping[str, object]) -> str:
    """Render a push body the way WeChat does: strings in CDATA, numbers bare."""
    parts = ["<xml>"]
    for name, value in fields.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    parts.append("</xml>")
    return "".join(parts)


@dataclass(frozen=True)
class Push:
    """One HTTP request as WeChat would send it."""

    query: dict[str, str]
    body: bytes
    nonce: str
    timestamp: str


@dataclass(frozen=True)
class Account:
    """The official account's credentials, as configured on WeChat's side."""

    appid: str
    token: str
    aes_key: str

    def encrypt(self, plaintext_xml: str) -> str:
        return PrpCrypto(aes_key_bytes(self.aes_key)).encrypt(plaintext_xml, self.appid).decode()

    def decrypt(self, encrypted: str) -> str:
        return str(PrpCrypto(aes_key_bytes(self.aes_key)).decrypt(encrypted, self.appid))

    def build_push(
        self,
        fields: Mapping[str, object],
        mode: Mode = "safe",
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> Push:
        """Sign (and in safe/compatible mode encrypt) a push carrying ``fields``."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        plain = message_xml(fields)
        query = {"signature": sha1_signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if mode == "plaintext":
            return Push(query, plain.encode(), nonce, ts)
        encrypted = self.encrypt(plain)
        query["encrypt_type"] = "aes"
        query["msg_signature"] = sha1_signature(self.token, ts, nonce, encrypted)
        query["openid"] = str(fields.get("FromUserName", ""))
        if mode == "safe":
            body = (
                f"<xml><ToUserName><![CDATA[{fields.get('ToUserName', '')}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            )
        else:  # compatible: plaintext fields and the ciphertext side by side
            body = plain[: -len("</xml>")] + f"<Encrypt><![CDATA[{escape(encrypted)}]]></Encrypt></xml>"
        return Push(query, body.encode(), nonce, ts)

    def read_reply(self, body: bytes, encrypted: bool = True) -> dict[str, str]:
        """Check and decrypt a passive reply; return its fields. ``{}`` means ``success`` or an empty body.

        Raises ``ValueError`` when the reply is not what WeChat accepts (bad signature, not XML, wrong AppId).
        """
        text = body.decode()
        if text in ("", "success"):
            return {}
        root = SafeET.fromstring(text)
        if encrypted:
            encrypt = root.findtext("Encrypt") or ""
            ts = root.findtext("TimeStamp") or ""
            nonce = root.findtext("Nonce") or ""
            if sha1_signature(self.token, ts, nonce, encrypt) != (root.findtext("MsgSignature") or ""):
                raise ValueError("reply signature does not verify")
            root = SafeET.fromstring(self.decrypt(encrypt))
        return {child.tag: child.text or "" for child in root}
