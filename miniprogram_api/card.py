"""``/card``: the caller's card and a fresh signed QR code for it (``services/cards``)."""

from __future__ import annotations

import base64

from flask import Blueprint

from core import texts
from miniprogram_api import schemas as s
from miniprogram_api.auth import current_user
from miniprogram_api.context import runtime
from miniprogram_api.spec import API
from services import cards

bp = Blueprint("card", __name__)


@API.route(bp, "GET", "/card", summary="The caller's card", response=s.CardView, auth="session",
           errors=(404,))  # fmt: skip
def card() -> s.CardView:
    user = current_user()
    with runtime().db.session() as session:
        found = cards.card_of_user(session, mp_openid=user.openid, unionid=user.unionid)
        held = found.card
        return s.CardView(
            number=held.number,
            tier=held.tier,
            tier_name=texts.CARD_TIER_NAMES.get(held.tier, held.tier),
            status=held.status,
            status_name=texts.CARD_STATUS_NAMES.get(held.status, held.status),
            holder_name=found.holder_name,
            issued_at=held.issued_at,
            expires_at=held.expires_at,
        )


@API.route(bp, "GET", "/card/code", summary="A fresh signed QR token for the card (valid 60 s, once)",
           response=s.CardCodeView, auth="session", errors=(404,))  # fmt: skip
def card_code() -> s.CardCodeView:
    user = current_user()
    rt = runtime()
    with rt.db.session() as session:
        code = cards.code_for_user(session, rt.settings.card, mp_openid=user.openid, unionid=user.unionid)
    return s.CardCodeView(
        token=code.token, expires_at=code.expires_at, qr_png_base64=base64.b64encode(code.png).decode()
    )
