"""The card's rotating QR code: a short-lived token, signed with HMAC-SHA256 under ``card.code_keys``.

A token names the card id and version and expires ``card.code_ttl_seconds`` after it is made; it stops verifying at
once when the card's status changes (the version moves on), and verifies only once (``services/cards/scanners.py``
claims it). The first configured key signs, every configured key verifies, so keys can be rotated. Owns the token
format and its signature; what a verified token means is decided at verification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, KeyUnavailable, NotFound
from core.settings import CardSettings
from models import utcnow
from models.card import CARD_EXPIRED
from services.cards.lifecycle import active_card, person_id_for

_PAYLOAD = struct.Struct(">QIQ8s")  # card id, card version, expiry (unix seconds), nonce
_MAC_BYTES = 16
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True)
class CardCode:
    token: str
    expires_at: datetime
    png: bytes


@dataclass(frozen=True)
class SignedToken:
    """What a token says, once its signature checked out."""

    card_id: int
    version: int
    expires: int  # unix seconds
    nonce: bytes


def _keys(settings: CardSettings) -> list[tuple[str, bytes]]:
    if not settings.code_keys:
        raise KeyUnavailable("card.code_keys is not configured")
    keys = []
    for entry in settings.code_keys.split(","):
        kid, _, encoded = entry.strip().partition(":")
        keys.append((kid, base64.b64decode(encoded)))
    return keys


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, kid: str, payload: bytes) -> bytes:
    return hmac.new(key, kid.encode() + b"." + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def sign_token(settings: CardSettings, card_id: int, version: int, expires: int, nonce: bytes) -> str:
    kid, key = _keys(settings)[0]
    payload = _PAYLOAD.pack(card_id, version, expires, nonce)
    return f"{kid}.{_b64(payload + _mac(key, kid, payload))}"


def make_code(session: Session, settings: CardSettings, person_id: int, *, now: datetime | None = None) -> CardCode:
    """A fresh signed token for the person's active card, and its QR code as a PNG."""
    card = active_card(session, person_id)
    if card is None:
        raise NotFound("no active card", user_message=texts.CARD_NOT_ISSUED)
    now = now or utcnow()
    if card.expires_at is not None and card.expires_at <= now:  # the expiry job has not reached it yet
        raise Conflict(
            "the card has expired",
            user_message=texts.CARD_NOT_ACTIVE.format(status=texts.CARD_STATUS_NAMES[CARD_EXPIRED]),
        )
    expires_at = now + timedelta(seconds=settings.code_ttl_seconds)
    token = sign_token(settings, card.id, card.version, int(expires_at.timestamp()), secrets.token_bytes(8))
    buffer = io.BytesIO()
    segno.make(token, error="m", micro=False).save(buffer, kind="png", scale=6, border=2)
    return CardCode(token, expires_at, buffer.getvalue())


def code_for_user(session: Session, settings: CardSettings, *, mp_openid: str, unionid: str | None) -> CardCode:
    """A fresh code for the mini-program user's active card. ``NotFound`` if they hold none."""
    person_id = person_id_for(session, mp_openid=mp_openid, unionid=unionid)
    if person_id is None:
        raise NotFound("no card", user_message=texts.CARD_NOT_ISSUED)
    return make_code(session, settings, person_id)


def read_token(settings: CardSettings, token: str) -> SignedToken | None:
    """The token's content if its signature is good under any configured key; None otherwise."""
    kid, sep, body = token.partition(".")
    key = dict(_keys(settings)).get(kid)
    if not sep or key is None or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        raw = _unb64(body)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _PAYLOAD.size + _MAC_BYTES:
        return None
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not hmac.compare_digest(mac, _mac(key, kid, payload)):
        return None
    card_id, version, expires, nonce = _PAYLOAD.unpack(payload)
    return SignedToken(card_id, version, expires, nonce)
