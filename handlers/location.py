"""Location: a shared location (message) is kept for branch routing and answered with the association for that place
(``handlers/associations.py``: the associations found, their contacts and a join choice); the periodic location
report (event) is only kept."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

from bot.context import Context
from bot.filters import event, msg_type
from bot.replies import Reply
from bot.router import Router
from core.errors import ValidationFailed
from handlers import associations
from services import followers

router = Router("location")


@router.on(msg_type("location"))
def shared_location(ctx: Context) -> Reply:
    lat, lng = (float(v) for v in ctx.message.location)
    try:
        followers.record_location(ctx.session, ctx.openid, lat, lng, datetime.fromtimestamp(int(ctx.message.time), UTC))
    except ValidationFailed as exc:
        return Reply(exc.user_message)
    return associations.offer_at(ctx, lat, lng)


@router.on(event("location"))
def reported_location(ctx: Context) -> None:
    at = datetime.fromtimestamp(int(ctx.message.time), UTC)
    with suppress(ValidationFailed):  # a bogus periodic report is dropped; the user did not ask for anything
        followers.record_location(ctx.session, ctx.openid, ctx.message.latitude, ctx.message.longitude, at)
    # periodic reports are silent
