"""The official-account push protocol: check, decrypt and parse what WeChat sends; sign and encrypt what we answer.

Owns every rule of WeChat's push protocol (its doc pages are linked below) that can be checked without state:
signatures (compared in constant time), the timestamp window, the body cap, safe/compatible/plaintext modes, the
AppId inside the ciphertext, the previous AES key during rollover, and XML with DTDs and entities forbidden.
It raises the ``PushRejected`` family and stores nothing. Dedupe, locks and routing live elsewhere in ``bot/``.

Docs: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html (signature),
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto
from wechatpy.crypto.base import WeChatCipher
from wechatpy.messages import BaseMessage

from core.errors import AppIdMismatch, BodyTooLarge, ForgedPush, MalformedPush, PlaintextRefused, StalePush
from core.settings import WeChatSettings


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - SHA-1 is WeChat's protocol


def _same(expected: str, given: str | None) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").encode())


def parse_xml(data: bytes | str) -> Element:
    """Parse untrusted XML: any DTD, entity declaration or external reference is refused, never expanded."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden as exc:
        raise MalformedPush("DTDs are not accepted") from exc
    except defusedxml.EntitiesForbidden as exc:
        raise MalformedPush("XML entities are not accepted") from exc
    except defusedxml.ExternalReferenceForbidden as exc:
        raise MalformedPush("external references are not accepted") from exc
    except (ParseError, ValueError) as exc:
        raise MalformedPush(f"not well-formed XML: {exc}") from exc


@dataclass(frozen=True)
class Push:
    """A push that passed every check: the parsed message, and how to answer it."""

    message: BaseMessage
    xml: str
    encrypted: bool
    aes_key: str | None  # the key that opened it: the reply is sealed with the same one

    @property
    def openid(self) -> str:
        return str(self.message.source)

    @property
    def msg_type(self) -> str:
        """MsgType as sent (lower case), even for kinds wechatpy does not know (it calls those "unknown")."""
        return str(self.message._data.get("MsgType") or "").lower()

    @property
    def event(self) -> str:
        """The event name for an event push, '' otherwise: wechatpy's lower-case name for the events it knows (a
        follow through a QR code is ``subscribe_scan``), the raw ``Event`` lower-cased for the ones it does not."""
        if self.msg_type != "event":
            return ""
        return str(getattr(self.message, "event", "") or self.message._data.get("Event") or "").lower()

    @property
    def dedupe_key(self) -> str:
        """WeChat's identity of a push: MsgId for messages; sender, time, event and key for events."""
        msg_id = getattr(self.message, "id", None)
        if self.msg_type != "event" and msg_id:
            return f"msg:{msg_id}"
        key = self.message._data.get("EventKey") or ""
        return f"evt:{self.openid}:{self.message.time}:{self.event or self.msg_type}:{key}"[:200]


class PushCodec:
    """Opens pushes and seals replies for one official account."""

    def __init__(self, wechat: WeChatSettings, max_body_bytes: int) -> None:
        self.token = wechat.token
        self.appid = wechat.appid
        self.mode = wechat.message_mode
        self.max_skew = wechat.max_clock_skew_seconds
        self.max_body_bytes = max_body_bytes
        self.aes_keys = tuple(k for k in (wechat.aes_key, wechat.previous_aes_key) if k)
        # Built once per key: a cipher object is reusable (each call makes its own encryptor or decryptor).
        self._ciphers = {k: WeChatCipher(base64.b64decode(k + "=")) for k in self.aes_keys}
        self._sealers = {k: PrpCrypto(base64.b64decode(k + "=")) for k in self.aes_keys}

    # --- inbound --------------------------------------------------------------------------------------------

    def check_signature(self, query: Mapping[str, str], now: float | None = None) -> None:
        """The plain signature and the timestamp window, which every request carries in every mode."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not _same(signature(self.token, timestamp, nonce), query.get("signature")):
            raise ForgedPush("signature does not verify")
        if self.max_skew:
            try:
                sent = int(timestamp)
            except ValueError:
                raise StalePush("timestamp is not a number") from None
            if abs((time.time() if now is None else now) - sent) > self.max_skew:
                raise StalePush("timestamp outside the allowed window")

    def verify_url(self, query: Mapping[str, str]) -> str:
        """WeChat's URL check: echo ``echostr`` only when the signature is valid."""
        self.check_signature(query)
        return query.get("echostr", "")

    def open(self, query: Mapping[str, str], body: bytes, now: float | None = None) -> Push:
        if len(body) > self.max_body_bytes:
            raise BodyTooLarge(f"body is over {self.max_body_bytes} bytes")
        self.check_signature(query, now)
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if not encrypted and self.mode == "safe":
            raise PlaintextRefused("safe mode accepts encrypted pushes only")
        root = parse_xml(body)
        key: str | None = None
        if encrypted:
            ciphertext = root.findtext("Encrypt")
            if not ciphertext:
                raise MalformedPush("encrypted push without <Encrypt>")
            msg_sig = signature(self.token, query.get("timestamp", ""), query.get("nonce", ""), ciphertext)
            if not _same(msg_sig, query.get("msg_signature")):
                raise ForgedPush("msg_signature does not verify")
            xml, key = self._decrypt(ciphertext)
            parse_xml(xml)  # the inner document gets the same DTD and entity rules
        else:
            try:
                xml = body.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedPush("push is not UTF-8") from None
        try:
            # wechatpy maps the XML to typed messages; the document is already known to be free of DTDs/entities.
            message = parse_message(xml)
            valid = bool(message.source) and int(message.time) > 0 and int(message.id or 0) >= 0
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise MalformedPush("push lacks a valid MsgType, FromUserName, CreateTime or MsgId") from exc
        if not valid:
            raise MalformedPush("push lacks FromUserName or CreateTime")
        return Push(message=message, xml=xml, encrypted=encrypted, aes_key=key)

    def _decrypt(self, ciphertext: str) -> tuple[str, str]:
        """Try the current key, then the previous one; tell a wrong AppId apart from a wrong key."""
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedPush("<Encrypt> is not base64") from None
        if not raw or len(raw) % 16:
            raise ForgedPush("ciphertext has the wrong length")
        for aes_key in self.aes_keys:
            opened = _open_ciphertext(self._ciphers[aes_key], raw)
            if opened is None:
                continue
            xml, appid = opened
            if not hmac.compare_digest(appid.encode(), self.appid.encode()):
                raise AppIdMismatch("AppId inside the ciphertext is not ours")
            return xml, aes_key
        raise ForgedPush("ciphertext does not decrypt with the current or previous key")

    # --- outbound -------------------------------------------------------------------------------------------

    def seal(self, reply_xml: str, push: Push) -> bytes:
        """Answer in the form the push came in: encrypted and signed for an encrypted push, plain otherwise."""
        if not push.encrypted or push.aes_key is None:
            return reply_xml.encode()
        encrypted = self._sealers[push.aes_key].encrypt(reply_xml, self.appid).decode()
        nonce = str(secrets.randbelow(10**10))
        timestamp = str(int(time.time()))
        msg_sig = signature(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{msg_sig}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        ).encode()


def _open_ciphertext(cipher: WeChatCipher, raw: bytes) -> tuple[str, str] | None:
    """Decrypt and unframe ``random(16) | len(4, big-endian) | xml | appid``; None if this key does not fit.

    wechatpy's own unframing trusts the padding byte and the length field, so a wrong key surfaces as an arbitrary
    exception; we validate both before trusting anything.
    """
    plain = cipher.decrypt(raw)
    pad = plain[-1]
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        return None
    content = plain[16:-pad]
    if len(content) < 4:
        return None
    (length,) = struct.unpack(">I", content[:4])
    if length > len(content) - 4:
        return None
    try:
        return content[4 : 4 + length].decode("utf-8"), content[4 + length :].decode("utf-8")
    except UnicodeDecodeError:
        return None
